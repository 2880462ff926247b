"""The batch step over moto without the workflow: request budgets, idempotence, on-demand cut-off."""

from __future__ import annotations

from datetime import date
from typing import Any

from evaluate import service
from rpm_billing.db import billing, keys
from rpm_billing.db.client import dynamodb
from rpm_billing.settings import get_settings

from .conftest import Tenant, days, entry, records_of


def _batch(tenant: Tenant, patient_ids: list[str], month: str = "2026-11", run: int = 1) -> dict[str, Any]:
    return service.evaluate_batch(
        {
            "org_id": tenant.org_id,
            "deployment_id": tenant.deployment_id,
            "month": month,
            "evaluation_id": f"cpt-{tenant.deployment_id}-{month}-r{run}",
            "run": run,
            "batch": {"batch": 0, "patient_ids": patient_ids},
        }
    )


def test_batch_costs_one_read_and_one_write_per_patient(tenant: Tenant, ddb_requests: Any) -> None:
    # Given: five billable patients and a warm config cache
    pids = [tenant.billable_november() for _ in range(5)]
    billing.load_config(tenant.org_id, tenant.deployment_id)
    ddb_requests.reset()
    # When
    result = _batch(tenant, pids)
    # Then
    assert result["patients_evaluated"] == 5
    assert dict(ddb_requests.calls) == {"BatchGetItem": 5, "TransactWriteItems": 5}


def test_batch_rerun_counts_patients_with_zero_new_records(tenant: Tenant) -> None:
    # Given: a patient-month already written by run 1
    pid = tenant.billable_november()
    first = _batch(tenant, [pid])
    # When
    second = _batch(tenant, [pid], run=2)
    # Then
    assert first["records_written"] > 0
    assert (second["patients_evaluated"], second["records_written"], second["failures"]) == (1, 0, [])
    assert all(r["run"] == 1 for r in records_of(tenant, pid, "2026-11"))


def test_batch_record_carries_evidence_zones_and_rules_version(tenant: Tenant) -> None:
    # Given: a billable patient
    pid = tenant.billable_november()
    # When
    _batch(tenant, [pid])
    # Then
    record = next(r for r in records_of(tenant, pid, "2026-11") if r["code"] == "99454")
    assert (record["period_start"], record["period_end"]) == ("2026-10-15", "2026-11-13")
    assert record["evidence"]["days_with_data"] == 20
    assert record["practice_time_zone"] == record["patient_time_zone"] == "America/New_York"
    assert record["rules_version"]
    assert record["GSI1PK"] == f"ORG#{tenant.org_id}#DEP#{tenant.deployment_id}#RECORDS#2026-11"


def test_batch_reports_unenrolled_patient_by_error_type_only(tenant: Tenant) -> None:
    # Given: an id with no enrollment
    # When
    result = _batch(tenant, ["pat-unknown"])
    # Then
    assert result["failures"] == [{"patient_id": "pat-unknown", "error": "NotEnrolled"}]
    assert result["patients_evaluated"] == 0


def test_batch_of_current_month_records_only_passed_dates_and_leaves_it_open(tenant: Tenant) -> None:
    # Given: December 2026 (current: today is 12-04) with a device period ending 12-03 and a met time code
    pid = tenant.patient(monitoring_start=date(2026, 11, 4))
    tenant.month(pid, "2026-11", device_days=days(date(2026, 11, 4), 20))
    tenant.month(pid, "2026-12", entries=[entry("2026-12-01T15:00:00+00:00", 25, call=True)])
    # When
    _batch(tenant, [pid], month="2026-12")
    # Then: the period ending 12-03 is recorded, the month's time code (DOS 12-31) is not, the month stays open
    codes = {r["code"]: r for r in records_of(tenant, pid, "2026-12")}
    assert codes["99454"]["date_of_service"] == "2026-12-03"
    assert "99457" not in codes
    window = billing.read_patient_window(tenant.org_id, pid, ["2026-12"])
    assert "closed" not in window.months["2026-12"]


def _enrollment(tenant: Tenant, pid: str) -> dict[str, Any]:
    window = billing.read_patient_window(tenant.org_id, pid, [])
    assert window.enrollment is not None
    return window.enrollment


def test_batch_marks_periods_billed_with_first_period_record(tenant: Tenant) -> None:
    # Given: a patient whose November bills set-up and 99454 for the period from 2026-10-15
    pid = tenant.billable_november()
    # When
    _batch(tenant, [pid])
    # Then: the enrollment says the periods are billed from that period (readings no longer move the start)
    assert _enrollment(tenant, pid)["periods_billed"] == {
        "code": "99453",
        "period_start": "2026-10-15",
        "episode_id": f"ep-{pid}",
    }


def test_batch_time_codes_alone_do_not_mark_periods_billed(tenant: Tenant) -> None:
    # Given: a November with management time only; the first 30-day period ends in December
    pid = tenant.patient(monitoring_start=date(2026, 11, 20))
    tenant.month(pid, "2026-11", entries=[entry("2026-11-10T15:00:00+00:00", 25, call=True)])
    # When
    _batch(tenant, [pid])
    # Then: 99457 is billed, but nothing judged in 30-day periods
    assert [r["code"] for r in records_of(tenant, pid, "2026-11")] == ["99457"]
    assert "periods_billed" not in _enrollment(tenant, pid)


def test_batch_rerun_marks_periods_billed_on_episodes_billed_without_it(tenant: Tenant) -> None:
    # Given: a month billed before the flag existed (records written, no periods_billed on the enrollment)
    pid = tenant.billable_november()
    _batch(tenant, [pid])
    dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.patient_pk(tenant.org_id, pid), keys.ENROLLMENT_SK),
        UpdateExpression="REMOVE periods_billed",
    )
    # When: the month is re-run
    second = _batch(tenant, [pid], run=2)
    # Then: no record is written again, and the flag is set
    assert second["records_written"] == 0
    assert _enrollment(tenant, pid)["periods_billed"]["period_start"] == "2026-10-15"


def test_batch_billed_setup_stays_met_in_the_status_of_its_period(tenant: Tenant, call_api: Any) -> None:
    # Given: November closed for a billable patient, which billed the set-up code in the Oct 15 - Nov 13 period
    from evaluate.app import lambda_handler

    pid = tenant.billable_november()
    _batch(tenant, [pid])
    billed = next(r for r in records_of(tenant, pid, "2026-11") if r["code"] == "99453")

    # When: the live status is read as of the last day of that period
    status, _, body = call_api(
        lambda_handler,
        "GET",
        f"/v1/patients/{pid}/billing/status",
        claims=tenant.claims(),
        query={"as_of": "2026-11-13"},
    )

    # Then: the status shows the set-up as the met claim it is, not as inapplicable
    setup = next(c for c in body["codes"] if c["code"] == "99453")
    assert status == 200
    assert (setup["status"], setup["units"], setup["date_of_service"]) == ("met", 1, billed["date_of_service"])
