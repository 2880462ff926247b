"""Enrollment episodes: enroll, read, edit under If-Match, end, re-enroll; idempotency; tenancy; budgets."""

import threading
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import DEP, ENROLLMENT, PATIENT, admin, staff

Api = Callable[..., Any]
PATH = "/v1/patients/p1/billing/enrollment"


def test_enroll_is_201_with_version_and_etag(configured: Api) -> None:
    # Given: p1 registered
    # When
    status, headers, body = configured("POST", PATH, body=ENROLLMENT)
    # Then
    assert status == 201
    assert body["version"] == 1
    assert headers["ETag"] == '"1"'
    assert body["billing_provider"] == {"name": "Dr Provider", "npi": "1234567893"}
    assert body["status"] == "active"


def test_enroll_twice_is_409(enrolled: Api) -> None:
    # Given: p1 enrolled
    # When
    status, _, body = enrolled("POST", PATH, body=ENROLLMENT)
    # Then
    assert status == 409
    assert body["error"]["code"] == "conflict"


def test_enroll_unknown_patient_is_404(configured: Api) -> None:
    # Given / When
    status, _, _ = configured("POST", "/v1/patients/nobody/billing/enrollment", body=ENROLLMENT)
    # Then
    assert status == 404


def test_enroll_unconfigured_deployment_is_409(api: Api) -> None:
    # Given: a patient in a deployment without billing configuration
    api("PUT", f"/v1/deployments/{DEP}/patients/p1", body={**PATIENT, "time_zone": "UTC"})
    # When
    status, _, _ = api("POST", PATH, body=ENROLLMENT)
    # Then
    assert status == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"primary_diagnosis": "J44.9"}, "body.primary_diagnosis"),
        ({"primary_diagnosis": "nonsense"}, "body.primary_diagnosis"),
        ({"insurance_carriers": [{"name": "Unknown Mutual"}]}, "body.insurance_carriers.0.name"),
        ({"insurance_carriers": []}, "body.insurance_carriers"),
        ({"billing_provider": {"name": "Dr Nobody"}}, "body.billing_provider"),
        ({"billing_provider": {"name": "Dr Provider", "npi": "1234567890"}}, "body.billing_provider.npi"),
        ({"consent_date": "2026-03-11"}, "body.consent_date"),
        ({"monitoring_start": "not-a-date"}, "body.monitoring_start"),
        ({"extra": True}, "body.extra"),
    ],
)
def test_enroll_invalid_names_field(configured: Api, change: dict[str, Any], field: str) -> None:
    # Given
    body = {**ENROLLMENT, **change}
    # When
    status, _, answer = configured("POST", PATH, body=body)
    # Then
    assert status == 422
    assert [f["path"] for f in answer["error"]["fields"]] == [field], answer


def test_enroll_missing_field_is_422(configured: Api) -> None:
    # Given
    body = {k: v for k, v in ENROLLMENT.items() if k != "consent_date"}
    # When
    status, _, answer = configured("POST", PATH, body=body)
    # Then
    assert status == 422
    assert answer["error"]["fields"][0]["path"] == "body.consent_date"


def test_get_enrollment_returns_version_in_etag(enrolled: Api) -> None:
    # Given / When
    status, headers, body = enrolled("GET", PATH)
    # Then
    assert status == 200
    assert headers["ETag"] == f'"{body["version"]}"'


def test_get_enrollment_never_enrolled_is_404(configured: Api) -> None:
    # Given / When
    status, _, _ = configured("GET", PATH)
    # Then
    assert status == 404


def test_patch_enrollment_with_if_match_bumps_version(enrolled: Api) -> None:
    # Given / When
    status, headers, body = enrolled("PATCH", PATH, body={"primary_diagnosis": "E11.9"}, headers={"If-Match": '"1"'})
    # Then
    assert status == 200
    assert body["primary_diagnosis"] == "E11.9"
    assert body["version"] == 2
    assert headers["ETag"] == '"2"'
    assert enrolled("GET", PATH)[2]["primary_diagnosis"] == "E11.9"


def test_patch_enrollment_without_if_match_is_428(enrolled: Api) -> None:
    # Given / When
    status, _, body = enrolled("PATCH", PATH, body={"primary_diagnosis": "E11.9"})
    # Then
    assert status == 428
    assert body["error"]["code"] == "precondition_required"


def test_patch_enrollment_stale_version_is_412(enrolled: Api) -> None:
    # Given: version 2 after one edit
    enrolled("PATCH", PATH, body={"established_patient": False}, headers={"If-Match": "1"})
    # When: an edit based on version 1
    status, _, _ = enrolled("PATCH", PATH, body={"primary_diagnosis": "E11.9"}, headers={"If-Match": "1"})
    # Then
    assert status == 412
    assert enrolled("GET", PATH)[2]["primary_diagnosis"] == "I10"


def test_patch_enrollment_checks_lists(enrolled: Api) -> None:
    # Given / When
    status, _, body = enrolled("PATCH", PATH, body={"primary_diagnosis": "J44.9"}, headers={"If-Match": "1"})
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.primary_diagnosis"


def test_patch_enrollment_empty_body_is_422(enrolled: Api) -> None:
    # Given / When
    status, _, _ = enrolled("PATCH", PATH, body={}, headers={"If-Match": "1"})
    # Then
    assert status == 422


def test_patch_concurrent_editors_one_wins(enrolled: Api) -> None:
    # Given: two editors holding version 1
    results: list[int] = []
    barrier = threading.Barrier(2)

    def edit(diagnosis: str) -> None:
        barrier.wait()
        results.append(enrolled("PATCH", PATH, body={"primary_diagnosis": diagnosis}, headers={"If-Match": "1"})[0])

    threads = [threading.Thread(target=edit, args=(dx,)) for dx in ("E11.9", "I10")]
    # When
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then: exactly one 200 and one 412, and the stored version is 2
    assert sorted(results) == [200, 412]
    assert enrolled("GET", PATH)[2]["version"] == 2


def test_delete_enrollment_ends_then_reenroll_starts_new_episode(enrolled: Api) -> None:
    # Given
    first = enrolled("GET", PATH)[2]
    # When
    status, _, ended = enrolled("DELETE", PATH, body={"reason": "discharged"})
    again_status, _, again = enrolled("POST", PATH, body=ENROLLMENT)
    # Then
    assert status == 200
    assert ended["status"] == "ended"
    assert ended["ended_reason"] == "discharged"
    assert again_status == 201
    assert again["episode_id"] != first["episode_id"]
    assert again["version"] > ended["version"]


def test_delete_enrollment_twice_is_409(enrolled: Api) -> None:
    # Given
    enrolled("DELETE", PATH)
    # When
    status, _, _ = enrolled("DELETE", PATH)
    # Then
    assert status == 409


def test_delete_enrollment_bad_reason_is_422(enrolled: Api) -> None:
    # Given / When
    status, _, body = enrolled("DELETE", PATH, body={"reason": "ZQXFREE text"})
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.reason"
    assert "ZQX" not in str(body)


def test_delete_enrollment_stale_if_match_is_412(enrolled: Api) -> None:
    # Given / When
    status, _, _ = enrolled("DELETE", PATH, headers={"If-Match": '"7"'})
    # Then
    assert status == 412


def test_enroll_idempotent_replay_returns_first_response(configured: Api) -> None:
    # Given
    headers = {"Idempotency-Key": "k-1"}
    first = configured("POST", PATH, body=ENROLLMENT, headers=headers)
    # When
    replay = configured("POST", PATH, body=ENROLLMENT, headers=headers)
    # Then
    assert first[0] == replay[0] == 201
    assert replay[2] == first[2]


def test_enroll_same_key_other_body_is_409(configured: Api) -> None:
    # Given
    headers = {"Idempotency-Key": "k-2"}
    configured("POST", PATH, body=ENROLLMENT, headers=headers)
    # When
    status, _, body = configured("POST", PATH, body={**ENROLLMENT, "primary_diagnosis": "E11.9"}, headers=headers)
    # Then
    assert status == 409
    assert "Idempotency-Key" in body["error"]["message"]


def test_enroll_same_key_other_user_is_not_a_replay(configured: Api) -> None:
    # Given: the admin enrolled p1 with a key
    headers = {"Idempotency-Key": "k-3"}
    configured("POST", PATH, body=ENROLLMENT, headers=headers)
    # When: another user sends the same key and body
    status, _, _ = configured("POST", PATH, body=ENROLLMENT, headers=headers, claims=staff())
    # Then: their request is judged on its own (already enrolled)
    assert status == 409


def test_enrollment_of_other_tenant_is_byte_identical_to_missing(enrolled: Api, call_api: Any) -> None:
    # Given: p1 exists in org1
    from enroll.app import lambda_handler
    from local.events import rest_event

    outsider = admin("org2")
    # When
    other = lambda_handler(rest_event("GET", PATH, claims=outsider), None)
    missing = lambda_handler(rest_event("GET", "/v1/patients/zz9/billing/enrollment", claims=outsider), None)
    # Then
    assert other["statusCode"] == missing["statusCode"] == 404
    assert other["body"] == missing["body"]
    assert "p1" not in other["body"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "POST"])
def test_enrollment_other_deployment_staff_is_404(enrolled: Api, method: str) -> None:
    # Given: staff of dep2; p1 is in dep1
    body = ENROLLMENT if method == "POST" else ({"established_patient": False} if method == "PATCH" else None)
    # When
    status, _, answer = enrolled(method, PATH, body=body, headers={"If-Match": "1"}, claims=staff("dep2"))
    # Then
    assert status == 404
    assert answer["error"]["code"] == "not_found"


def test_enrollment_read_is_one_request(enrolled: Api, ddb_requests: Any) -> None:
    # Given
    ddb_requests.reset()
    # When
    status, _, _ = enrolled("GET", PATH)
    # Then
    assert status == 200
    assert ddb_requests.total == 1


def test_enrollment_write_is_one_transaction_with_warm_cache(configured: Api, ddb_requests: Any) -> None:
    # Given: the config cache is warm (the patient registration read it)
    configured("PUT", f"/v1/deployments/{DEP}/patients/p2", body=PATIENT)
    ddb_requests.reset()
    # When
    status, _, _ = configured("POST", "/v1/patients/p2/billing/enrollment", body=ENROLLMENT)
    # Then: one read of profile + enrollment, one transaction
    assert status == 201
    assert ddb_requests.calls["TransactWriteItems"] == 1
    assert ddb_requests.total == 2


def test_enrollment_write_is_audited(configured: Api) -> None:
    # Given / When
    configured("POST", PATH, body=ENROLLMENT)
    # Then
    import boto3

    items = boto3.client("dynamodb").scan(TableName="rpm-billing-test")["Items"]
    actions = [i["action"]["S"] for i in items if i.get("type", {}).get("S") == "audit"]
    assert "enrollment.create" in actions
