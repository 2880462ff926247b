"""Export jobs: the job item, the per-user daily quota, the worker's state changes and the presigned link.

Request budgets:

- ``create_export``: one ``TransactWriteItems`` (job Put + quota counter Update + audit Put, and the idempotency
  marker when an ``Idempotency-Key`` was sent). The quota counter's condition (``count < quota``) makes exactly
  ``quota`` requests succeed per user and day whatever the concurrency; the rest are 429.
- ``get_export``: one ``GetItem``; ``presign_download``: no request to DynamoDB for the link itself plus one
  ``PutItem`` of its audit record.
- The worker: one ``UpdateItem`` to claim the job, one per progress step, one to finish.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import keys
from rpm_billing.db.audit import audit_put, audit_record
from rpm_billing.db.client import dynamodb, from_item, s3, to_item, to_value
from rpm_billing.errors import Conflict, TooManyRequests
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

#: Presigned links never live longer than this, whatever the settings say (security.md R17).
PRESIGN_CAP_SECONDS = 900
#: The generic file name offered to the browser; the object key itself is opaque.
DOWNLOAD_NAME = "billing-export.zip"
#: Export jobs (and their objects, by the bucket's lifecycle rule) are kept this long.
JOB_RETENTION_DAYS = 7
#: Quota counters outlive their day by this much, then DynamoDB TTL removes them.
QUOTA_RETENTION_SECONDS = 2 * 86400
#: Idempotency markers are kept 48 hours.
IDEMPOTENCY_RETENTION_SECONDS = 48 * 3600
#: A ``running`` job whose heartbeat is older than this may be taken over by a redelivered invocation.
STALE_RUNNING_SECONDS = 20 * 60

STATUSES = ("pending", "running", "succeeded", "failed")


def object_key(org_id: str, export_id: str) -> str:
    """The opaque S3 key of an export's ZIP."""
    return f"exports/{org_id}/{export_id}.zip"


def idempotency_hash(principal: Principal, idempotency_key: str) -> str:
    """The marker id of a caller's ``Idempotency-Key`` on the export route (scoped to tenant, user and route)."""
    raw = "\x1f".join(("export", principal.org_id, principal.user_id, idempotency_key))
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    """The outcome of ``create_export``: the job's id and the response body (the first one, on a replay)."""

    export_id: str
    body: dict[str, Any]
    replayed: bool = False


def _job_item(
    principal: Principal,
    export_id: str,
    deployment_id: str,
    request: dict[str, Any],
    patient_count: int,
    at: datetime,
) -> dict[str, Any]:
    return {
        "PK": keys.export_pk(principal.org_id, export_id),
        "SK": keys.EXPORT_SK,
        "type": "export",
        "org_id": principal.org_id,
        "deployment_id": deployment_id,
        "export_id": export_id,
        "requested_by": principal.user_id,
        "request": request,
        "status": "pending",
        "patient_count": patient_count,
        "patients_written": 0,
        "files": [],
        "object_key": object_key(principal.org_id, export_id),
        "created_at": at.isoformat(),
        "expires_at": int(at.timestamp()) + JOB_RETENTION_DAYS * 86400,
    }


def _quota_update(principal: Principal, at: datetime) -> dict[str, Any]:
    day = at.date().isoformat()
    return {
        "Update": {
            "TableName": get_settings().table_name,
            "Key": keys.key(keys.quota_pk(principal.org_id, principal.user_id, day), keys.QUOTA_SK),
            "UpdateExpression": "ADD #count :one SET #type = :type, #org = :org, #exp = :exp",
            "ConditionExpression": "attribute_not_exists(#count) OR #count < :quota",
            "ExpressionAttributeNames": {"#count": "count", "#type": "type", "#org": "org_id", "#exp": "expires_at"},
            "ExpressionAttributeValues": {
                ":one": to_value(1),
                ":quota": to_value(get_settings().export_daily_quota),
                ":type": to_value("export_quota"),
                ":org": to_value(principal.org_id),
                ":exp": to_value(int(at.timestamp()) + QUOTA_RETENTION_SECONDS),
            },
        }
    }


def _marker_put(principal: Principal, marker: str, body_sha256: str, export_id: str, body: dict[str, Any]) -> Any:
    at = clock.now()
    return {
        "Put": {
            "TableName": get_settings().table_name,
            "Item": to_item(
                {
                    "PK": keys.idempotency_pk(marker),
                    "SK": keys.IDEMPOTENCY_SK,
                    "type": "idempotency",
                    "user_id": principal.user_id,
                    "body_sha256": body_sha256,
                    "target": keys.export_pk(principal.org_id, export_id),
                    "response": json.dumps(body),
                    "status_code": 202,
                    "expires_at": int(at.timestamp()) + IDEMPOTENCY_RETENTION_SECONDS,
                }
            ),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def _cancellation_codes(exc: Exception) -> list[str]:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    codes = [str(reason.get("Code") or "None") for reason in reasons]
    if codes:
        return codes
    # Limitation: some emulators put the reasons only in the message ("[None, ConditionalCheckFailed]").
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message") or "")
    inside = message[message.find("[") + 1 : message.rfind("]")] if "[" in message else ""
    return [part.strip() for part in inside.split(",")] if inside else []


def _replay(principal: Principal, marker: str, body_sha256: str) -> Created:
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.idempotency_pk(marker), keys.IDEMPOTENCY_SK),
        ConsistentRead=True,
    )
    item = from_item(response.get("Item") or {})
    if not item or item.get("user_id") != principal.user_id:
        raise Conflict("the request conflicts with a concurrent one; retry")
    if item.get("body_sha256") != body_sha256:
        raise Conflict("this Idempotency-Key was already used with another request body")
    body = json.loads(str(item["response"]))
    return Created(export_id=str(body["export_id"]), body=body, replayed=True)


def create_export(
    principal: Principal,
    *,
    export_id: str,
    deployment_id: str,
    request: dict[str, Any],
    patient_count: int,
    request_id: str = "",
    idempotency_key: str | None = None,
    body_sha256: str = "",
) -> Created:
    """Create a pending export job, counting it against the caller's daily quota, atomically with its audit.

    Args:
        principal: The verified caller (tenant and quota owner).
        export_id: The new job's ULID.
        deployment_id: The deployment exported (already checked to be in the caller's scope).
        request: The validated request, stored on the job for the worker.
        patient_count: Patients the request covers as counted at request time.
        request_id: API Gateway's request id, for the audit record.
        idempotency_key: The caller's ``Idempotency-Key``, if sent.
        body_sha256: Hash of the request body, stored with the idempotency marker.

    Returns:
        The job id and response body; on a replay of the same key and body, the first response.

    Raises:
        TooManyRequests: The caller's daily quota is used up.
        Conflict: The ``Idempotency-Key`` was used with another body.
    """
    from botocore.exceptions import ClientError

    at = clock.now()
    body = {"export_id": export_id, "status": "pending", "patient_count": patient_count}
    job = _job_item(principal, export_id, deployment_id, request, patient_count, at)
    actions: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": get_settings().table_name,
                "Item": to_item(job),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        },
        _quota_update(principal, at),
        audit_put(
            principal,
            action="export.create",
            target_type="export",
            target_id=export_id,
            deployment_id=deployment_id,
            request_id=request_id,
            at=at,
        ),
    ]
    marker = idempotency_hash(principal, idempotency_key) if idempotency_key else None
    if marker:
        actions.append(_marker_put(principal, marker, body_sha256, export_id, body))
    try:
        dynamodb().transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        codes = _cancellation_codes(exc)
        if marker and len(codes) > 3 and codes[3] == "ConditionalCheckFailed":
            return _replay(principal, marker, body_sha256)
        if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            logger.info("export quota exhausted", quota=get_settings().export_daily_quota)
            raise TooManyRequests("the daily export quota is used up; try again tomorrow") from None
        raise Conflict("the request conflicts with a concurrent one; retry") from None
    return Created(export_id=export_id, body=body)


def get_export(org_id: str, export_id: str) -> dict[str, Any] | None:
    """The job item of an export of ``org_id`` (another tenant's id is simply missing: the org is in the key)."""
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.export_pk(org_id, export_id), keys.EXPORT_SK),
        ConsistentRead=True,
    )
    raw = response.get("Item")
    return from_item(raw) if raw else None


def _update(
    org_id: str,
    export_id: str,
    changes: dict[str, Any],
    condition: str | None = None,
    *,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    from botocore.exceptions import ClientError

    params: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "Key": keys.key(keys.export_pk(org_id, export_id), keys.EXPORT_SK),
        "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
        "ExpressionAttributeNames": {**{f"#f{i}": name for i, name in enumerate(changes)}, **(names or {})},
        "ExpressionAttributeValues": {
            **{f":v{i}": to_value(value) for i, value in enumerate(changes.values())},
            **(values or {}),
        },
    }
    if condition:
        params["ConditionExpression"] = condition
    try:
        dynamodb().update_item(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def claim_job(org_id: str, export_id: str) -> bool:
    """Move a job from ``pending`` (or a stale ``running``) to ``running``; ``False`` if another worker has it.

    Asynchronous invocations can be delivered more than once: only one delivery builds the ZIP.
    """
    at = clock.now()
    stale = (at - timedelta(seconds=STALE_RUNNING_SECONDS)).isoformat()
    return _update(
        org_id,
        export_id,
        {"status": "running", "started_at": at.isoformat(), "heartbeat_at": at.isoformat(), "patients_written": 0},
        "attribute_exists(PK) AND (#st = :pending OR (#st = :running AND #hb < :stale))",
        names={"#st": "status", "#hb": "heartbeat_at"},
        values={":pending": to_value("pending"), ":running": to_value("running"), ":stale": to_value(stale)},
    )


def record_progress(org_id: str, export_id: str, patients_written: int) -> None:
    """Store how many patients the running job has written (and that it is alive)."""
    _update(org_id, export_id, {"patients_written": patients_written, "heartbeat_at": clock.now().isoformat()})


def finish_job(
    org_id: str,
    export_id: str,
    *,
    status: str,
    files: list[dict[str, Any]] | None = None,
    patient_count: int | None = None,
    patients_written: int | None = None,
    error: str | None = None,
) -> None:
    """Mark a job ``succeeded`` or ``failed``; ``error`` is a short code, never a message with data in it."""
    values: dict[str, Any] = {"status": status, "finished_at": clock.now().isoformat()}
    if files is not None:
        values["files"] = files
    if patient_count is not None:
        values["patient_count"] = patient_count
    if patients_written is not None:
        values["patients_written"] = patients_written
    if error is not None:
        values["error"] = error
    _update(org_id, export_id, values)


def presign_download(principal: Principal, job: dict[str, Any], *, request_id: str = "") -> tuple[str, datetime]:
    """Mint a short-lived SigV4 GET link for a finished export and audit that it was handed out.

    Args:
        principal: The caller receiving the link.
        job: The succeeded job item.
        request_id: API Gateway's request id, for the audit record.

    Returns:
        The URL (give it to the caller only; never log it) and the instant it expires.
    """
    ttl = min(get_settings().presign_ttl_seconds, PRESIGN_CAP_SECONDS)
    at = clock.now()
    record = audit_record(
        principal,
        action="export.presign",
        target_type="export",
        target_id=str(job["export_id"]),
        deployment_id=str(job.get("deployment_id") or ""),
        request_id=request_id,
        at=at,
    )
    dynamodb().put_item(
        TableName=get_settings().table_name, Item=to_item(record), ConditionExpression="attribute_not_exists(PK)"
    )
    url = s3().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": get_settings().exports_bucket,
            "Key": str(job["object_key"]),
            "ResponseContentDisposition": f'attachment; filename="{DOWNLOAD_NAME}"',
            "ResponseContentType": "application/zip",
        },
        ExpiresIn=ttl,
        HttpMethod="GET",
    )
    return url, at + timedelta(seconds=ttl)
