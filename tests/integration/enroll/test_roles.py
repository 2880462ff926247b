"""The role matrix of every enrollment route (architecture §5): allowed roles pass, others get 403."""

from collections.abc import Callable
from typing import Any

import pytest

from local.events import claims_for

from .conftest import CONFIG, DEP, ENROLLMENT, ORG, PATIENT

Api = Callable[..., Any]
ROLES = ["Admin", "AccessController", "DeploymentStaff", "Contributor", "OrganisationStaff"]
CONFIGURE = {"Admin"}
READ_CONFIG = {"Admin", "AccessController", "DeploymentStaff", "OrganisationStaff"}
ENROLL = {"Admin", "AccessController", "DeploymentStaff", "OrganisationStaff"}
READ = set(ROLES)

CSV = {"Content-Type": "text/csv"}
ROUTES: list[tuple[str, str, str, dict[str, Any], set[str]]] = [
    ("put-config", "PUT", f"/v1/deployments/{DEP}/billing-config", {"body": CONFIG}, CONFIGURE),
    ("get-config", "GET", f"/v1/deployments/{DEP}/billing-config", {}, READ_CONFIG),
    (
        "put-list",
        "PUT",
        f"/v1/deployments/{DEP}/billing-config/insurance-carriers",
        {"body": "name\nMedicare\n", "headers": CSV},
        CONFIGURE,
    ),
    ("put-patient", "PUT", f"/v1/deployments/{DEP}/patients/p7", {"body": PATIENT}, ENROLL),
    ("list-patients", "GET", f"/v1/deployments/{DEP}/patients", {}, READ),
    ("enroll", "POST", "/v1/patients/p1/billing/enrollment", {"body": ENROLLMENT}, ENROLL),
    ("get-enrollment", "GET", "/v1/patients/p2/billing/enrollment", {}, READ),
    (
        "patch-enrollment",
        "PATCH",
        "/v1/patients/p2/billing/enrollment",
        {"body": {"established_patient": False}, "headers": {"If-Match": "1"}},
        ENROLL,
    ),
    ("end-enrollment", "DELETE", "/v1/patients/p2/billing/enrollment", {}, ENROLL),
    (
        "post-document",
        "POST",
        "/v1/patients/p1/billing/documents",
        {"body": {"content_type": "application/pdf", "size": 10}},
        ENROLL,
    ),
    ("list-documents", "GET", "/v1/patients/p1/billing/documents", {}, READ),
]


@pytest.fixture
def world(configured: Api) -> Api:
    """p1 registered, p2 enrolled."""
    configured("PUT", f"/v1/deployments/{DEP}/patients/p2", body=PATIENT)
    assert configured("POST", "/v1/patients/p2/billing/enrollment", body=ENROLLMENT)[0] == 201
    return configured


def _claims(role: str) -> dict[str, str]:
    return claims_for(role, ORG, DEP, user_id=f"u-{role}")


@pytest.mark.parametrize("role", ROLES)
def test_route_role_matrix_allowed(world: Api, role: str) -> None:
    # Given: a caller of ``role`` scoped to the deployment; routes run in an order where each can succeed
    allowed = [route for route in ROUTES if role in route[4]]
    # When
    outcomes = {name: world(method, path, claims=_claims(role), **kwargs) for name, method, path, kwargs, _ in allowed}
    # Then
    assert {name: out[0] for name, out in outcomes.items() if not 200 <= out[0] < 300} == {}
    assert len(allowed) >= 3


REFUSED = [(role, route) for route in ROUTES for role in ROLES if role not in route[4]]


@pytest.mark.parametrize(("role", "route"), REFUSED, ids=[f"{route[0]}-{role}" for role, route in REFUSED])
def test_route_role_matrix_refused(api: Api, role: str, route: tuple[str, str, str, dict[str, Any], set[str]]) -> None:
    # Given: a caller of ``role`` that the matrix does not allow on this route
    _, method, path, kwargs, _ = route
    # When
    status, _, body = api(method, path, claims=_claims(role), **kwargs)
    # Then
    assert status == 403
    assert body["error"]["code"] == "forbidden"


def test_route_forbidden_before_validation(world: Api) -> None:
    # Given: a Contributor sending garbage to an ENROLL route
    claims = claims_for("Contributor", ORG, DEP)
    # When
    status, _, _ = world("POST", "/v1/patients/p1/billing/enrollment", body="{nope", claims=claims)
    # Then
    assert status == 403


def test_route_without_token_is_401(world: Api) -> None:
    # Given / When
    status, _, _ = world("GET", "/v1/patients/p2/billing/enrollment", claims=None)
    # Then
    assert status == 401
