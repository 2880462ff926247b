"""The REST API: every method behind the Cognito authorizer, exactly the declared routes, preflights without backend."""

from __future__ import annotations

from typing import Any

import pytest

from infra.constructs.api import load_routes

pytestmark = pytest.mark.infra


def _paths(synth: Any) -> dict[str, str]:
    """The path of each API resource, keyed by how a method or child names it (``Ref`` id or root)."""
    resources = synth.of_type("AWS::ApiGateway::Resource")
    paths: dict[str, str] = {"root": ""}

    def path_of(parent: dict[str, Any]) -> str:
        if "Fn::GetAtt" in parent:
            return paths["root"]
        lid = parent["Ref"]
        if lid not in paths:
            props = resources[lid]["Properties"]
            paths[lid] = f"{path_of(props['ParentId'])}/{props['PathPart']}"
        return paths[lid]

    for lid in resources:
        path_of({"Ref": lid})
    return paths


def _methods(synth: Any) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _paths(synth)
    return {
        (
            r["Properties"]["HttpMethod"],
            (
                paths["root"]
                if "Fn::GetAtt" in r["Properties"]["ResourceId"]
                else paths[r["Properties"]["ResourceId"]["Ref"]]
            )
            or "/",
        ): r["Properties"]
        for r in synth.of_type("AWS::ApiGateway::Method").values()
    }


def test_api_methods_all_use_the_cognito_authorizer_except_preflights(synth: Any) -> None:
    # Given the Cognito authorizer of the user pool
    ((authorizer_lid, authorizer),) = synth.of_type("AWS::ApiGateway::Authorizer").items()
    user_pool_arn = synth.resolve(synth.stack.api.user_pool.user_pool_arn)

    # When the non-OPTIONS methods of the API are read
    methods = {key: m for key, m in _methods(synth).items() if key[0] != "OPTIONS"}
    unprotected = sorted(
        key
        for key, m in methods.items()
        if (m.get("AuthorizationType"), m.get("AuthorizerId")) != ("COGNITO_USER_POOLS", {"Ref": authorizer_lid})
    )

    # Then each one goes through that authorizer
    assert (authorizer["Properties"]["Type"], authorizer["Properties"]["ProviderARNs"]) == (
        "COGNITO_USER_POOLS",
        [user_pool_arn],
    )
    assert methods
    assert unprotected == []


def test_api_preflight_methods_have_no_backend(synth: Any) -> None:
    # Given the CORS preflight (OPTIONS) methods, the only ones without an authorizer
    preflights = [m for (verb, _), m in _methods(synth).items() if verb == "OPTIONS"]

    # When their integrations are read
    integrations = {m["Integration"]["Type"] for m in preflights}

    # Then they are answered by API Gateway itself and never reach a function
    assert preflights
    assert integrations == {"MOCK"}


def test_api_serves_exactly_the_routes_the_functions_declare(synth: Any) -> None:
    # Given the routes the API functions declare
    routes, broken = load_routes(strict=True)
    declared = {(r.method, r.template) for r in routes}

    # When the API's non-OPTIONS methods are listed
    served = {key for key in _methods(synth) if key[0] != "OPTIONS"}

    # Then the API serves those routes and no others
    assert broken == {}
    assert served == declared


def test_api_methods_validate_requests(synth: Any) -> None:
    # Given the API's request validator
    ((validator_lid, validator),) = synth.of_type("AWS::ApiGateway::RequestValidator").items()

    # When the validator of each non-OPTIONS method is read
    validators = {key: m.get("RequestValidatorId") for key, m in _methods(synth).items() if key[0] != "OPTIONS"}

    # Then every method validates its body and parameters
    assert (validator["Properties"]["ValidateRequestBody"], validator["Properties"]["ValidateRequestParameters"]) == (
        True,
        True,
    )
    assert validators == {key: {"Ref": validator_lid} for key in validators}
