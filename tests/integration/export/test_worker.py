"""The worker: claims a job once, enforces the patient cap itself, streams multipart parts, cleans up on failure."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import pytest

from rpm_billing.db import keys

from .conftest import Tenant, download, put

REQUEST = {"patients": "all", "from": "2026-11", "to": "2026-11", "include": ["billing_status"], "format": "csv"}


def _job(tenant: Tenant, export_id: str = "01JEXPORT0000000000000000A", **request: Any) -> str:
    """A pending job written directly, as if the API's checks had been bypassed."""
    put(
        {
            "PK": keys.export_pk(tenant.org_id, export_id),
            "SK": keys.EXPORT_SK,
            "type": "export",
            "org_id": tenant.org_id,
            "deployment_id": tenant.deployment_id,
            "export_id": export_id,
            "requested_by": "user-1",
            "request": {**REQUEST, **request},
            "status": "pending",
            "patient_count": 0,
            "patients_written": 0,
            "files": [],
            "object_key": f"exports/{tenant.org_id}/{export_id}.zip",
        }
    )
    return export_id


def _objects() -> list[str]:
    from rpm_billing.db.client import s3
    from rpm_billing.settings import get_settings

    return [o["Key"] for o in s3().list_objects_v2(Bucket=get_settings().exports_bucket).get("Contents", [])]


def _uploads() -> list[Any]:
    from rpm_billing.db.client import s3
    from rpm_billing.settings import get_settings

    return list(s3().list_multipart_uploads(Bucket=get_settings().exports_bucket).get("Uploads", []))


def test_worker_enforces_patient_cap_when_api_bypassed(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: a cap of 2, three enrolled patients and a job written past the API
    from export.worker import lambda_handler
    from rpm_billing.db.exports import get_export
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_MAX_PATIENTS", "2")
    reset_settings()
    for _ in range(3):
        tenant.billable_november()
    export_id = _job(tenant)
    # When
    result = lambda_handler({"org_id": tenant.org_id, "export_id": export_id}, None)
    # Then: the job failed and nothing is left in the bucket
    job = get_export(tenant.org_id, export_id)
    assert result == {"status": "failed"}
    assert job is not None and job["status"] == "failed" and job["error"] == "too_many_patients"
    assert _objects() == [] and _uploads() == []


def test_worker_builds_job_once(tenant: Tenant) -> None:
    # Given: an invocation delivered twice
    from export.worker import lambda_handler

    tenant.billable_november()
    export_id = _job(tenant)
    event = {"org_id": tenant.org_id, "export_id": export_id}
    # When
    first = lambda_handler(event, None)
    second = lambda_handler(event, None)
    # Then
    assert (first, second) == ({"status": "succeeded"}, {"status": "skipped"})


def test_worker_records_progress_and_state(tenant: Tenant) -> None:
    # Given
    from export.worker import run
    from rpm_billing.db.exports import get_export

    for _ in range(3):
        tenant.billable_november()
    export_id = _job(tenant)
    # When
    run(tenant.org_id, export_id)
    # Then
    job = get_export(tenant.org_id, export_id)
    assert job is not None
    assert (job["status"], job["patient_count"], job["patients_written"]) == ("succeeded", 3, 3)
    assert job["started_at"] <= job["finished_at"]


def test_worker_failure_aborts_upload_and_marks_failed(tenant: Tenant) -> None:
    # Given: an engine that breaks on the first patient
    from export.worker import run
    from rpm_billing.db.exports import get_export

    tenant.billable_november()
    export_id = _job(tenant)

    def broken(facts: Any, month: str, policy: Any) -> Any:
        raise ValueError("boom")

    # When
    status = run(tenant.org_id, export_id, evaluator=broken)
    # Then
    job = get_export(tenant.org_id, export_id)
    assert status == "failed"
    assert job is not None and job["error"] == "internal_error"
    assert _objects() == [] and _uploads() == []


def test_worker_without_billing_config_fails_cleanly(aws: None) -> None:
    # Given: a job for a deployment with no configuration
    from export.worker import run
    from rpm_billing.db.exports import get_export

    tenant = Tenant()
    export_id = _job(tenant)
    # When
    status = run(tenant.org_id, export_id)
    # Then
    job = get_export(tenant.org_id, export_id)
    assert status == "failed" and job is not None and job["error"] == "billing_not_configured"


def test_worker_event_without_key_is_skipped(aws: None) -> None:
    # Given / When
    from export.worker import lambda_handler

    result = lambda_handler({}, None)
    # Then
    assert result == {"status": "skipped"}


def test_multipart_sink_parts_are_at_least_5_mib_except_last(aws: None) -> None:
    # Given: 12 MiB of incompressible data streamed through zipfile
    from export.zipstream import MIB, MultipartSink
    from rpm_billing.settings import get_settings

    sink = MultipartSink(get_settings().exports_bucket, "exports/org/test.zip")
    payload = os.urandom(12 * MIB)
    # When
    with (
        zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive,
        archive.open("blob.bin", "w") as member,
    ):
        for start in range(0, len(payload), MIB):
            member.write(payload[start : start + MIB])
    sink.complete()
    # Then
    assert len(sink.part_sizes) == 3
    assert all(size >= 5 * MIB for size in sink.part_sizes[:-1])
    body = download({"object_key": "exports/org/test.zip"}).read("blob.bin")
    assert body == payload


def test_multipart_sink_refuses_small_parts() -> None:
    # Given / When / Then
    from export.zipstream import MultipartSink

    with pytest.raises(ValueError, match="5 MiB"):
        MultipartSink("bucket", "key", part_size=1024)


def test_report_file_hash_covers_uncompressed_bytes() -> None:
    # Given
    import hashlib

    from export.zipstream import ReportFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        out = ReportFile(archive, "rows", "csv", ["a", "b"])
        out.write({"a": "x,y", "b": None})
        out.write({"a": ["p", "q"], "b": True})
        entry = out.close()
    # When
    data = zipfile.ZipFile(buffer).read("rows.csv")
    # Then
    assert data == b'a,b\r\n"x,y",\r\np; q,true\r\n'
    assert entry == {"name": "rows.csv", "rows": 2, "sha256": hashlib.sha256(data).hexdigest()}
