"""POST /v1/deployments/{deployment_id}/exports: roles, validation, caps, quota, idempotency, audit."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rpm_billing.db import keys

from .conftest import CANARY, Caller, Tenant, request_export

BODY: dict[str, Any] = {"patients": "all", "month": "2026-11", "include": ["billing_status"], "format": "csv"}


def _audit_items(tenant: Tenant) -> list[dict[str, Any]]:
    from rpm_billing.db.client import dynamodb, from_item
    from rpm_billing.settings import get_settings

    items = dynamodb().scan(TableName=get_settings().table_name)["Items"]
    return [from_item(i) for i in items if i["PK"]["S"].startswith(f"AUDIT#{tenant.org_id}#")]


@pytest.mark.parametrize("role", ["Admin", "AccessController", "DeploymentStaff", "OrganisationStaff"])
def test_create_export_accepts_export_roles(call_api: Caller, tenant: Tenant, role: str) -> None:
    # Given
    tenant.billable_november()
    # When
    status, answer = request_export(call_api, tenant, BODY, claims=tenant.claims(role))
    # Then
    assert status == 202
    assert len(answer["export_id"]) == 26


def test_create_export_refuses_contributor_before_validation(call_api: Caller, tenant: Tenant) -> None:
    # Given: a Contributor sending an invalid body
    # When
    status, answer = request_export(call_api, tenant, {"bad": 1}, claims=tenant.claims("Contributor"))
    # Then
    assert status == 403
    assert answer["error"]["code"] == "forbidden"


def test_create_export_outside_scope_is_404(call_api: Caller, tenant: Tenant) -> None:
    # Given: deployment staff of another deployment
    from local.events import claims_for

    claims = claims_for("DeploymentStaff", tenant.org_id, "dep-other")
    # When
    status, _ = request_export(call_api, tenant, BODY, claims=claims)
    # Then
    assert status == 404


def test_create_export_over_13_months_is_422(call_api: Caller, tenant: Tenant) -> None:
    # Given: 2025-10 .. 2026-11 is 14 months
    body = {**BODY, "month": None, "from": "2025-10", "to": "2026-11"}
    body.pop("month")
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert [f["path"] for f in answer["error"]["fields"]] == ["body.to"]


def test_create_export_of_13_months_is_accepted(call_api: Caller, tenant: Tenant) -> None:
    # Given: 2025-11 .. 2026-11 is 13 months
    body = {"patients": "all", "from": "2025-11", "to": "2026-11", "include": ["billing_status"]}
    # When
    status, _ = request_export(call_api, tenant, body)
    # Then
    assert status == 202


def test_create_export_over_patient_cap_is_422(
    call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a cap of 2 and 3 enrolled patients
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_MAX_PATIENTS", "2")
    reset_settings()
    for _ in range(3):
        tenant.patient()
    # When
    status, answer = request_export(call_api, tenant, BODY)
    # Then
    assert status == 422
    assert answer["error"]["fields"][0]["path"] == "body.patients"


def test_create_export_unknown_listed_patient_names_index_without_echo(call_api: Caller, tenant: Tenant) -> None:
    # Given: a list whose second id does not exist
    known = tenant.patient()
    body = {**BODY, "patients": [known, f"{CANARY}-missing"]}
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert [f["path"] for f in answer["error"]["fields"]] == ["body.patients.1"]
    assert CANARY not in str(answer)


def test_create_export_other_tenants_patient_is_422(call_api: Caller, tenant: Tenant) -> None:
    # Given: a patient of another organisation with the same deployment id
    other = Tenant(deployment_id=tenant.deployment_id)
    other.config()
    foreign = other.patient()
    body = {**BODY, "patients": [tenant.patient(), foreign]}
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert [f["path"] for f in answer["error"]["fields"]] == ["body.patients.1"]


def test_create_export_without_billing_status_is_422(call_api: Caller, tenant: Tenant) -> None:
    # Given
    body = {**BODY, "include": ["readings"]}
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert answer["error"]["fields"][0]["path"] == "body.include"


def test_create_export_unknown_kind_is_422(call_api: Caller, tenant: Tenant) -> None:
    # Given
    body = {**BODY, "include": ["billing_status", "notes"]}
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert answer["error"]["fields"][0]["path"].startswith("body.include")


def test_create_export_without_period_is_422(call_api: Caller, tenant: Tenant) -> None:
    # Given
    body = {"patients": "all", "include": ["billing_status"]}
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert answer["error"]["fields"][0]["path"] == "body.month"


def test_create_export_future_month_is_422(call_api: Caller, tenant: Tenant) -> None:
    # Given: the clock is pinned to 2026-12-04
    body = {**BODY, "month": "2027-01"}
    # When
    status, answer = request_export(call_api, tenant, body)
    # Then
    assert status == 422
    assert answer["error"]["fields"][0]["path"] == "body.month"


def test_create_export_writes_job_quota_and_audit_together(call_api: Caller, tenant: Tenant) -> None:
    # Given
    from rpm_billing.db.exports import get_export

    tenant.billable_november()
    # When
    status, answer = request_export(call_api, tenant, BODY)
    # Then
    assert status == 202
    job = get_export(tenant.org_id, answer["export_id"])
    assert job is not None and job["requested_by"] == "user-1"
    audits = [a for a in _audit_items(tenant) if a["action"] == "export.create"]
    assert [a["target_id"] for a in audits] == [answer["export_id"]]


def test_create_export_over_daily_quota_is_429(
    call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a quota of 2, already used
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_DAILY_QUOTA", "2")
    reset_settings()
    for _ in range(2):
        assert request_export(call_api, tenant, BODY)[0] == 202
    # When
    status, answer = request_export(call_api, tenant, BODY)
    # Then
    assert status == 429
    assert answer["error"]["code"] == "too_many_requests"


def test_create_export_quota_race_accepts_exactly_quota(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: a quota of 3 with 2 used, and 8 threads racing for the last slot
    from local.events import claims_for
    from rpm_billing.auth import principal_from_claims
    from rpm_billing.db import exports
    from rpm_billing.errors import TooManyRequests
    from rpm_billing.ids import new_ulid
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_DAILY_QUOTA", "3")
    reset_settings()
    principal = principal_from_claims(claims_for("Admin", tenant.org_id, tenant.deployment_id))
    assert principal is not None
    request = {"patients": "all", "from": "2026-11", "to": "2026-11", "include": ["billing_status"], "format": "csv"}

    def create() -> None:
        exports.create_export(
            principal, export_id=new_ulid(), deployment_id=tenant.deployment_id, request=request, patient_count=0
        )

    for _ in range(2):
        create()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def racer() -> None:
        barrier.wait()
        try:
            create()
            outcomes.append("accepted")
        except TooManyRequests:
            outcomes.append("429")

    # When
    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then
    assert sorted(outcomes) == ["429"] * 7 + ["accepted"]


def test_create_export_replay_returns_first_answer(call_api: Caller, tenant: Tenant) -> None:
    # Given: a first request with an Idempotency-Key
    tenant.billable_november()
    headers = {"Idempotency-Key": "key-1"}
    _, first = request_export(call_api, tenant, BODY, headers=headers)
    # When
    status, again = request_export(call_api, tenant, BODY, headers=headers)
    # Then
    assert status == 202
    assert again["export_id"] == first["export_id"]


def test_create_export_same_key_other_body_is_409(call_api: Caller, tenant: Tenant) -> None:
    # Given
    headers = {"Idempotency-Key": "key-2"}
    assert request_export(call_api, tenant, BODY, headers=headers)[0] == 202
    # When
    status, answer = request_export(call_api, tenant, {**BODY, "format": "json"}, headers=headers)
    # Then
    assert status == 409
    assert answer["error"]["code"] == "conflict"


def test_create_export_replay_does_not_use_quota(
    call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a quota of 1, used by a keyed request
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_DAILY_QUOTA", "1")
    reset_settings()
    headers = {"Idempotency-Key": "key-3"}
    assert request_export(call_api, tenant, BODY, headers=headers)[0] == 202
    # When
    status, _ = request_export(call_api, tenant, BODY, headers=headers)
    # Then
    assert status == 202


def test_create_export_dispatches_worker_asynchronously(
    call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a worker function configured, and a Lambda client that records invocations
    from export import app as export_app
    from rpm_billing.db.exports import get_export
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_WORKER_FUNCTION", "export-worker")
    reset_settings()
    calls: list[dict[str, Any]] = []

    class Recorder:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"StatusCode": 202}

    monkeypatch.setattr(export_app, "lambda_", Recorder)
    # When
    status, answer = request_export(call_api, tenant, BODY)
    # Then: invoked as an Event with the job key, and the job waits for it
    assert status == 202
    assert [(c["FunctionName"], c["InvocationType"]) for c in calls] == [("export-worker", "Event")]
    assert f'"export_id": "{answer["export_id"]}"' in calls[0]["Payload"].decode()
    job = get_export(tenant.org_id, answer["export_id"])
    assert job is not None and job["status"] == "pending"


def test_create_export_failed_dispatch_marks_job_failed(
    call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a worker function that cannot be invoked
    from export import app as export_app
    from rpm_billing.db.exports import get_export
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_WORKER_FUNCTION", "export-worker")
    reset_settings()

    class Broken:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("unreachable")

    monkeypatch.setattr(export_app, "lambda_", Broken)
    # When
    status, answer = request_export(call_api, tenant, BODY)
    # Then: nothing is silently lost
    assert status == 202 and answer["status"] == "failed"
    job = get_export(tenant.org_id, answer["export_id"])
    assert job is not None and job["error"] == "dispatch_failed"


def test_create_export_quota_counter_is_per_user_and_day(tenant: Tenant, call_api: Caller) -> None:
    # Given
    from rpm_billing.db.client import dynamodb
    from rpm_billing.settings import get_settings

    request_export(call_api, tenant, BODY)
    # When
    item = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.quota_pk(tenant.org_id, "user-1", "2026-12-04"), keys.QUOTA_SK),
    )["Item"]
    # Then
    assert item["count"]["N"] == "1"
