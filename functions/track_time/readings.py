"""Readings use case: a batch of device or manual readings, each counted once per patient-local day."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import audit
from rpm_billing.db import readings as repo
from rpm_billing.db.client import from_item
from rpm_billing.db.time_tracking import Marker, Scope, TransactionRefused, send
from rpm_billing.errors import Conflict, invalid_field
from rpm_billing.observability import logger
from track_time.context import PatientContext
from track_time.entries import Idempotency, _replayed
from track_time.models import ReadingIn


def _localise(ctx: PatientContext, readings: list[ReadingIn]) -> list[repo.Reading]:
    now = clock.now()
    result = []
    for index, reading in enumerate(readings):
        if reading.measured_at > now:
            raise invalid_field(f"body.readings.{index}.measured_at", "is in the future")
        result.append(
            repo.Reading(
                reading_id=reading.reading_id,
                measured_at=reading.measured_at.astimezone(clock.now().tzinfo),
                local_date=reading.measured_at.astimezone(ctx.patient_zone).date(),
                type=reading.type,
                source=reading.source,
                device_id=reading.device_id,
                value=reading.value,
                unit=reading.unit,
            )
        )
    return result


def _news(
    batch: list[repo.Reading], known: repo.Known
) -> tuple[dict[str, list[repo.Reading]], int, dict[str, tuple[set[str], set[str]]]]:
    """The new readings per day, the count already stored, and the new (device, manual) days per month."""
    new_by_day: dict[str, list[repo.Reading]] = defaultdict(list)
    already = 0
    for reading in batch:
        day = reading.local_date.isoformat()
        if reading.reading_id in known.reading_ids.get(day, set()):
            already += 1
        else:
            new_by_day[day].append(reading)
    new_days: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for day, day_readings in new_by_day.items():
        month = day[:7]
        for reading in day_readings:
            if reading.source == "device" and day not in known.device_days.get(month, set()):
                new_days[month][0].add(day)
            elif reading.source == "manual" and day not in known.manual_days.get(month, set()):
                new_days[month][1].add(day)
    return new_by_day, already, new_days


def _send_last(
    scope: Scope,
    transaction: list[tuple[str, dict[str, Any]]],
    new_days: list[str],
    closed_months: set[str],
    start: repo.StartChange,
) -> repo.StartChange:
    """Send the batch's last transaction; when the enrollment changed since the read, choose again and resend.

    The enrollment's condition fails for a change since the read only when the start was to be set or moved;
    the cancellation returns the enrollment as it is now, the choice is made again from it, and the last
    attempt's action cannot conflict, so a batch is never refused for that.

    Returns:
        The start change that was committed.

    Raises:
        TransactionRefused: the marker exists (a concurrent replay), or the enrollment is not active.
    """
    attempt = 1
    while True:
        try:
            send(transaction)
            return start
        except TransactionRefused as refused:
            if "marker" in refused.failed or "enrollment" not in refused.failed:
                raise
            current = refused.failed["enrollment"]
            item = from_item(current) if current else None
            if attempt == repo.START_ATTEMPTS or not repo.enrolled_in(item, scope):
                raise
            attempt += 1
            logger.info("enrollment changed during the batch, choosing again", attempt=attempt)
            last = attempt == repo.START_ATTEMPTS
            start = repo.start_change(scope, new_days, item, closed_months, last_attempt=last)
            transaction = repo.with_enrollment(transaction, start.action)


def _log_start(scope: Scope, start: repo.StartChange) -> None:
    """Make a start that moved, or did not move for a late day, visible in the logs (ids and counts only)."""
    if start.outcome == "moved":
        logger.info("first reading day moved back for late-synced readings", patient_id=scope.patient_id)
    elif start.outcome in ("billed", "month_closed", "contended"):
        logger.warning(
            "late-synced reading days fall before a monitoring start that stays",
            patient_id=scope.patient_id,
            reason=start.outcome,
            late_days=len(start.late_days),
        )


def ingest(
    ctx: PatientContext, principal: Principal, readings: list[ReadingIn], idem: Idempotency, request_id: str
) -> tuple[int, dict[str, Any]]:
    """Store a batch; replays of a reading id change nothing. Two requests for up to 100 readings.

    A late-synced day before the episode's ``first_reading_day`` moves it back while the periods are not fixed
    (``repo.start_change``); a change of the enrollment since the read costs one more request per retry.
    """
    scope = ctx.scope
    batch = _localise(ctx, readings)
    days = sorted({reading.local_date.isoformat() for reading in batch})
    months = sorted({day[:7] for day in days} | {repo.period_end_month(days[0])})
    known = repo.read_known(scope, days, months, idem.marker_id)
    if known.marker is not None:
        if known.marker.user_id != principal.user_id or known.marker.body_sha256 != idem.body_sha256:
            raise Conflict("the Idempotency-Key was already used for a different request")
        logger.info("idempotent replay", marker_id=idem.marker_id)
        return known.marker.status_code, known.marker.response
    new_by_day, already, new_days = _news(batch, known)
    accepted = sum(len(items) for items in new_by_day.values())
    response = {
        "accepted": accepted,
        "already_known": already,
        "new_device_days": sorted(day for device, _ in new_days.values() for day in device),
        "new_manual_days": sorted(day for _, manual in new_days.values() for day in manual),
    }
    marker = Marker(idem.marker_id, principal.user_id, idem.body_sha256, "readings", 200, response)
    record = audit.audit_put(
        principal,
        action="readings.ingest",
        target_type="patient",
        target_id=scope.patient_id,
        deployment_id=scope.deployment_id,
        request_id=request_id,
    )
    new_day_list = sorted(new_by_day)
    start = repo.start_change(scope, new_day_list, known.enrollment, known.closed_months)
    transactions = repo.batch_transactions(scope, new_by_day, new_days, start.action, marker, record)
    try:
        for transaction in transactions[:-1]:
            send(transaction)
        start = _send_last(scope, transactions[-1], new_day_list, known.closed_months, start)
    except TransactionRefused as refused:
        if "marker" in refused.failed:
            return _replayed(idem, principal.user_id)
        if "enrollment" in refused.failed:
            raise Conflict("the patient is not enrolled for billing") from None
        raise
    _log_start(scope, start)
    logger.info("readings stored", accepted=accepted, already_known=already, days=len(days))
    return 200, response
