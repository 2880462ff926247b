"""Step handlers of the monthly evaluation workflow (infra/workflows/monthly_evaluation.asl.json) and its trigger.

Every handler takes the workflow's JSON and returns JSON; none of them returns PHI (ids and counts only).
"""

from __future__ import annotations

import json
from typing import Any

from evaluate import service
from rpm_billing import coldstart
from rpm_billing.db import billing
from rpm_billing.db.client import s3
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

#: Patients per batch (one Lambda invocation of the map): 1 read + 1 write each, well inside a minute.
BATCH_SIZE = 50


def batch_manifest_key(evaluation_id: str) -> str:
    """The S3 key of a run's batch manifest."""
    return f"runs/{evaluation_id}/batches.json"


@coldstart.ends_initialisation_before_work
def list_patients_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Write the enrolled patients of the deployment, in batches, to the work bucket for the distributed map."""
    ids = list(billing.iter_enrolled_patient_ids(str(event["org_id"]), str(event["deployment_id"])))
    batches = [
        {"batch": index, "patient_ids": ids[start : start + BATCH_SIZE]}
        for index, start in enumerate(range(0, len(ids), BATCH_SIZE))
    ]
    bucket, key = get_settings().work_bucket, batch_manifest_key(str(event["evaluation_id"]))
    s3().put_object(Bucket=bucket, Key=key, Body=json.dumps(batches).encode(), ContentType="application/json")
    logger.info("patients listed", evaluation_id=event["evaluation_id"], patients=len(ids), batches=len(batches))
    return {"bucket": bucket, "key": key, "count": len(batches), "patients": len(ids)}


@coldstart.ends_initialisation_before_work
def evaluate_batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Evaluate one batch of patients (the distributed map's item)."""
    return service.evaluate_batch(event)


@coldstart.ends_initialisation_before_work
def summarise_run_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Write the run's summary onto its EVAL item: failed if a step failed, else succeeded (failures listed)."""
    evaluated, written, failures, count = service.summarise(event.get("results") or [])
    error = event.get("error")
    status = "failed" if error else "succeeded"
    billing.finish_evaluation(
        org_id=str(event["org_id"]),
        deployment_id=str(event["deployment_id"]),
        evaluation_id=str(event["evaluation_id"]),
        status=status,
        patients_evaluated=evaluated,
        records_written=written,
        failures=failures,
        failure_count=count,
    )
    logger.info(
        "evaluation finished",
        evaluation_id=event["evaluation_id"],
        status=status,
        patients=evaluated,
        records=written,
        failures=count,
        step_error=(error or {}).get("Error") if isinstance(error, dict) else None,
    )
    return {
        "evaluation_id": event["evaluation_id"],
        "status": status,
        "patients_evaluated": evaluated,
        "records_written": written,
        "failure_count": count,
    }


@coldstart.ends_initialisation_before_work
def monthly_trigger_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Start run 1 of the month that just ended for every billing-enabled deployment (scheduled monthly)."""
    month = service.trigger_month(event or {})
    started = absorbed = failed = 0
    for org_id, deployment_id in billing.iter_registered_deployments():
        try:
            outcome = service.trigger_deployment(org_id, deployment_id, month)
        except Exception as exc:  # one deployment must not stop the others
            logger.error("evaluation trigger failed", deployment_id=deployment_id, error_type=type(exc).__name__)
            failed += 1
            continue
        started += outcome == "started"
        absorbed += outcome == "absorbed"
    logger.info("monthly trigger done", month=month, started=started, absorbed=absorbed, failed=failed)
    return {"month": month, "started": started, "absorbed": absorbed, "failed": failed}
