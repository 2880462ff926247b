"""Readings repository: day items, the month aggregates' day sets and the enrollment's first reading day.

A batch of up to 100 readings costs two requests (architecture §4):

1. one ``BatchGetItem`` of the touched day items (their ``reading_ids``), month aggregates (their day sets and
   ``closed``), the enrollment and the batch's idempotency marker, to answer how many readings and days are new
   (or replay) and how the batch treats the monitoring start;
2. one ``TransactWriteItems``: per day ``SET R#{reading_id} = if_not_exists(...)`` and ``ADD reading_ids``,
   per month ``ADD device_days`` / ``manual_days``, the enrollment (``status = active`` in the deployment,
   and the ``first_reading_day`` change chosen by ``start_change``), the marker and the audit record.

Set ``ADD`` and ``if_not_exists`` make a replayed reading a no-op whatever happens between the two requests;
the counts in the response are computed from the read. When a batch touches more than 100 items the writes
are split into transactions of at most 100 actions (the marker and the enrollment go in the last one).

The first reading day. Without an explicit ``monitoring_start`` it anchors the 30-day periods (billing-rules
§1, §5.2). Devices buffer readings offline and sync late, so a batch whose earliest new day is before the
stored ``first_reading_day`` moves it back, but only while the periods are not fixed: never over an explicit
``monitoring_start``, never once the monthly evaluation has written a record of a 30-day-period code in the
episode (``periods_billed``, or ``setup_billed`` of items written before that flag existed), and never when the
moved first period would end in a month the evaluation has closed (its codes would never be billed). Moving
the start after that would shift periods whose records were claimed (R-D4). A late day before a fixed start
is stored like any other and added to the enrollment's ``days_before_start``, which the engine reports.

The choice is made from the enrollment as read, so the enrollment's condition only guards against a change
between the read and the write (another batch moving the start, the evaluation fixing it, an edit of
``monitoring_start``). Such a conflict cancels the transaction with the current item
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``); the caller chooses again from it and resends
(``start_change``, ``with_enrollment``), and its last attempt uses an action that cannot conflict.
Limitation: a month the evaluation closes between the read and the write is not seen (it is another item);
that needs the monthly run and a late batch of the same patient within the same few milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, from_item, to_value
from rpm_billing.db.time_tracking import Marker, Scope, marker_action, marker_from_item
from rpm_billing.settings import get_settings

MAX_ACTIONS = 100
BATCH_GET_KEYS = 100
UNPROCESSED_RETRIES = 5

#: Sends of a batch's last transaction when the enrollment changes between the read and the write; the last
#: one carries an enrollment action that cannot conflict (it only checks the enrollment is active).
START_ATTEMPTS = 3

#: Days in a 30-day period (billing-rules §1).
PERIOD_DAYS = 30

#: Enrollment attributes a batch reads (with ``PK``/``SK``): whether it is active and what fixes the start.
ENROLLMENT_FIELDS = (
    "status",
    "deployment_id",
    "monitoring_start",
    "first_reading_day",
    "setup_billed",
    "periods_billed",
)


@dataclass(frozen=True)
class Reading:
    """One reading with its patient-local date. ``value`` is PHI."""

    reading_id: str
    measured_at: datetime
    local_date: date
    type: str
    source: str
    device_id: str | None
    value: Mapping[str, Any] | None
    unit: str | None

    def attribute(self) -> dict[str, Any]:
        return {
            "measured_at": self.measured_at.isoformat(),
            "type": self.type,
            "source": self.source,
            "device_id": self.device_id,
            "value": dict(self.value) if self.value is not None else None,
            "unit": self.unit,
        }


@dataclass
class Known:
    """What the table holds for a batch: reading ids per day, day sets and closed months, the marker, the enrollment.

    ``enrollment`` is the plain item (only ``ENROLLMENT_FIELDS``), ``None`` when the patient was never enrolled.
    """

    reading_ids: dict[str, set[str]]
    device_days: dict[str, set[str]]
    manual_days: dict[str, set[str]]
    marker: Marker | None
    enrollment: dict[str, Any] | None = None
    closed_months: set[str] = field(default_factory=set)


def period_end_month(first_day: str) -> str:
    """The month in which a first 30-day period starting on ``first_day`` ends (``YYYY-MM``)."""
    return (date.fromisoformat(first_day) + timedelta(days=PERIOD_DAYS - 1)).isoformat()[:7]


def read_known(scope: Scope, days: Sequence[str], months: Sequence[str], marker_id: str) -> Known:
    """One ``BatchGetItem`` (per 100 keys) of the day items, month aggregates, the enrollment and the marker.

    Args:
        scope: The patient.
        days: The batch's patient-local days.
        months: The months whose aggregates to read: the batch's, and the month in which a first period starting
            on the batch's earliest day would end (whether it is ``closed`` decides if the start may move there).
        marker_id: The batch's idempotency marker.

    Returns:
        What the table holds.
    """
    table = get_settings().table_name
    wanted = [keys.key(scope.pk, keys.reading_day_sk(day)) for day in days]
    wanted += [keys.key(scope.pk, keys.month_sk(month)) for month in dict.fromkeys(months)]
    wanted.append(keys.key(scope.pk, keys.ENROLLMENT_SK))
    wanted.append(keys.key(keys.idempotency_pk(marker_id), keys.IDEMPOTENCY_SK))
    names = {f"#{name}": name for name in ("PK", "SK", "reading_ids", "device_days", "manual_days", "user_id")}
    names.update({f"#{name}": name for name in ("body_sha256", "response", "status_code", "expires_at", "target")})
    names.update({f"#{name}": name for name in (*ENROLLMENT_FIELDS, "closed")})
    items: list[dict[str, Any]] = []
    for start in range(0, len(wanted), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {
                "Keys": wanted[start : start + BATCH_GET_KEYS],
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = dynamodb().batch_get_item(RequestItems=request)
            items += response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)
    known = Known({}, {}, {}, None)
    for item in items:
        sk = item["SK"]["S"]
        if sk.startswith("RDAY#"):
            known.reading_ids[sk.removeprefix("RDAY#")] = set(item.get("reading_ids", {}).get("SS", []))
        elif sk.startswith("MONTH#"):
            month = sk.removeprefix("MONTH#")
            known.device_days[month] = set(item.get("device_days", {}).get("SS", []))
            known.manual_days[month] = set(item.get("manual_days", {}).get("SS", []))
            if item.get("closed", {}).get("BOOL"):
                known.closed_months.add(month)
        elif sk == keys.ENROLLMENT_SK:
            known.enrollment = from_item(item)
        elif sk == keys.IDEMPOTENCY_SK:
            known.marker = marker_from_item(item)
    return known


def _common(scope: Scope, kind: str) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    sets = ["#type = :type", "org_id = :org", "deployment_id = :dep", "patient_id = :pat"]
    names = {"#type": "type"}
    values = {
        ":type": {"S": kind},
        ":org": {"S": scope.org_id},
        ":dep": {"S": scope.deployment_id},
        ":pat": {"S": scope.patient_id},
    }
    return sets, names, values


def day_action(scope: Scope, day: str, readings: Sequence[Reading]) -> dict[str, Any]:
    """The day item's update: each reading set once (``if_not_exists``), its id added to ``reading_ids``."""
    sets, names, values = _common(scope, "reading_day")
    sets.append("#day = :day")
    names["#day"] = "date"
    values[":day"] = {"S": day}
    for index, reading in enumerate(readings):
        names[f"#r{index}"] = f"R#{reading.reading_id}"
        values[f":r{index}"] = to_value(reading.attribute())
        sets.append(f"#r{index} = if_not_exists(#r{index}, :r{index})")
    values[":ids"] = {"SS": sorted(reading.reading_id for reading in readings)}
    return {
        "Update": {
            "TableName": get_settings().table_name,
            "Key": keys.key(scope.pk, keys.reading_day_sk(day)),
            "UpdateExpression": "SET " + ", ".join(sets) + " ADD reading_ids :ids",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def month_days_action(scope: Scope, month: str, device_days: set[str], manual_days: set[str]) -> dict[str, Any]:
    """The month aggregate's update: ``ADD`` of the new device and manual days (string sets)."""
    sets, names, values = _common(scope, "patient_month")
    sets += ["#month = :month", "GSI1PK = :g1pk", "GSI1SK = :g1sk"]
    names["#month"] = "month"
    values[":month"] = {"S": month}
    values[":g1pk"] = {"S": keys.month_gsi(scope.org_id, scope.deployment_id, month)}
    values[":g1sk"] = {"S": scope.patient_id}
    adds = []
    if device_days:
        adds.append("device_days :dd")
        values[":dd"] = {"SS": sorted(device_days)}
    if manual_days:
        adds.append("manual_days :md")
        values[":md"] = {"SS": sorted(manual_days)}
    return {
        "Update": {
            "TableName": get_settings().table_name,
            "Key": keys.key(scope.pk, keys.month_sk(month)),
            "UpdateExpression": "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else ""),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


StartOutcome = Literal["unchanged", "set", "moved", "explicit", "billed", "month_closed", "contended"]


@dataclass(frozen=True)
class StartChange:
    """What a batch does to the enrollment's ``first_reading_day``, and why.

    Attributes:
        action: The enrollment's action in the batch's last transaction. Every variant is conditioned on the
            enrollment being active in the patient's deployment; ``set`` and ``moved`` also on the enrollment
            being as it was read (their only other reason to fail).
        outcome: ``unchanged`` (no new day before the stored one), ``set`` (the first reading day of the episode),
            ``moved`` (a late day moved it back), or why an earlier day did not move it: ``explicit`` (an explicit
            ``monitoring_start``), ``billed`` (a 30-day-period code was billed in the episode), ``month_closed``
            (the moved first period would end in a month the evaluation closed), ``contended`` (the enrollment
            kept changing; the batch is stored without moving the start).
        late_days: The batch's new days before the stored start when it stays (``billed``, ``month_closed``:
            added to ``days_before_start``; ``contended``: for the log's count only).
    """

    action: dict[str, Any]
    outcome: StartOutcome
    late_days: tuple[str, ...] = ()


def periods_fixed(enrollment: Mapping[str, Any]) -> bool:
    """Whether the monthly evaluation has billed a 30-day-period code (set-up, device supply, 99091) in the episode.

    A re-enrollment replaces the item, so a flag present belongs to the current episode. ``setup_billed`` also
    counts: items billed before ``periods_billed`` existed carry only that flag.
    """
    return bool(enrollment.get("periods_billed") or enrollment.get("setup_billed"))


def _enrollment_update(
    scope: Scope,
    update: str | None,
    guard: str | None = None,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The enrollment's action: ``update`` (or a ``ConditionCheck`` without one) if active in the deployment."""
    condition = "#status = :active AND deployment_id = :dep" + (f" AND {guard}" if guard else "")
    body: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "Key": keys.key(scope.pk, keys.ENROLLMENT_SK),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":active": {"S": "active"}, ":dep": {"S": scope.deployment_id}, **(values or {})},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if update is None:
        return {"ConditionCheck": body}
    return {"Update": {**body, "UpdateExpression": update}}


def enrollment_check(scope: Scope) -> dict[str, Any]:
    """A ``ConditionCheck`` that the patient is actively enrolled in the scope's deployment."""
    return _enrollment_update(scope, None)


def start_change(
    scope: Scope,
    new_days: Sequence[str],
    enrollment: Mapping[str, Any] | None,
    closed_months: set[str] | frozenset[str] = frozenset(),
    *,
    last_attempt: bool = False,
) -> StartChange:
    """Choose how a batch's new days treat the enrollment's ``first_reading_day`` (see the module docstring).

    Args:
        scope: The patient.
        new_days: Patient-local days of the batch's new readings (either source).
        enrollment: The enrollment as read (``None``: never enrolled; the check then refuses the batch).
        closed_months: Months whose aggregate the evaluation has ``closed``, among those read (``read_known`` reads
            the month in which a first period from the batch's earliest day would end; when that day was stored
            already, the stored start is not later than it and there is nothing to move).
        last_attempt: Choose an action that cannot fail for anything but the enrollment's status.

    Returns:
        The enrollment's action and the outcome.
    """
    first = min(new_days) if new_days else None
    if first is None or enrollment is None:
        return StartChange(enrollment_check(scope), "unchanged")
    stored = enrollment.get("first_reading_day")
    values = {":first": {"S": first}}
    if not stored:
        if last_attempt:
            update = "SET first_reading_day = if_not_exists(first_reading_day, :first)"
            return StartChange(_enrollment_update(scope, update, values=values), "set")
        guard = "attribute_not_exists(first_reading_day)"
        return StartChange(_enrollment_update(scope, "SET first_reading_day = :first", guard, values), "set")
    if first >= str(stored):
        return StartChange(enrollment_check(scope), "unchanged")
    late = tuple(sorted(day for day in new_days if day < str(stored)))
    if enrollment.get("monitoring_start"):
        return StartChange(enrollment_check(scope), "explicit")
    fixed: StartOutcome | None = None
    if periods_fixed(enrollment):
        fixed = "billed"
    elif period_end_month(first) in closed_months:
        fixed = "month_closed"
    if fixed is not None:
        update = "ADD days_before_start :late"
        return StartChange(_enrollment_update(scope, update, values={":late": {"SS": list(late)}}), fixed, late)
    if last_attempt:
        return StartChange(enrollment_check(scope), "contended", late)
    guard = (
        "first_reading_day = :seen AND attribute_not_exists(monitoring_start)"
        " AND attribute_not_exists(periods_billed) AND attribute_not_exists(setup_billed)"
    )
    values[":seen"] = {"S": str(stored)}
    return StartChange(_enrollment_update(scope, "SET first_reading_day = :first", guard, values), "moved", late)


def enrolled_in(item: Mapping[str, Any] | None, scope: Scope) -> bool:
    """Whether a (plain) enrollment item is active in the scope's deployment."""
    return item is not None and item.get("status") == "active" and item.get("deployment_id") == scope.deployment_id


def with_enrollment(
    transaction: Sequence[tuple[str, dict[str, Any]]], action: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The transaction with its ``enrollment`` action replaced."""
    return [(label, action if label == "enrollment" else item) for label, item in transaction]


def batch_transactions(
    scope: Scope,
    new_by_day: Mapping[str, Sequence[Reading]],
    new_days: Mapping[str, tuple[set[str], set[str]]],
    enrollment: dict[str, Any],
    marker: Marker,
    audit: dict[str, Any],
) -> list[list[tuple[str, dict[str, Any]]]]:
    """The labelled transactions of a batch: at most 100 actions each, marker and ``enrollment`` last.

    Earlier transactions (large batches only) check that the enrollment is active.
    """
    writes: list[tuple[str, dict[str, Any]]] = [
        ("day", day_action(scope, day, readings)) for day, readings in sorted(new_by_day.items())
    ]
    writes += [
        ("month", month_days_action(scope, month, device, manual))
        for month, (device, manual) in sorted(new_days.items())
        if device or manual
    ]
    final: list[tuple[str, dict[str, Any]]] = [
        ("marker", marker_action(marker)),
        ("enrollment", enrollment),
        ("audit", audit),
    ]
    room = MAX_ACTIONS - len(final)
    if len(writes) <= room:
        return [writes + final]
    chunks = []
    head, tail = writes[: len(writes) - room], writes[len(writes) - room :]
    for start in range(0, len(head), MAX_ACTIONS - 1):
        chunks.append([*head[start : start + MAX_ACTIONS - 1], ("enrollment", enrollment_check(scope))])
    chunks.append(tail + final)
    return chunks
