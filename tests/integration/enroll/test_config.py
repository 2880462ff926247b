"""Deployment billing configuration: PUT/GET and the CSV list uploads."""

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from rpm_billing.db import keys

from .conftest import CONFIG, DEP, ORG, admin

CONFIG_PATH = f"/v1/deployments/{DEP}/billing-config"
Api = Callable[..., Any]


def test_put_config_then_get_returns_it(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = api("GET", CONFIG_PATH)
    # Then
    assert status == 200
    assert body["program"] == "RPM"
    assert body["icd10_codes"][1] == {"code": "E11.9", "description": ""}
    assert body["version"] == 1


def test_put_config_twice_increments_version(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = api("PUT", CONFIG_PATH, body={**CONFIG, "offline_appointments": False})
    # Then
    assert status == 200
    assert body["version"] == 2
    assert body["offline_appointments"] is False


def test_put_config_registers_deployment_for_monthly_run(api: Api) -> None:
    # Given / When
    api("PUT", CONFIG_PATH, body=CONFIG)
    # Then
    item = boto3.client("dynamodb").get_item(
        TableName="rpm-billing-test", Key=keys.key(keys.ALL_DEPLOYMENTS_PK, keys.deployment_registry_sk(ORG, DEP))
    )
    assert item["Item"]["deployment_id"]["S"] == DEP


def test_get_config_missing_is_404(api: Api) -> None:
    # Given: nothing configured
    # When
    status, _, body = api("GET", CONFIG_PATH)
    # Then
    assert status == 404
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "body.time_zone"),
        ({"time_zone": "../etc/passwd"}, "body.time_zone"),
        ({"program": "CCM"}, "body.program"),
        ({"program": "RTM"}, "body.rtm_category"),
        ({"rtm_category": "cbt"}, "body.rtm_category"),
        ({"billing_providers": [{"name": "Dr X", "npi": "1234567890"}]}, "body.billing_providers.0.npi"),
        ({"icd10_codes": [{"code": "10I"}]}, "body.icd10_codes.0.code"),
        ({"policy": {"x": {"nested": 1}}}, "body.policy.x"),
        ({"surprise": 1}, "body.surprise"),
    ],
)
def test_put_config_invalid_names_field(api: Api, change: dict[str, Any], field: str) -> None:
    # Given
    body = {**CONFIG, **change}
    # When
    status, _, answer = api("PUT", CONFIG_PATH, body=body)
    # Then
    assert status == 422
    assert any(f["path"].startswith(field) for f in answer["error"]["fields"]), answer


def test_put_config_rtm_with_category(api: Api) -> None:
    # Given
    body = {**CONFIG, "program": "RTM", "rtm_category": "musculoskeletal"}
    # When
    status, _, answer = api("PUT", CONFIG_PATH, body=body)
    # Then
    assert status == 200
    assert answer["rtm_category"] == "musculoskeletal"


def _csv(api: Api, name: str, text: str | bytes, content_type: str = "text/csv") -> Any:
    return api("PUT", f"{CONFIG_PATH}/{name}", body=text, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    ("name", "text", "attribute", "expected"),
    [
        (
            "insurance-carriers",
            "name\nMedicare\nBlue Cross\n",
            "insurance_carriers",
            [{"name": "Medicare"}, {"name": "Blue Cross"}],
        ),
        (
            "billing-providers",
            "name,npi\nDr B,1234567893\n",
            "billing_providers",
            [{"name": "Dr B", "npi": "1234567893"}],
        ),
        ("icd10-codes", "code,description\nj44.9,COPD\n", "icd10_codes", [{"code": "J44.9", "description": "COPD"}]),
    ],
)
def test_put_list_replaces_list(api: Api, name: str, text: str, attribute: str, expected: list[Any]) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = _csv(api, name, text)
    # Then
    assert status == 200
    assert body[attribute] == expected
    assert body["version"] == 2
    assert api("GET", CONFIG_PATH)[2][attribute] == expected


def test_put_list_bad_row_names_its_line(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = _csv(api, "billing-providers", "name,npi\nDr A,1234567893\nDr B,123\nDr C,1234567893\n")
    # Then
    assert status == 422
    assert [f["path"] for f in body["error"]["fields"]] == ["line 3.npi"]


def test_put_list_bad_header_is_line_1(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = _csv(api, "icd10-codes", "diagnosis\nI10\n")
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "line 1"


def test_put_list_wrong_media_type_is_415(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = _csv(api, "insurance-carriers", "name\nMedicare\n", content_type="application/json")
    # Then
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"


def test_put_list_non_utf8_is_422(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, body = _csv(api, "insurance-carriers", b"name\n\xff\xfe\n")
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body"


def test_put_list_unknown_list_is_404(api: Api) -> None:
    # Given
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When
    status, _, _ = _csv(api, "pharmacies", "name\nX\n")
    # Then
    assert status == 404


def test_put_list_without_config_is_404(api: Api) -> None:
    # Given: nothing configured
    # When
    status, _, _ = _csv(api, "insurance-carriers", "name\nMedicare\n")
    # Then
    assert status == 404


def test_put_config_non_json_is_422(api: Api) -> None:
    # Given / When
    status, _, body = api("PUT", CONFIG_PATH, body="{not json", headers={"Content-Type": "application/json"})
    # Then
    assert 400 <= status < 500
    assert "error" in body


def test_put_config_non_utf8_is_4xx(api: Api) -> None:
    # Given / When
    status, _, body = api("PUT", CONFIG_PATH, body=b"\xff\xfe{}", headers={"Content-Type": "application/json"})
    # Then
    assert 400 <= status < 500
    assert "error" in body


def test_get_config_other_org_is_404(api: Api) -> None:
    # Given: org1 configured dep1
    api("PUT", CONFIG_PATH, body=CONFIG)
    # When: an admin of org2 reads dep1
    status, _, _ = api("GET", CONFIG_PATH, claims=admin("org2"))
    # Then
    assert status == 404
