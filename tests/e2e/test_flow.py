"""The whole product over real HTTP on the local stack: configure, enroll, track, judge, close a month, export.

The stack takes today's date from the real clock, so every date here is computed from today in the practice's
zone. The data sits in the previous calendar month ``P`` (the month an evaluation can close):

- monitoring starts ten days before ``P`` begins, and a device reading arrives every day of the first 30-day
  period, which therefore ends on day 20 of ``P`` (99454, 30 days with data, date of service in ``P``);
- a scheduled call completed on day 5 of ``P`` (10 minutes, the interactive communication) and two 15-minute
  entries on days 6 and 7: 40 minutes in ``P`` (99457 plus one unit of 99458).

The flow runs in a deployment of its own inside the demo organisation, so neither the demo data nor the other
e2e modules disturb it, and it disturbs neither.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from .conftest import Reply, Stack, http

pytestmark = pytest.mark.e2e

ORG = "demo-org"
DEPLOYMENT = "e2e-flow-deployment"
PATIENT = "e2e-flow-patient"
ZONE = "America/Chicago"
NPI = "1234567893"
POLL_TIMEOUT_S = 120
EXPORT_KINDS = ["billing_status", "enrollment", "time_entries", "appointments", "readings"]
#: Every function's module, whose routes the OpenAPI document must list.
API_MODULES = ("enroll.app", "track_time.app", "evaluate.app", "export.app")

Client = Callable[..., Reply]


@dataclass(frozen=True)
class Calendar:
    """The dates of the scenario, from today in the practice's zone."""

    today: date
    month: str
    month_first: date
    month_last: date
    monitoring_start: date
    period_end: date

    @classmethod
    def from_today(cls, today: date) -> Calendar:
        current_first = today.replace(day=1)
        month_last = current_first - timedelta(days=1)
        month_first = month_last.replace(day=1)
        start = month_first - timedelta(days=10)
        return cls(
            today=today,
            month=f"{month_first:%Y-%m}",
            month_first=month_first,
            month_last=month_last,
            monitoring_start=start,
            period_end=start + timedelta(days=29),
        )

    def at(self, day: date, hour: int) -> str:
        """An instant on a practice-local day, ISO 8601 with its offset."""
        return datetime.combine(day, clock_time(hour), ZoneInfo(ZONE)).isoformat()

    def in_month(self, day_of_month: int) -> date:
        return self.month_first + timedelta(days=day_of_month - 1)


@dataclass
class Flow:
    """The scenario's clients, dates and the answers of its set-up steps."""

    admin: Client
    staff: Client
    calendar: Calendar
    steps: dict[str, Reply] = field(default_factory=dict)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _poll(read: Callable[[], Reply], done: Callable[[Any], bool]) -> Reply:
    """Read until ``done(body)`` or the timeout; returns the last answer."""
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        reply = read()
        if reply.status != 200 or done(reply.json) or time.monotonic() > deadline:
            return reply
        time.sleep(0.3)


def _code(items: list[dict[str, Any]], code: str) -> dict[str, Any]:
    found = [item for item in items if item["code"] == code]
    assert len(found) == 1, f"expected one {code}, found {[i['code'] for i in items]}"
    return found[0]


@pytest.fixture(scope="module")
def flow(stack: Stack) -> Flow:
    """A deployment of its own, configured by an Admin; one patient registered, enrolled, read and timed."""
    cal = Calendar.from_today(datetime.now(ZoneInfo(ZONE)).date())
    admin = stack.client(stack.token("Admin", ORG, DEPLOYMENT, user="e2e-admin", clinical_role="physician"))
    staff = stack.client(stack.token("DeploymentStaff", ORG, DEPLOYMENT, user="e2e-nurse"))
    flow = Flow(admin=admin, staff=staff, calendar=cal)
    steps = flow.steps
    steps["config"] = admin(
        "PUT",
        f"/v1/deployments/{DEPLOYMENT}/billing-config",
        {
            "program": "RPM",
            "time_zone": ZONE,
            "insurance_carriers": [{"name": "Medicare Part B"}],
            "billing_providers": [{"name": "E2E Cardiology", "npi": NPI}],
            "icd10_codes": [{"code": "I10", "description": "Essential (primary) hypertension"}],
        },
    )
    steps["patient"] = staff(
        "PUT",
        f"/v1/deployments/{DEPLOYMENT}/patients/{PATIENT}",
        {"given_name": "Flow", "family_name": "Endtoend", "birth_date": "1950-04-02", "mrn": "E2E-0001"},
    )
    steps["enrollment"] = staff(
        "POST",
        f"/v1/patients/{PATIENT}/billing/enrollment",
        {
            "insurance_carriers": [{"name": "Medicare Part B", "member_id": "1EG4-TE5-MK72"}],
            "billing_provider": {"name": "E2E Cardiology", "npi": NPI},
            "primary_diagnosis": "I10",
            "consent_date": (cal.monitoring_start - timedelta(days=2)).isoformat(),
            "monitoring_start": cal.monitoring_start.isoformat(),
            "established_patient": True,
        },
    )
    readings = [
        {
            "reading_id": f"e2e-bp-{offset:02d}",
            "measured_at": cal.at(cal.monitoring_start + timedelta(days=offset), 12),
            "type": "blood_pressure",
            "source": "device",
            "device_id": "e2e-bp-cuff",
            "value": {"systolic": 120 + offset % 9, "diastolic": 78},
            "unit": "mmHg",
        }
        for offset in range(30)
    ]
    steps["readings"] = staff("POST", f"/v1/patients/{PATIENT}/readings", {"readings": readings}, _key())
    call_at = cal.at(cal.in_month(5), 10)
    steps["appointment"] = staff(
        "POST", f"/v1/patients/{PATIENT}/appointments", {"scheduled_at": call_at, "duration_minutes": 10}, _key()
    )
    appointment_id = (steps["appointment"].json or {}).get("appointment", {}).get("appointment_id", "missing")
    steps["call"] = staff(
        "POST",
        f"/v1/patients/{PATIENT}/appointments/{appointment_id}/complete",
        {"started_at": call_at, "duration_seconds": 600, "modality": "audio"},
        _key(),
    )
    for name, day, activity in (("review", 6, "data_review"), ("coordination", 7, "care_coordination")):
        steps[name] = staff(
            "POST",
            f"/v1/patients/{PATIENT}/time-entries",
            {"activity": activity, "started_at": cal.at(cal.in_month(day), 10), "duration_seconds": 900},
            _key(),
        )
    return flow


@pytest.fixture(scope="module")
def evaluation(flow: Flow) -> Reply:
    """The on-demand evaluation of the previous month, polled until it has finished."""
    path = f"/v1/deployments/{DEPLOYMENT}/billing/evaluations"
    started = flow.staff("POST", path, {"month": flow.calendar.month})
    assert started.status == 202, started.body
    evaluation_id = started.json["evaluation_id"]
    return _poll(lambda: flow.staff("GET", f"{path}/{evaluation_id}"), lambda run: run["status"] != "running")


@dataclass(frozen=True)
class Download:
    """A finished export: its job as the API reports it and the ZIP fetched from the presigned link."""

    job: dict[str, Any]
    archive: zipfile.ZipFile


@pytest.fixture(scope="module")
def exported(flow: Flow, evaluation: Reply) -> Download:
    """An export of the closed month with every kind of data, polled until done, then downloaded."""
    requested = flow.staff(
        "POST",
        f"/v1/deployments/{DEPLOYMENT}/exports",
        {"patients": [PATIENT], "month": flow.calendar.month, "include": EXPORT_KINDS, "format": "csv"},
    )
    assert requested.status == 202, requested.body
    export_id = requested.json["export_id"]
    job = _poll(
        lambda: flow.staff("GET", f"/v1/exports/{export_id}"), lambda body: body["status"] in ("succeeded", "failed")
    ).json
    assert job["status"] == "succeeded", job.get("error")
    assert urlsplit(job["download_url"]).hostname == "127.0.0.1"
    with urllib.request.urlopen(job["download_url"], timeout=30) as response:
        payload = response.read()
    return Download(job=job, archive=zipfile.ZipFile(io.BytesIO(payload)))


# The gateway -------------------------------------------------------------------------------------------------


def test_health_without_token_is_200(stack: Stack) -> None:
    # Given: the running stack
    # When
    reply = http("GET", stack.url + "/health")
    # Then: ready, every function loaded
    assert reply.status == 200
    assert reply.json["status"] == "ok"
    assert sorted(reply.json["functions"]) == ["enroll", "evaluate", "export", "track_time"]
    assert reply.json["skipped"] == {}


def test_gateway_without_token_is_401(stack: Stack) -> None:
    # Given: a route that exists
    url = f"{stack.url}/v1/deployments/demo-deployment/billing/worklist?code=99454"
    # When
    reply = http("GET", url)
    # Then
    assert reply.status == 401
    assert reply.json["error"]["code"] == "unauthorized"


def test_gateway_with_forged_token_is_401(stack: Stack) -> None:
    # Given: a well-formed token signed with another key
    from local.tokens import mint

    forged = mint("Admin", ORG, "demo-deployment", key=b"\x00" * 32)
    # When
    reply = http(
        "GET", f"{stack.url}/v1/patients/demo-patient-01/billing/status", headers={"Authorization": f"Bearer {forged}"}
    )
    # Then
    assert reply.status == 401


def test_openapi_is_valid_and_lists_every_function_route(stack: Stack) -> None:
    # Given: the routes each function declares
    import importlib

    from openapi_spec_validator import validate

    declared = {
        module: {(spec.method.lower(), spec.template) for spec in importlib.import_module(module).app.routes}
        for module in API_MODULES
    }
    # When
    reply = http("GET", stack.url + "/openapi.json")
    # Then: a valid OpenAPI 3.1 document with exactly the operations of the four functions
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    document = reply.json
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert all(declared.values()), declared
    listed = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert listed == set().union(*declared.values())
    # and each operation documents its success and the contract's error shape
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("media_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"])
def test_gateway_json_route_with_other_media_type_is_415(stack: Stack, media_type: str) -> None:
    # Given: a JSON route sent a body of another media type (multipart without a boundary was a 500)
    token = stack.token("DeploymentStaff", ORG, "demo-deployment", user="e2e-media")
    # When
    reply = stack.client(token)(
        "POST",
        "/v1/patients/demo-patient-01/time-entries",
        b'{"activity": "note", "started_at": "2026-01-05T10:00:00Z", "duration_seconds": 60}',
        {"Content-Type": media_type, **_key()},
    )
    # Then: refused in the contract's error shape, not a server error
    assert reply.status == 415, reply.body
    assert reply.json["error"]["code"] == "unsupported_media_type"


# The flow ----------------------------------------------------------------------------------------------------


def test_flow_setup_steps_are_accepted(flow: Flow) -> None:
    # Given / When: the scenario's set-up (the module fixture)
    steps = flow.steps
    # Then: each step answered as the contract says
    assert {name: reply.status for name, reply in steps.items()} == {
        "config": 200,
        "patient": 201,
        "enrollment": 201,
        "readings": 200,
        "appointment": 201,
        "call": 201,
        "review": 201,
        "coordination": 201,
    }
    assert steps["enrollment"].json["status"] == "active"
    assert steps["enrollment"].headers["etag"] == f'"{steps["enrollment"].json["version"]}"'
    assert steps["readings"].json["accepted"] == 30
    assert len(steps["readings"].json["new_device_days"]) == 30
    assert steps["coordination"].json["month_total_seconds"] == 2400


def test_flow_patient_listed_as_enrolled(flow: Flow) -> None:
    # Given: the enrolled patient
    # When
    reply = flow.staff("GET", f"/v1/deployments/{DEPLOYMENT}/patients?billing=enrolled")
    # Then
    assert reply.status == 200
    assert [item["patient_id"] for item in reply.json["items"]] == [PATIENT]


def test_flow_live_status_shows_the_evidence(flow: Flow) -> None:
    # Given: the last day of the first 30-day period, inside the month with the time
    cal = flow.calendar
    # When
    reply = flow.staff("GET", f"/v1/patients/{PATIENT}/billing/status?as_of={cal.period_end.isoformat()}")
    # Then
    assert reply.status == 200, reply.body
    status = reply.json
    assert (status["program"], status["time_zone"], status["month"]) == ("RPM", ZONE, cal.month)
    assert status["month_total_seconds"] == 2400
    assert status["interactive_calls"] == 1
    device = _code(status["codes"], "99454")
    assert device["status"] == "met"
    assert (device["period_start"], device["period_end"]) == (
        cal.monitoring_start.isoformat(),
        cal.period_end.isoformat(),
    )
    assert device["deadline"] == device["period_end"]
    assert device["evidence"]["days_with_data"] == 30
    management = _code(status["codes"], "99457")
    assert management["status"] == "met"
    assert management["evidence"]["minutes"] == 40
    assert management["evidence"]["interactive_calls"] == 1
    assert _code(status["codes"], "99458")["units"] == 1


def test_flow_live_status_today_names_what_is_pending(flow: Flow) -> None:
    # Given: today, a month without time or calls yet
    # When
    reply = flow.staff("GET", f"/v1/patients/{PATIENT}/billing/status")
    # Then: the current month, and the management code says what is missing
    assert reply.status == 200, reply.body
    status = reply.json
    assert status["month"] == f"{flow.calendar.today:%Y-%m}"
    assert status["month_total_seconds"] == 0
    management = _code(status["codes"], "99457")
    assert management["status"] == "pending"
    assert management["pending"]


def test_flow_worklist_shows_the_patient(flow: Flow) -> None:
    # Given: the month with the time and the call
    # When
    reply = flow.staff("GET", f"/v1/deployments/{DEPLOYMENT}/billing/worklist?code=99457&month={flow.calendar.month}")
    # Then
    assert reply.status == 200, reply.body
    worklist = reply.json
    assert (worklist["code"], worklist["month"], worklist["total"]) == ("99457", flow.calendar.month, 1)
    assert worklist["missing_calls"] == 0
    [entry] = worklist["patients"]
    assert entry["patient_id"] == PATIENT
    assert (entry["status"], entry["urgency"]) == ("met", "green")
    assert entry["month_total_seconds"] == 2400
    assert entry["interactive_calls"] == 1


def test_flow_evaluation_run_succeeds(flow: Flow, evaluation: Reply) -> None:
    # Given / When: the run of the previous month, polled to its end
    run = evaluation.json
    # Then
    assert evaluation.status == 200
    assert run["status"] == "succeeded", run
    assert run["month"] == flow.calendar.month
    assert run["patients_evaluated"] == 1
    assert run["failure_count"] == 0
    assert run["records_written"] == 4


def test_flow_records_hold_the_billable_codes(flow: Flow, evaluation: Reply) -> None:
    # Given: the closed month
    cal = flow.calendar
    # When
    reply = flow.staff("GET", f"/v1/patients/{PATIENT}/billing/records?month={cal.month}")
    # Then: set-up and device supply for the first period, management time for the month, all dated inside it
    assert reply.status == 200, reply.body
    records = reply.json["items"]
    assert sorted(record["code"] for record in records) == ["99453", "99454", "99457", "99458"]
    assert len(records) == evaluation.json["records_written"]
    for record in records:
        assert cal.month_first.isoformat() <= record["date_of_service"] <= cal.month_last.isoformat()
        assert record["rules_version"]
        assert record["evaluation_id"] == evaluation.json["evaluation_id"]
    device = _code(records, "99454")
    assert (device["period_start"], device["period_end"], device["units"]) == (
        cal.monitoring_start.isoformat(),
        cal.period_end.isoformat(),
        1,
    )
    assert device["evidence"]["days_with_data"] == 30
    management = _code(records, "99457")
    assert (management["units"], management["date_of_service"]) == (1, cal.month_last.isoformat())
    assert management["evidence"]["minutes"] == 40
    assert _code(records, "99458")["units"] == 1


def test_flow_closed_month_refuses_new_time(flow: Flow, evaluation: Reply) -> None:
    # Given: the month the evaluation closed
    assert evaluation.json["status"] == "succeeded"
    # When: more time is logged into it
    reply = flow.staff(
        "POST",
        f"/v1/patients/{PATIENT}/time-entries",
        {"activity": "note", "started_at": flow.calendar.at(flow.calendar.in_month(9), 10), "duration_seconds": 300},
        _key(),
    )
    # Then
    assert reply.status == 409, reply.body
    assert reply.json["error"]["code"] == "conflict"


def test_flow_export_lists_the_requested_files(exported: Download) -> None:
    # Given / When: the finished export and its ZIP
    names = sorted(exported.archive.namelist())
    # Then: one file per requested kind, plus the manifest
    assert names == sorted([f"{kind}.csv" for kind in EXPORT_KINDS] + ["manifest.json"])
    assert exported.job["patient_count"] == 1
    assert exported.job["expires_at"]


def test_flow_export_manifest_matches_the_files(exported: Download) -> None:
    # Given
    manifest = json.loads(exported.archive.read("manifest.json"))
    # When: each file is counted and hashed
    actual = []
    for entry in manifest["files"]:
        data = exported.archive.read(entry["name"])
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        actual.append({"name": entry["name"], "rows": len(rows) - 1, "sha256": hashlib.sha256(data).hexdigest()})
    # Then: the manifest, and the job's answer, describe them exactly
    assert manifest["files"] == actual
    assert exported.job["files"] == actual
    assert manifest["deployment_id"] == DEPLOYMENT
    assert manifest["patient_count"] == 1
    assert manifest["request"]["include"] == EXPORT_KINDS


def _rows(exported: Download, kind: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(exported.archive.read(f"{kind}.csv").decode("utf-8"), newline="")))


def test_flow_export_holds_the_patient_data(flow: Flow, exported: Download) -> None:
    # Given / When: the CSV files of the export
    billing = _rows(exported, "billing_status")
    # Then: the patient's billing status, and exactly the month's clinical data
    assert billing and {row["patient_id"] for row in billing} == {PATIENT}
    device = [row for row in billing if row["code"] == "99454" and row["status"] == "met"]
    assert [row["period_start"] for row in device] == [flow.calendar.monitoring_start.isoformat()]
    assert device[0]["days_with_data"] == "30"
    assert [row["patient_id"] for row in _rows(exported, "enrollment")] == [PATIENT]
    assert len(_rows(exported, "time_entries")) == 3
    assert len(_rows(exported, "appointments")) == 1
    days_in_month = (flow.calendar.period_end - flow.calendar.month_first).days + 1
    assert len(_rows(exported, "readings")) == days_in_month
