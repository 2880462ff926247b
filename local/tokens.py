"""Development tokens: the local stand-in for Cognito ID tokens. DEVELOPMENT ONLY, never deployed.

A token is ``base64url(header).base64url(claims).base64url(HMAC-SHA256(header.claims))``, signed with a random
key generated once into ``.local-state/dev-token.key`` (gitignored; ``RPM_LOCAL_STATE`` moves the directory).
It carries the claims API Gateway's Cognito authorizer would pass: ``sub``, ``cognito:groups``,
``custom:org_id``, ``custom:deployment_ids``, optionally ``custom:clinical_role``, and ``exp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from rpm_billing.auth import (
    CLAIM_CLINICAL_ROLE,
    CLAIM_DEPLOYMENTS,
    CLAIM_GROUPS,
    CLAIM_ORG,
    CLAIM_SUB,
    ClinicalRole,
    Role,
)

ROOT = Path(__file__).resolve().parents[1]
KEY_FILE = "dev-token.key"
#: Default lifetime of a development token.
DEFAULT_TTL_SECONDS = 12 * 3600
_HEADER = {"alg": "HS256", "typ": "JWT", "kid": "local-dev"}


class InvalidToken(Exception):
    """The token is malformed, forged or expired (the reason is for logs, never for the caller)."""


def state_dir() -> Path:
    """The directory holding local-only state (the signing key)."""
    return Path(os.environ.get("RPM_LOCAL_STATE") or ROOT / ".local-state")


def signing_key() -> bytes:
    """The local signing key, generated on first use (owner-only permissions)."""
    path = state_dir() / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(
    role: str | list[str],
    org_id: str,
    deployments: str | list[str] = "",
    user_id: str = "dev-user",
    clinical_role: str | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    key: bytes | None = None,
) -> str:
    """Sign a development token.

    Args:
        role: One role or several (Cognito group names, e.g. ``Admin``).
        org_id: The organisation the user belongs to.
        deployments: The deployment(s) the user acts in.
        user_id: The ``sub`` claim.
        clinical_role: Optional ``custom:clinical_role`` (e.g. ``physician``).
        ttl_seconds: Lifetime; the token carries ``exp``.
        key: Signing key; defaults to the local key.

    Raises:
        ValueError: An unknown role or clinical role.
    """
    roles = [role] if isinstance(role, str) else list(role)
    known = {r.value for r in Role}
    for name in roles:
        if name not in known:
            raise ValueError(f"unknown role {name!r}; one of {', '.join(sorted(known))}")
    if clinical_role is not None and clinical_role not in {c.value for c in ClinicalRole}:
        raise ValueError(f"unknown clinical role {clinical_role!r}")
    deps = deployments if isinstance(deployments, str) else ",".join(deployments)
    now = int(time.time())
    claims: dict[str, Any] = {
        CLAIM_SUB: user_id,
        CLAIM_GROUPS: ",".join(roles),
        CLAIM_ORG: org_id,
        CLAIM_DEPLOYMENTS: deps,
        "iat": now,
        "exp": now + ttl_seconds,
        "token_use": "id",
        "iss": "local-dev",
    }
    if clinical_role:
        claims[CLAIM_CLINICAL_ROLE] = clinical_role
    signing_input = (
        _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(key or signing_key(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def verify(token: str, key: bytes | None = None, now: float | None = None) -> dict[str, str]:
    """Check a token's signature and expiry; return the authorizer claims (strings, as API Gateway passes them).

    Raises:
        InvalidToken: Malformed, wrong signature, wrong algorithm, or expired.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed")
    signing_input = f"{parts[0]}.{parts[1]}"
    expected = hmac.new(key or signing_key(), signing_input.encode(), hashlib.sha256).digest()
    try:
        signature = _unb64(parts[2])
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed") from exc
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise InvalidToken("bad header")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= (time.time() if now is None else now):
        raise InvalidToken("expired")
    return {str(k): str(v) for k, v in claims.items()}


def bearer_claims(authorization: str | None, key: bytes | None = None) -> dict[str, str] | None:
    """The verified claims of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return verify(token.strip(), key)
    except InvalidToken:
        return None
