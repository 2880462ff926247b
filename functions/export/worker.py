"""The export worker: builds one export's ZIP by streaming it into an S3 multipart upload.

Invoked asynchronously by the API (``{"org_id", "export_id"}``) or in-process when no worker function is
configured (``app.dispatch``). The job moves ``pending`` -> ``running`` (claimed with a condition, so a
redelivered invocation does nothing) -> ``succeeded`` or ``failed``. Every failure is caught, recorded on the
job as a short error code and the multipart upload aborted: an asynchronous retry would find the job claimed.

The worker enforces the patient cap itself (``export_max_patients``), whatever the API checked.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

from export import report, source
from export.zipstream import MIN_PART_SIZE, MultipartSink, ReportFile, write_bytes
from rpm_billing import clock, coldstart
from rpm_billing.db import exports
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

#: Progress is stored after every this many patients.
PROGRESS_EVERY = 500


class ExportFailed(Exception):
    """An expected reason to stop; ``code`` goes on the job."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _scope(job: dict[str, Any], evaluator: report.Evaluator | None) -> report.Scope:
    request = job["request"]
    config = source.read_config(str(job["org_id"]), str(job["deployment_id"]))
    if config is None:
        raise ExportFailed("billing_not_configured")
    return report.Scope(
        org_id=str(job["org_id"]),
        deployment_id=str(job["deployment_id"]),
        config=config,
        months=report.months_between(str(request["from"]), str(request["to"])),
        patients=request["patients"],
        evaluator=evaluator or report.engine_evaluator,
    )


def _count(scope: report.Scope, cap: int) -> int:
    if scope.patients == "all":
        count = source.count_enrolled(scope.org_id, scope.deployment_id)
    else:
        count = len(set(scope.patients))
    if count > cap:
        raise ExportFailed("too_many_patients")
    return count


def _manifest(job: dict[str, Any], scope: report.Scope, files: list[dict[str, Any]], patients: int) -> bytes:
    request = job["request"]
    manifest = {
        "export_id": job["export_id"],
        "generated_at": clock.now().isoformat(),
        "deployment_id": scope.deployment_id,
        "rules_version": report.rules_version(),
        "time_zones": {"practice": scope.practice_zone, "patients": sorted(scope.patient_time_zones)},
        "request": {
            "patients": request["patients"],
            "from": request["from"],
            "to": request["to"],
            "include": list(request["include"]),
            "format": request["format"],
        },
        "format": {
            "csv": "RFC 4180, UTF-8, header row, CRLF; lists joined with '; '",
            "json": "a JSON array of objects, UTF-8",
        }[str(request["format"])],
        "patient_count": patients,
        "files": files,
    }
    return json.dumps(manifest, indent=2, default=str).encode("utf-8")


def build(
    job: dict[str, Any],
    *,
    evaluator: report.Evaluator | None = None,
    part_size: int = MIN_PART_SIZE,
) -> tuple[list[dict[str, Any]], int]:
    """Write the job's ZIP to the exports bucket; returns the manifest's file entries and the patient count."""
    org_id, export_id = str(job["org_id"]), str(job["export_id"])
    cap = get_settings().export_max_patients
    scope = _scope(job, evaluator)
    patient_count = _count(scope, cap)
    request = job["request"]
    sink = MultipartSink(get_settings().exports_bucket, str(job["object_key"]), part_size=part_size)
    files: list[dict[str, Any]] = []
    try:
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for kind in report.KINDS:
                if kind not in request["include"]:
                    continue
                out = ReportFile(archive, kind, str(request["format"]), report.COLUMNS[kind])
                seen = 0
                for page in scope.pages(cap):
                    for row in report.ROWS[kind](scope, page):
                        out.write(row)
                    seen += len(page)
                    if kind == "billing_status" and seen // PROGRESS_EVERY != (seen - len(page)) // PROGRESS_EVERY:
                        exports.record_progress(org_id, export_id, seen)
                files.append(out.close())
            write_bytes(archive, "manifest.json", _manifest(job, scope, files, patient_count))
        sink.complete()
    except BaseException:
        sink.abort()
        raise
    logger.info("export written", files=len(files), parts=len(sink.part_sizes), bytes=sink.bytes_written)
    return files, patient_count


def run(org_id: str, export_id: str, *, evaluator: report.Evaluator | None = None) -> str:
    """Claim and build one export; returns the job's final status (or ``skipped`` when not claimed)."""
    logger.append_keys(org_id=org_id, export_id=export_id)
    try:
        job = exports.get_export(org_id, export_id)
        if job is None or not exports.claim_job(org_id, export_id):
            logger.info("export not claimed", found=job is not None)
            return "skipped"
        try:
            files, count = build(job, evaluator=evaluator)
        except ExportFailed as exc:
            logger.warning("export failed", error=exc.code)
            exports.finish_job(org_id, export_id, status="failed", error=exc.code)
            return "failed"
        except Exception as exc:
            # The exception text may hold item values: record its type only.
            logger.error("export failed", error=type(exc).__name__)
            exports.finish_job(org_id, export_id, status="failed", error="internal_error")
            return "failed"
        exports.finish_job(
            org_id, export_id, status="succeeded", files=files, patient_count=count, patients_written=count
        )
        logger.info("export succeeded", patient_count=count)
        return "succeeded"
    finally:
        logger.remove_keys(["org_id", "export_id"])


@coldstart.ends_initialisation_before_work
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point of the asynchronous invocation: ``{"org_id", "export_id"}``."""
    org_id, export_id = str(event.get("org_id") or ""), str(event.get("export_id") or "")
    if not org_id or not export_id:
        logger.error("export event without job key")
        return {"status": "skipped"}
    return {"status": run(org_id, export_id)}
