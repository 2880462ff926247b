"""Roles, permissions and the verified principal.

Roles come only from the verified token (``cognito:groups``), tenant scope only from verified claims
(``custom:org_id``, ``custom:deployment_ids``), never from the request. Group names are matched exactly
against a closed set: ``SuperAdmin`` is not ``Admin``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

CLAIM_SUB = "sub"
CLAIM_GROUPS = "cognito:groups"
CLAIM_ORG = "custom:org_id"
CLAIM_DEPLOYMENTS = "custom:deployment_ids"
CLAIM_CLINICAL_ROLE = "custom:clinical_role"


class Role(StrEnum):
    ADMIN = "Admin"
    ACCESS_CONTROLLER = "AccessController"
    DEPLOYMENT_STAFF = "DeploymentStaff"
    CONTRIBUTOR = "Contributor"
    ORGANISATION_STAFF = "OrganisationStaff"


class ClinicalRole(StrEnum):
    """What kind of clinician the user is, for the rules on whose time counts (billing-rules R-E5, R-T3c)."""

    PHYSICIAN = "physician"
    NPP = "npp"
    QHP = "qhp"
    THERAPIST = "therapist"
    CLINICAL_STAFF = "clinical_staff"
    NON_CLINICAL = "non_clinical"


class Action(StrEnum):
    CONFIGURE = "configure"
    READ_CONFIG = "read_config"
    ENROLL = "enroll"
    TRACK = "track"
    READ = "read"
    EVALUATE = "evaluate"
    EXPORT = "export"


_ALL = frozenset(Role)
#: The authorisation matrix (architecture §5). Extend, never loosen.
PERMISSIONS: Mapping[Action, frozenset[Role]] = {
    Action.CONFIGURE: frozenset({Role.ADMIN}),
    Action.READ_CONFIG: frozenset({Role.ADMIN, Role.ACCESS_CONTROLLER, Role.DEPLOYMENT_STAFF, Role.ORGANISATION_STAFF}),
    Action.ENROLL: frozenset({Role.ADMIN, Role.ACCESS_CONTROLLER, Role.DEPLOYMENT_STAFF, Role.ORGANISATION_STAFF}),
    Action.TRACK: _ALL,
    Action.READ: _ALL,
    Action.EVALUATE: frozenset({Role.ADMIN, Role.DEPLOYMENT_STAFF, Role.ORGANISATION_STAFF}),
    Action.EXPORT: frozenset({Role.ADMIN, Role.ACCESS_CONTROLLER, Role.DEPLOYMENT_STAFF, Role.ORGANISATION_STAFF}),
}

#: Roles whose scope is the whole organisation; every other role acts only in its listed deployments.
ORG_WIDE_ROLES = frozenset({Role.ADMIN, Role.ORGANISATION_STAFF})


def _split_tokens(raw: str) -> list[str]:
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return [str(item) for item in decoded]
        return inner.replace(",", " ").split()
    return text.replace(",", " ").split()


def parse_groups(raw: Any) -> frozenset[Role]:
    """Parse ``cognito:groups`` in every form API Gateway produces into known roles.

    Accepts a list, ``"a,b"`` (REST Cognito authorizer), ``"[a b]"`` (HTTP API JWT authorizer), a JSON
    list string, or one value. Unknown names are dropped; matching is exact and case-sensitive.
    """
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        tokens = _split_tokens(raw)
    elif isinstance(raw, Iterable):
        tokens = [str(item).strip() for item in raw]
    else:
        return frozenset()
    known = {role.value: role for role in Role}
    return frozenset(known[token] for token in tokens if token in known)


def _parse_list(raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        return frozenset(token for token in _split_tokens(raw) if token)
    if isinstance(raw, Iterable):
        return frozenset(str(item).strip() for item in raw if str(item).strip())
    return frozenset()


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    user_id: str
    org_id: str
    roles: frozenset[Role]
    deployment_ids: frozenset[str] = field(default_factory=frozenset)
    clinical_role: ClinicalRole = ClinicalRole.CLINICAL_STAFF

    @property
    def primary_role(self) -> str:
        """The most privileged role, for audit records."""
        for role in Role:
            if role in self.roles:
                return role.value
        return "none"

    def may(self, action: Action) -> bool:
        """Whether any of the caller's roles is allowed ``action``."""
        return bool(self.roles & PERMISSIONS[action])

    def may_in(self, action: Action, deployment_id: str) -> bool:
        """Whether the caller may do ``action`` on an object of ``deployment_id`` (in the caller's org).

        Organisation-wide roles reach every deployment of their organisation; other roles reach their
        listed deployments only, and only through a role that grants the action.
        """
        granting = self.roles & PERMISSIONS[action]
        if granting & ORG_WIDE_ROLES:
            return True
        return bool(granting) and deployment_id in self.deployment_ids

    def sees_deployment(self, deployment_id: str) -> bool:
        """Whether the deployment is in the caller's scope at all (for 404 vs 200)."""
        return bool(self.roles & ORG_WIDE_ROLES) or deployment_id in self.deployment_ids


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal | None:
    """Build the principal from verified authorizer claims; ``None`` if the identity is incomplete."""
    if not claims:
        return None
    user_id = str(claims.get(CLAIM_SUB) or "").strip()
    org_id = str(claims.get(CLAIM_ORG) or "").strip()
    if not user_id or not org_id:
        return None
    raw_clinical = str(claims.get(CLAIM_CLINICAL_ROLE) or ClinicalRole.CLINICAL_STAFF.value).strip()
    try:
        clinical = ClinicalRole(raw_clinical)
    except ValueError:
        clinical = ClinicalRole.NON_CLINICAL
    return Principal(
        user_id=user_id,
        org_id=org_id,
        roles=parse_groups(claims.get(CLAIM_GROUPS)),
        deployment_ids=_parse_list(claims.get(CLAIM_DEPLOYMENTS)),
        clinical_role=clinical,
    )


def principal_from_event(event: Mapping[str, Any]) -> Principal | None:
    """Read the principal from an API Gateway REST proxy event (``requestContext.authorizer.claims``)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    claims = authorizer.get("claims")
    if isinstance(claims, str):
        try:
            claims = json.loads(claims)
        except ValueError:
            return None
    return principal_from_claims(claims if isinstance(claims, Mapping) else None)
