"""The HTTP wrapper: authentication, authorisation before validation, scope, error shape, headers."""

from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from local.events import claims_for, rest_event
from rpm_billing.api import ApiApp, current_principal
from rpm_billing.auth import Action
from rpm_billing.errors import Conflict


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)


def build_app() -> ApiApp:
    app = ApiApp("test")

    @app.post("/v1/deployments/<deployment_id>/things", allow=Action.CONFIGURE)
    def create(deployment_id: str, thing: Annotated[Thing, Body()]) -> dict[str, Any]:
        return {"deployment_id": deployment_id, "by": current_principal().user_id}

    @app.get("/v1/things/<thing_id>", allow=Action.READ)
    def read(thing_id: str) -> dict[str, Any]:
        raise Conflict("thing is busy")

    return app


@pytest.fixture
def app() -> ApiApp:
    return build_app()


def call(app: ApiApp, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
    response = app.handle(rest_event(method, path, **kwargs), None)
    return response["statusCode"], response["headers"], response["body"]


def test_handle_without_claims_is_401(app: ApiApp) -> None:
    # Given: no authorizer claims
    # When
    status, _, body = call(app, "GET", "/v1/things/t1")
    # Then
    assert status == 401
    assert '"unauthorized"' in body


def test_handle_refuses_role_before_validating_body(app: ApiApp) -> None:
    # Given: a Contributor (may not configure) sending an invalid body
    claims = claims_for("Contributor", "org1", "dep1")
    # When
    status, _, body = call(app, "POST", "/v1/deployments/dep1/things", body={"bad": 1}, claims=claims)
    # Then: 403, not 422
    assert status == 403
    assert '"forbidden"' in body


def test_handle_validation_error_names_field_without_value(app: ApiApp) -> None:
    # Given: an Admin sending an extra field holding a canary
    claims = claims_for("Admin", "org1")
    # When
    status, headers, body = call(
        app, "POST", "/v1/deployments/dep1/things", body={"name": "ok", "ZQXCANARY": "ZQXCANARY"}, claims=claims
    )
    # Then
    assert status == 422
    assert "body.ZQXCANARY" in body or "ZQXCANARY" not in body.replace("body.ZQXCANARY", "")
    assert headers["Cache-Control"] == "no-store"


def test_handle_deployment_outside_scope_is_404(app: ApiApp) -> None:
    # Given: an AccessController of dep1 only... who may not configure; use Admin-less staff in dep1
    claims = claims_for(["Admin"], "org1")
    staff = claims_for("DeploymentStaff", "org1", "dep1")
    # When
    ok_status, _, ok_body = call(app, "POST", "/v1/deployments/dep2/things", body={"name": "x"}, claims=claims)
    status, _, _ = call(app, "GET", "/v1/things/t1", claims=staff)
    # Then
    assert ok_status == 200
    assert '"dep2"' in ok_body
    assert status == 409


def test_handle_non_utf8_body_is_4xx(app: ApiApp) -> None:
    # Given
    claims = claims_for("Admin", "org1")
    # When
    status, _, body = call(
        app,
        "POST",
        "/v1/deployments/dep1/things",
        body=b"\xff\xfe{",
        headers={"Content-Type": "application/json"},
        claims=claims,
    )
    # Then
    assert 400 <= status < 500
    assert '"error"' in body


def test_handle_unknown_route_is_404(app: ApiApp) -> None:
    status, _, body = call(app, "GET", "/v1/nothing", claims=claims_for("Admin", "org1"))
    assert status == 404
    assert '"not_found"' in body


def test_openapi_documents_error_shape(app: ApiApp) -> None:
    schema = app.openapi_schema()
    op = schema["paths"]["/v1/deployments/{deployment_id}/things"]["post"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert "HTTPValidationError" not in schema["components"]["schemas"]


@pytest.mark.parametrize(
    ("method", "path", "role", "expected"),
    [
        ("POST", "/v1/deployments/dep1/things", "Contributor", 403),
        ("POST", "/v1/deployments/dep9/things", "DeploymentStaff", 403),
        ("GET", "/v1/things/t1", "Contributor", 409),
    ],
)
def test_handle_leaves_no_caller_keys_on_the_logger(
    app: ApiApp, method: str, path: str, role: str, expected: int
) -> None:
    # Given: a request refused early, or answered by the route
    from rpm_billing.observability import logger

    claims = claims_for(role, "org1", "dep1", user_id="caller-1")
    # When
    status, _, _ = call(app, method, path, body={"name": "x"}, claims=claims)
    # Then: the caller's keys are gone before the next request logs anything
    keys = logger.get_current_keys()
    assert status == expected
    assert not {"user_id", "org_id", "route"} & set(keys)
