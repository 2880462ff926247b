"""Readings use case: a batch of device or manual readings, each counted once per patient-local day."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import audit
from rpm_billing.db import readings as repo
from rpm_billing.db.time_tracking import Marker, TransactionRefused, send
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


def ingest(
    ctx: PatientContext, principal: Principal, readings: list[ReadingIn], idem: Idempotency, request_id: str
) -> tuple[int, dict[str, Any]]:
    """Store a batch; replays of a reading id change nothing. Two requests for up to 100 readings."""
    scope = ctx.scope
    batch = _localise(ctx, readings)
    days = sorted({reading.local_date.isoformat() for reading in batch})
    months = sorted({day[:7] for day in days})
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
    first_day = min(new_by_day) if new_by_day else None
    try:
        for transaction in repo.batch_transactions(scope, new_by_day, new_days, first_day, marker, record):
            send(transaction)
    except TransactionRefused as refused:
        if "marker" in refused.failed:
            return _replayed(idem, principal.user_id)
        if "enrollment" in refused.failed:
            raise Conflict("the patient is not enrolled for billing") from None
        raise
    logger.info("readings stored", accepted=accepted, already_known=already, days=len(days))
    return 200, response
