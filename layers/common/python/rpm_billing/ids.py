"""Opaque identifiers: ULIDs (time-ordered, 26 Crockford base32 characters) and derived ids.

Nothing that identifies a person ever goes into an id; ids derived from inputs are one-way hashes.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Pattern every client-supplied id (patients, deployments, readings, ...) must match.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
ID_RE = re.compile(ID_PATTERN)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_ulid(timestamp_ms: int | None = None) -> str:
    """Return a new ULID string.

    Args:
        timestamp_ms: Milliseconds since the epoch for the time part; defaults to now.
    """
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return _encode(ts, 10) + _encode(int.from_bytes(os.urandom(10), "big"), 16)


def derived_id(*parts: str, length: int = 26) -> str:
    """Return a deterministic opaque id (base32 of SHA-256) from ``parts``.

    Used where a retry must land on the same item, e.g. an entry id derived from the verified user and
    the ``Idempotency-Key``.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return _encode(int.from_bytes(digest, "big"), 52)[:length]


def body_fingerprint(body: bytes | str) -> str:
    """Return the hex SHA-256 of a request body, stored beside an idempotent write to detect key reuse."""
    data = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()
