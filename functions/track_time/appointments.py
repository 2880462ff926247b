"""Appointments: schedule a call, complete it (which records the interactive call entry), list them."""

from __future__ import annotations

from typing import Any

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import audit, keys
from rpm_billing.db.client import dynamodb, from_item, query_page
from rpm_billing.db.time_tracking import Entry, TransactionRefused, put_action, send
from rpm_billing.errors import Conflict, NotFound
from rpm_billing.ids import derived_id, new_ulid
from rpm_billing.observability import logger
from rpm_billing.paging import decode_cursor, encode_cursor
from rpm_billing.settings import get_settings
from track_time import entries
from track_time.context import PatientContext
from track_time.entries import Idempotency
from track_time.models import AppointmentIn, CompletionIn


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An appointment as the API returns it."""
    return {
        "appointment_id": item["appointment_id"],
        "patient_id": item["patient_id"],
        "scheduled_at": item["scheduled_at"],
        "duration_minutes": int(item["duration_minutes"]),
        "status": item["status"],
        "entry_id": item.get("entry_id"),
        "offline": bool(item.get("offline", False)),
        "created_by": item["created_by"],
        "created_at": item["created_at"],
    }


def _item(ctx: PatientContext, principal: Principal, appointment_id: str, body: AppointmentIn, sha: str) -> dict:
    return {
        "PK": ctx.scope.pk,
        "SK": keys.appointment_sk(appointment_id),
        "type": "appointment",
        "org_id": ctx.scope.org_id,
        "deployment_id": ctx.scope.deployment_id,
        "patient_id": ctx.scope.patient_id,
        "appointment_id": appointment_id,
        "scheduled_at": entries.repo.started_iso(body.scheduled_at).isoformat(),
        "duration_minutes": body.duration_minutes,
        "status": "scheduled",
        "created_by": principal.user_id,
        "created_at": clock.now().isoformat(),
        "body_sha256": sha,
    }


def _get(ctx: PatientContext, appointment_id: str) -> dict[str, Any] | None:
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(ctx.scope.pk, keys.appointment_sk(appointment_id)),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return from_item(item) if item else None


def schedule(
    ctx: PatientContext, principal: Principal, body: AppointmentIn, key: str | None, sha: str, request_id: str
) -> tuple[int, dict[str, Any]]:
    """Schedule a call (one transaction); with the same Idempotency-Key a retry returns the same appointment."""
    appointment_id = derived_id(principal.user_id, "appointment", key) if key else new_ulid()
    item = _item(ctx, principal, appointment_id, body, sha)
    try:
        send(
            [
                ("appointment", put_action(item, "attribute_not_exists(PK)")),
                ("enrollment", entries.repo.enrollment_check(ctx.scope)),
                (
                    "audit",
                    audit.audit_put(
                        principal,
                        action="appointment.schedule",
                        target_type="appointment",
                        target_id=appointment_id,
                        deployment_id=ctx.scope.deployment_id,
                        request_id=request_id,
                    ),
                ),
            ]
        )
    except TransactionRefused as refused:
        if "appointment" in refused.failed:
            existing = _get(ctx, appointment_id)
            if existing and existing.get("created_by") == principal.user_id and existing.get("body_sha256") == sha:
                return 201, {"appointment": public(existing)}
            raise Conflict("the Idempotency-Key was already used for a different request") from None
        raise Conflict("the patient is not enrolled for billing") from None
    logger.info("appointment scheduled", appointment_id=appointment_id)
    return 201, {"appointment": public(item)}


def _completion(ctx: PatientContext, appointment_id: str, entry: Entry) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "appointment",
            {
                "Update": {
                    "TableName": get_settings().table_name,
                    "Key": keys.key(ctx.scope.pk, keys.appointment_sk(appointment_id)),
                    "UpdateExpression": "SET #status = :completed, entry_id = :entry, completed_at = :now",
                    "ConditionExpression": "attribute_exists(PK) AND #status = :scheduled",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":completed": {"S": "completed"},
                        ":scheduled": {"S": "scheduled"},
                        ":entry": {"S": entry.entry_id},
                        ":now": {"S": clock.now().isoformat()},
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        )
    ]


def complete(
    ctx: PatientContext,
    principal: Principal,
    appointment_id: str,
    body: CompletionIn,
    idem: Idempotency,
    request_id: str,
) -> tuple[int, dict[str, Any]]:
    """Record the appointment's call as an interactive ``call`` entry, in the same transaction as the update."""
    if len(appointment_id) > 64:
        raise NotFound("appointment not found")
    return entries.record(
        ctx,
        principal,
        entry_id=idem.marker_id,
        activity="call",
        started_at=body.started_at,
        duration_seconds=body.duration_seconds,
        modality=body.modality,
        note=body.note,
        idem=idem,
        request_id=request_id,
        appointment_id=appointment_id,
        extra=lambda entry: _completion(ctx, appointment_id, entry),
    )


def log_offline(
    ctx: PatientContext, principal: Principal, body: AppointmentIn, idem: Idempotency, request_id: str
) -> tuple[int, dict[str, Any]]:
    """Log a call that was never scheduled: allowed only when the deployment enables offline appointments."""
    if not ctx.offline_appointments:
        raise Conflict("offline appointments are not enabled for this deployment; schedule the call first")
    completed = body.completed
    if completed is None:  # pragma: no cover - the route sends only bodies with completion details
        raise Conflict("an offline appointment needs its completion details")
    appointment_id = derived_id(principal.user_id, "offline", idem.marker_id)
    item = _item(ctx, principal, appointment_id, body, idem.body_sha256)

    def appointment_put(entry: Entry) -> list[tuple[str, dict[str, Any]]]:
        return [("appointment_new", put_action(done, "attribute_not_exists(PK)"))]

    done = {**item, "status": "completed", "entry_id": idem.marker_id, "offline": True}
    return entries.record(
        ctx,
        principal,
        entry_id=idem.marker_id,
        activity="call",
        started_at=completed.started_at,
        duration_seconds=completed.duration_seconds,
        modality=completed.modality,
        note=completed.note,
        idem=idem,
        request_id=request_id,
        appointment_id=appointment_id,
        extra=appointment_put,
        response_extra={"appointment": public(done)},
        field="body.completed.started_at",
    )


def list_page(ctx: PatientContext, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the patient's appointments: ``{"items", "next_cursor"}`` (api.md list shape)."""
    after = decode_cursor(cursor, keys.appointment_sk(""))
    items, last = query_page(ctx.scope.pk, keys.appointment_sk(""), limit, after)
    return {"items": [public(from_item(item)) for item in items], "next_cursor": encode_cursor(last)}
