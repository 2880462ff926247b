"""GET /v1/patients/{patient_id}/billing/status over moto."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from evaluate.app import lambda_handler
from local.events import claims_for

from .conftest import Tenant, days, entry


def _status(call_api: Any, tenant: Tenant, pid: str, **kwargs: Any) -> tuple[int, dict[str, Any], Any]:
    return call_api(lambda_handler, "GET", f"/v1/patients/{pid}/billing/status", claims=tenant.claims(), **kwargs)


def _live_patient(tenant: Tenant) -> str:
    pid = tenant.patient(monitoring_start=date(2026, 11, 20))
    tenant.month(pid, "2026-11", device_days=days(date(2026, 11, 20), 11))
    tenant.month(
        pid,
        "2026-12",
        device_days=days(date(2026, 12, 1), 3),
        entries=[entry("2026-12-02T15:00:00+00:00", 12, call=True)],
    )
    return pid


def test_status_reports_codes_with_periods_and_evidence(call_api: Any, tenant: Tenant) -> None:
    # Given: a patient whose 30-day period runs 2026-11-20..12-19 with 14 reading days and 12 minutes in December
    pid = _live_patient(tenant)
    # When
    status, _, body = _status(call_api, tenant, pid, query={"as_of": "2026-12-04"})
    # Then
    assert status == 200
    assert body["program"] == "RPM"
    assert body["time_zone"] == "America/New_York"
    assert body["month"] == "2026-12"
    assert body["month_total_seconds"] == 12 * 60
    assert body["interactive_calls"] == 1
    by_code = {c["code"]: c for c in body["codes"]}
    device = by_code["99454"]
    assert (device["period_start"], device["period_end"]) == ("2026-11-20", "2026-12-19")
    assert device["deadline"] == device["period_end"]
    assert device["status"] == "pending"
    assert device["evidence"]["days_with_data"] == 14
    assert device["pending"]
    assert by_code["99457"]["evidence"]["minutes"] == 12
    assert isinstance(body["warnings"], list)


def test_status_costs_one_dynamodb_request_with_a_warm_config(call_api: Any, tenant: Tenant, ddb_requests: Any) -> None:
    # Given: a warm container (the deployment config is cached after a first call)
    pid = _live_patient(tenant)
    _status(call_api, tenant, pid, query={"as_of": "2026-12-04"})
    ddb_requests.reset()
    # When
    status, _, _ = _status(call_api, tenant, pid, query={"as_of": "2026-12-04"})
    # Then
    assert status == 200
    assert dict(ddb_requests.calls) == {"BatchGetItem": 1}


def test_status_defaults_as_of_to_today_in_the_practice_zone(call_api: Any, tenant: Tenant) -> None:
    # Given: the clock pinned at 2026-12-04 15:00 UTC (10:00 in New York)
    pid = _live_patient(tenant)
    # When
    status, _, body = _status(call_api, tenant, pid)
    # Then
    assert status == 200
    assert body["as_of"] == "2026-12-04"


def test_status_of_unenrolled_patient_is_409_not_enrolled(call_api: Any, tenant: Tenant) -> None:
    # Given: a registered patient awaiting onboarding
    pid = tenant.patient(enrolled=False)
    # When
    status, _, body = _status(call_api, tenant, pid)
    # Then
    assert status == 409
    assert body["error"]["code"] == "not_enrolled"


def test_status_of_another_tenants_patient_is_identical_to_missing(call_api: Any, tenant: Tenant) -> None:
    # Given: a patient of this tenant and a caller of another organisation
    pid = _live_patient(tenant)
    other = Tenant()
    other.config()
    # When
    foreign = call_api(lambda_handler, "GET", f"/v1/patients/{pid}/billing/status", claims=other.claims())
    missing = call_api(lambda_handler, "GET", "/v1/patients/nobody/billing/status", claims=other.claims())
    # Then
    assert foreign[0] == missing[0] == 404
    assert foreign[2] == missing[2]


def test_status_of_patient_in_another_deployment_of_the_org_is_404(call_api: Any, tenant: Tenant) -> None:
    # Given: a Contributor scoped to another deployment of the same organisation
    pid = _live_patient(tenant)
    claims = claims_for("Contributor", tenant.org_id, "dep-elsewhere")
    # When
    status, _, body = call_api(lambda_handler, "GET", f"/v1/patients/{pid}/billing/status", claims=claims)
    # Then
    assert status == 404
    assert pid not in str(body)


@pytest.mark.parametrize("as_of", ["2026-13-01", "04/12/2026", "2026-12-4", "2027-01-01"])
def test_status_with_bad_as_of_is_422_naming_the_field(call_api: Any, tenant: Tenant, as_of: str) -> None:
    # Given: an enrolled patient
    pid = _live_patient(tenant)
    # When
    status, _, body = _status(call_api, tenant, pid, query={"as_of": as_of})
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "query.as_of"
    assert as_of not in str(body)


def test_status_never_returns_profile_phi(call_api: Any, tenant: Tenant) -> None:
    # Given: a profile holding canary names
    pid = _live_patient(tenant)
    # When
    _, _, body = _status(call_api, tenant, pid)
    # Then
    assert "ZQX" not in str(body)


def test_window_read_retries_unprocessed_keys(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: DynamoDB answering the first BatchGetItem with every key unprocessed
    from rpm_billing.db import billing
    from rpm_billing.db.client import dynamodb

    pid = _live_patient(tenant)
    real = dynamodb().batch_get_item
    calls: list[int] = []

    def flaky(**kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}
        return real(**kwargs)

    monkeypatch.setattr(dynamodb(), "batch_get_item", flaky)
    # When
    window = billing.read_patient_window(tenant.org_id, pid, ["2026-11", "2026-12"])
    # Then
    assert len(calls) == 2
    assert window.enrollment is not None
    assert sorted(window.months) == ["2026-11", "2026-12"]
