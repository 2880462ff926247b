"""Time-entry use cases: record, list, correct and remove, each one transaction (see ``db.time_tracking``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import audit, keys
from rpm_billing.db import time_tracking as repo
from rpm_billing.db.time_tracking import Entry, Marker, MonthDelta, TransactionRefused
from rpm_billing.errors import Conflict, NotFound, Unavailable, invalid_field
from rpm_billing.observability import logger
from rpm_billing.paging import decode_cursor, encode_cursor
from track_time.context import PatientContext

#: Label -> action; the labels name which condition failed when a transaction is cancelled.
Actions = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Idempotency:
    """The verified user's Idempotency-Key, reduced to a marker id, and the request's fingerprint."""

    marker_id: str
    body_sha256: str


def month_of(instant: datetime, ctx: PatientContext) -> str:
    """The practice's calendar month of an instant."""
    return instant.astimezone(ctx.practice_zone).strftime("%Y-%m")


def check_start(started_at: datetime, path: str = "body.started_at") -> datetime:
    """Whole-second UTC start, refused when in the future."""
    started = repo.started_iso(started_at)
    if started > clock.now():
        raise invalid_field(path, "is in the future")
    return started


def _replayed(idem: Idempotency, user_id: str) -> tuple[int, dict[str, Any]]:
    marker = repo.get_marker(idem.marker_id)
    if marker is None:
        raise Unavailable("a concurrent request with this Idempotency-Key is in flight; retry")
    if marker.user_id != user_id or marker.body_sha256 != idem.body_sha256:
        raise Conflict("the Idempotency-Key was already used for a different request")
    logger.info("idempotent replay", marker_id=idem.marker_id)
    return marker.status_code, marker.response


def _store_replay(idem: Idempotency, response: dict[str, Any]) -> None:
    """Give the marker the response with the total read back, so that a replay answers the same.

    The entry is committed whatever happens here: if the update fails, the caller still gets its response and a
    replay reports the total as estimated before the write (logged, with no PHI).
    """
    try:
        repo.store_marker_response(idem.marker_id, response)
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        logger.warning(
            "replay response keeps the estimated month total",
            marker_id=idem.marker_id,
            error_code=code or type(error).__name__,
        )


def _refusal(refused: TransactionRefused, field: str) -> None:
    """Raise the definitive refusal among the failed conditions, if any (else the month total was stale)."""
    failed = refused.failed
    if "enrollment" in failed:
        raise Conflict("the patient is not enrolled for billing")
    if "appointment" in failed:
        if not failed["appointment"]:
            raise NotFound("appointment not found")
        raise Conflict("the appointment is not scheduled (already completed or logged)")
    if "month" in failed and repo.closed_in(failed["month"]):
        raise Conflict("the month is closed for billing; time entries can no longer change")
    if "busy" in failed:
        raise invalid_field(field, "overlaps another entry of the same clinician on this patient")
    if "entry" in failed:
        raise Conflict("the entry changed meanwhile; reload it and retry")


def commit(
    ctx: PatientContext,
    month: str,
    seconds: int,
    build: Callable[[repo.Expected, int], tuple[Actions, dict[str, Any]]],
    *,
    idem: Idempotency | None,
    principal: Principal,
    field: str = "body.started_at",
) -> tuple[int, dict[str, Any]] | dict[str, Any]:
    """Send the transaction ``build(expected_total, total_after)`` until it commits.

    The first attempts expect the month total this container last saw, so that the response reports the exact
    total in one request. When other writers keep moving the total (``EXACT_ATTEMPTS`` stale attempts), the
    transaction is sent without that expectation and the total is read after the commit: progress is
    guaranteed and the reported total includes this change.

    Returns the response built for the committed attempt, or ``(status, response)`` of a replay.
    """
    for attempt in range(repo.MAX_ATTEMPTS):
        exact = attempt < repo.EXACT_ATTEMPTS
        known = repo.expected_total(ctx.scope, month)
        expected: repo.Expected = known if exact else repo.UNCHECKED
        after = (known or 0) + seconds
        actions, response = build(expected, after)
        try:
            repo.send(actions)
        except TransactionRefused as refused:
            if idem is not None and "marker" in refused.failed:
                return _replayed(idem, principal.user_id)
            _refusal(refused, field)
            repo.remember_total(ctx.scope, month, repo.total_of(refused.failed.get("month")))
            logger.info("month total moved, retrying", month=month, attempt=attempt + 1)
            continue
        if not exact:
            after = repo.read_total(ctx.scope, month)
            response["month_total_seconds"] = after
            if idem is not None:
                _store_replay(idem, response)
        repo.remember_total(ctx.scope, month, after)
        return response
    raise Unavailable("too many concurrent changes to this patient's month; retry")


def new_entry_actions(
    ctx: PatientContext,
    entry: Entry,
    principal: Principal,
    request_id: str,
    expected: repo.Expected,
    after: int,
    idem: Idempotency,
    extra: Actions,
    response_extra: dict[str, Any],
) -> tuple[Actions, dict[str, Any]]:
    """The labelled actions of one new entry and the 201 response they store in the marker."""
    scope = ctx.scope
    response = {"entry": entry.public(scope.patient_id), "month_total_seconds": after, **response_extra}
    marker = Marker(
        idem.marker_id, principal.user_id, idem.body_sha256, keys.entry_sk(entry.month, entry.entry_id), 201, response
    )
    delta = MonthDelta(
        entry.month,
        seconds=entry.duration_seconds,
        entries=1,
        interactive=1 if entry.interactive else 0,
        set_facts={entry.entry_id: entry.fact()},
    )
    busy = repo.busy_actions(scope.pk, entry.clinician_id, entry.entry_id, None, repo.busy_of(entry))
    actions: Actions = [
        ("marker", repo.marker_action(marker)),
        ("entry", repo.put_action(entry.item(scope), "attribute_not_exists(PK)")),
        ("month", repo.month_action(scope, delta, expected)),
        ("enrollment", repo.enrollment_check(scope)),
        *[("busy", action) for action in busy],
        *extra,
        (
            "audit",
            audit.audit_put(
                principal,
                action="time_entry.create",
                target_type="time_entry",
                target_id=entry.entry_id,
                deployment_id=scope.deployment_id,
                request_id=request_id,
            ),
        ),
    ]
    return actions, response


def record(
    ctx: PatientContext,
    principal: Principal,
    *,
    entry_id: str,
    activity: str,
    started_at: datetime,
    duration_seconds: int,
    modality: str | None,
    note: str | None,
    idem: Idempotency,
    request_id: str,
    appointment_id: str | None = None,
    extra: Callable[[Entry], Actions] | None = None,
    response_extra: dict[str, Any] | None = None,
    field: str = "body.started_at",
) -> tuple[int, dict[str, Any]]:
    """Record one time entry of the verified caller (one transaction; a replay returns the stored response).

    ``field`` is the request path of ``started_at``, named when it is refused (future or overlapping).
    """
    started = check_start(started_at, field)
    now = clock.now().isoformat()
    entry = Entry(
        entry_id=entry_id,
        month=month_of(started, ctx),
        activity=activity,
        started_at=started,
        duration_seconds=duration_seconds,
        clinician_id=principal.user_id,
        clinical_role=principal.clinical_role.value,
        interactive=activity == "call",
        modality=modality,
        note=note,
        appointment_id=appointment_id,
        created_at=now,
        updated_at=now,
    )
    extra_actions = extra(entry) if extra else []
    result = commit(
        ctx,
        entry.month,
        duration_seconds,
        lambda expected, after: new_entry_actions(
            ctx, entry, principal, request_id, expected, after, idem, extra_actions, response_extra or {}
        ),
        idem=idem,
        principal=principal,
        field=field,
    )
    if isinstance(result, tuple):
        return result
    logger.info("time entry recorded", entry_id=entry_id, month=entry.month, seconds=duration_seconds)
    return 201, result


# Corrections ------------------------------------------------------------------------------------------------


def _load(ctx: PatientContext, entry_id: str) -> Entry:
    entry = repo.find_entry(ctx.scope, entry_id) if len(entry_id) <= 64 else None
    if entry is None or entry.deleted:
        raise NotFound("time entry not found")
    return entry


def _entry_put(ctx: PatientContext, entry: Entry, old_version: int, extra: dict[str, Any]) -> dict[str, Any]:
    item = {**entry.item(ctx.scope), **extra}
    action = repo.put_action(item, "version = :v")
    action["Put"]["ExpressionAttributeValues"] = {":v": {"N": str(old_version)}}
    return action


def _change_actions(
    ctx: PatientContext,
    principal: Principal,
    old: Entry,
    new: Entry | None,
    reason: str,
    request_id: str,
    expected: repo.Expected,
    after: int,
) -> tuple[Actions, dict[str, Any]]:
    scope = ctx.scope
    now = clock.now().isoformat()
    if new is None:
        stored = replace(old, deleted=True, deleted_reason=reason, updated_at=now, version=old.version + 1)
        delta = MonthDelta(old.month, -old.duration_seconds, -1, -int(old.interactive), remove_facts=[old.entry_id])
        extra: dict[str, Any] = {}
        action = "time_entry.delete"
        response: dict[str, Any] = {"entry_id": old.entry_id, "deleted": True, "month_total_seconds": after}
    else:
        stored = replace(new, updated_at=now, version=old.version + 1)
        delta = MonthDelta(
            old.month,
            new.duration_seconds - old.duration_seconds,
            0,
            int(new.interactive) - int(old.interactive),
            set_facts={new.entry_id: new.fact()},
        )
        extra = {"updated_reason": reason}
        action = "time_entry.update"
        response = {"entry": stored.public(scope.patient_id), "month_total_seconds": after}
    busy = repo.busy_actions(
        scope.pk, old.clinician_id, old.entry_id, repo.busy_of(old), repo.busy_of(new) if new else None
    )
    actions: Actions = [
        ("entry", _entry_put(ctx, stored, old.version, extra)),
        ("month", repo.month_action(scope, delta, expected)),
        *[("busy", item) for item in busy],
        (
            "audit",
            audit.audit_put(
                principal,
                action=action,
                target_type="time_entry",
                target_id=old.entry_id,
                deployment_id=scope.deployment_id,
                request_id=request_id,
            ),
        ),
    ]
    return actions, response


def correct(
    ctx: PatientContext, principal: Principal, entry_id: str, changes: dict[str, Any], reason: str, request_id: str
) -> dict[str, Any]:
    """Correct an entry (same month only); audited, refused once the month is closed."""
    old = _load(ctx, entry_id)
    activity = changes.get("activity") or old.activity
    modality = changes.get("modality", old.modality if activity == "call" else None)
    if activity == "call" and modality is None:
        raise invalid_field("body.modality", "a call needs a modality (audio or video)")
    if activity != "call" and changes.get("modality") is not None:
        raise invalid_field("body.modality", "only a call has a modality")
    started = check_start(changes["started_at"]) if changes.get("started_at") else old.started_at
    if month_of(started, ctx) != old.month:
        raise invalid_field("body.started_at", "cannot move an entry to another month; remove it and log it again")
    new = replace(
        old,
        activity=activity,
        modality=modality if activity == "call" else None,
        interactive=activity == "call",
        started_at=started,
        duration_seconds=changes.get("duration_seconds") or old.duration_seconds,
        note=changes.get("note", old.note),
    )
    result = commit(
        ctx,
        old.month,
        new.duration_seconds - old.duration_seconds,
        lambda expected, after: _change_actions(ctx, principal, old, new, reason, request_id, expected, after),
        idem=None,
        principal=principal,
    )
    if isinstance(result, tuple):  # pragma: no cover - without an idempotency marker there is no replay
        raise Conflict("unexpected replay")
    logger.info("time entry corrected", entry_id=entry_id, month=old.month)
    return result


def remove(ctx: PatientContext, principal: Principal, entry_id: str, reason: str, request_id: str) -> dict[str, Any]:
    """Remove an entry: the item stays (deleted, with its reason) for audit, its month fact goes."""
    old = _load(ctx, entry_id)
    result = commit(
        ctx,
        old.month,
        -old.duration_seconds,
        lambda expected, after: _change_actions(ctx, principal, old, None, reason, request_id, expected, after),
        idem=None,
        principal=principal,
    )
    if isinstance(result, tuple):  # pragma: no cover - without an idempotency marker there is no replay
        raise Conflict("unexpected replay")
    logger.info("time entry removed", entry_id=entry_id, month=old.month)
    return result


# Listing ----------------------------------------------------------------------------------------------------


def list_month(ctx: PatientContext, month: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the month's entries: ``{"month", "items", "next_cursor"}`` (api.md list shape)."""
    start = decode_cursor(cursor, keys.entry_sk(month, ""))
    entries, last = repo.list_entries(ctx.scope, month, limit, start)
    return {
        "month": month,
        "items": [entry.public(ctx.scope.patient_id) for entry in entries],
        "next_cursor": encode_cursor(last),
    }
