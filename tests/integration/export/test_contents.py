"""What the ZIP holds: the requested files, a truthful manifest, the right patients, the same data in both formats."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

from export.zipstream import cell

from .conftest import CANARY, Caller, Tenant, download, manifest_of, read_export, request_export

ALL_KINDS = ["billing_status", "enrollment", "time_entries", "appointments", "readings"]


def _export(call_api: Caller, tenant: Tenant, **body: Any) -> tuple[dict[str, Any], Any]:
    request = {"patients": "all", "month": "2026-11", "include": ["billing_status"], "format": "csv", **body}
    status, answer = request_export(call_api, tenant, request)
    assert status == 202, answer
    status, job = read_export(call_api, answer["export_id"], tenant.claims())
    assert status == 200 and job["status"] == "succeeded", job
    return job, download({"org_id": tenant.org_id, "export_id": answer["export_id"]})


def _rows(archive: Any, name: str) -> list[dict[str, str]]:
    text = archive.read(name).decode("utf-8")
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return list(json.loads(text))


def _seed_clinical(tenant: Tenant, pid: str) -> None:
    tenant.entry(pid, "2026-11", "ent-1", "2026-11-12T15:00:00+00:00", 10)
    tenant.entry(pid, "2026-11", "ent-2", "2026-11-13T15:00:00+00:00", 5, deleted=True)
    tenant.entry(pid, "2026-10", "ent-0", "2026-10-20T15:00:00+00:00", 7)
    tenant.appointment(pid, "apt-1", "2026-11-20T15:00:00+00:00")
    tenant.appointment(pid, "apt-0", "2026-09-20T15:00:00+00:00")
    tenant.readings(pid, "2026-11-02")
    tenant.readings(pid, "2026-10-30", count=1)


def test_export_zip_holds_exactly_requested_files(call_api: Caller, tenant: Tenant) -> None:
    # Given
    tenant.billable_november()
    # When
    _, archive = _export(call_api, tenant, include=["billing_status", "readings"])
    # Then
    assert sorted(archive.namelist()) == ["billing_status.csv", "manifest.json", "readings.csv"]
    assert archive.testzip() is None


def test_export_manifest_counts_and_checksums_match(call_api: Caller, tenant: Tenant) -> None:
    # Given
    pid = tenant.billable_november()
    _seed_clinical(tenant, pid)
    # When
    job, archive = _export(call_api, tenant, include=ALL_KINDS)
    # Then
    manifest = manifest_of(archive)
    for entry in manifest["files"]:
        data = archive.read(entry["name"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(_rows(archive, entry["name"])) == entry["rows"]
    assert [f["name"] for f in manifest["files"]] == [f"{k}.csv" for k in ALL_KINDS]
    assert job["files"] == manifest["files"]


def test_export_manifest_records_zones_rules_and_request(call_api: Caller, tenant: Tenant) -> None:
    # Given
    tenant.billable_november()
    # When
    _, archive = _export(call_api, tenant)
    # Then
    manifest = manifest_of(archive)
    assert manifest["time_zones"] == {"practice": "America/New_York", "patients": ["America/New_York"]}
    assert manifest["rules_version"]
    assert manifest["request"] == {
        "patients": "all",
        "from": "2026-11",
        "to": "2026-11",
        "include": ["billing_status"],
        "format": "csv",
    }
    assert manifest["generated_at"].startswith("2026-12-04T15:00:00")


def test_export_all_excludes_patients_not_enrolled(call_api: Caller, tenant: Tenant) -> None:
    # Given: one enrolled and one awaiting onboarding
    enrolled = tenant.billable_november()
    tenant.patient(enrolled=False)
    # When
    job, archive = _export(call_api, tenant, include=["billing_status", "enrollment"])
    # Then
    assert {r["patient_id"] for r in _rows(archive, "enrollment.csv")} == {enrolled}
    assert {r["patient_id"] for r in _rows(archive, "billing_status.csv")} == {enrolled}
    assert job["patient_count"] == 1


def test_export_never_includes_another_tenants_patients(call_api: Caller, tenant: Tenant) -> None:
    # Given: another organisation with the same deployment id and its own enrolled patient
    mine = tenant.billable_november()
    other = Tenant(deployment_id=tenant.deployment_id)
    other.config()
    foreign = other.billable_november()
    # When
    _, archive = _export(call_api, tenant, include=ALL_KINDS)
    # Then
    seen = {row["patient_id"] for name in archive.namelist() if name != "manifest.json" for row in _rows(archive, name)}
    assert seen == {mine}
    assert foreign not in str(manifest_of(archive))


def test_export_listed_patients_only(call_api: Caller, tenant: Tenant) -> None:
    # Given: three patients, two listed (one of them awaiting onboarding)
    listed = tenant.billable_november()
    awaiting = tenant.patient(enrolled=False)
    tenant.billable_november()
    # When
    _, archive = _export(call_api, tenant, patients=[awaiting, listed], include=["billing_status", "enrollment"])
    # Then
    assert sorted(r["patient_id"] for r in _rows(archive, "enrollment.csv")) == sorted([listed, awaiting])
    assert {r["patient_id"] for r in _rows(archive, "billing_status.csv")} == {listed}


def test_export_billing_status_rows_carry_identity_and_evidence(call_api: Caller, tenant: Tenant) -> None:
    # Given
    pid = tenant.billable_november()
    # When
    _, archive = _export(call_api, tenant)
    # Then
    rows = _rows(archive, "billing_status.csv")
    assert rows and {r["patient_id"] for r in rows} == {pid}
    first = rows[0]
    assert first["given_name"] == CANARY
    assert first["family_name"] == 'Family, "Quoted"'
    assert first["insurance_carriers"] == "Medicare; Acme Health"
    assert first["billing_provider_npi"] == "1234567893"
    assert first["program"] == "RPM"
    assert len({(r["code"], r["period_start"]) for r in rows}) == len(rows)
    time_rows = [r for r in rows if r["interactive_call_dates"]]
    assert time_rows and all(r["interactive_call_dates"] == "2026-11-10" for r in time_rows)


def test_export_billing_status_judges_device_days(call_api: Caller, tenant: Tenant) -> None:
    # Given: readings on 20 days of the 30-day period starting 2026-10-15
    tenant.billable_november()
    # When
    _, archive = _export(call_api, tenant)
    # Then
    device = [r for r in _rows(archive, "billing_status.csv") if r["code"] == "99454"]
    assert device and device[0]["period_start"] == "2026-10-15"
    assert device[0]["days_with_data"] == "20"
    assert device[0]["status"] == "met"


def test_export_csv_is_rfc4180_with_header(call_api: Caller, tenant: Tenant) -> None:
    # Given
    pid = tenant.billable_november()
    _seed_clinical(tenant, pid)
    # When
    _, archive = _export(call_api, tenant, include=["billing_status", "time_entries"])
    # Then
    raw = archive.read("time_entries.csv")
    assert raw.startswith(b"patient_id,entry_id,month,activity,")
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    rows = _rows(archive, "time_entries.csv")
    assert [r["entry_id"] for r in rows] == ["ent-1"]
    assert rows[0]["note"] == "free text, with a comma"


def test_export_clinical_files_keep_to_the_range(call_api: Caller, tenant: Tenant) -> None:
    # Given: appointments, entries and readings in and out of November
    pid = tenant.billable_november()
    _seed_clinical(tenant, pid)
    # When
    _, archive = _export(call_api, tenant, include=ALL_KINDS)
    # Then
    assert [r["appointment_id"] for r in _rows(archive, "appointments.csv")] == ["apt-1"]
    readings = _rows(archive, "readings.csv")
    assert [r["local_date"] for r in readings] == ["2026-11-02", "2026-11-02"]
    assert json.loads(readings[0]["value"]) == {"diastolic": 80, "systolic": 120}


def test_export_csv_and_json_carry_the_same_data(call_api: Caller, tenant: Tenant) -> None:
    # Given
    pid = tenant.billable_november()
    _seed_clinical(tenant, pid)
    tenant.billable_november()
    # When
    _, as_csv = _export(call_api, tenant, include=ALL_KINDS, format="csv")
    _, as_json = _export(call_api, tenant, include=ALL_KINDS, format="json")
    # Then
    for kind in ALL_KINDS:
        csv_rows = _rows(as_csv, f"{kind}.csv")
        json_rows = [{k: cell(v) for k, v in row.items()} for row in _rows(as_json, f"{kind}.json")]
        assert csv_rows == json_rows, kind
        assert csv_rows, kind


def test_export_json_is_an_array_of_objects(call_api: Caller, tenant: Tenant) -> None:
    # Given
    tenant.billable_november()
    # When
    _, archive = _export(call_api, tenant, format="json", include=["billing_status", "appointments"])
    # Then
    assert json.loads(archive.read("appointments.json")) == []
    rows = json.loads(archive.read("billing_status.json"))
    assert isinstance(rows, list) and isinstance(rows[0]["insurance_carriers"], list)
    assert isinstance(rows[0]["units"], int | type(None))
