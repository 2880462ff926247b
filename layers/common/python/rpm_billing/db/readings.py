"""Readings repository: day items, the month aggregates' day sets and the enrollment's first reading day.

A batch of up to 100 readings costs two requests (architecture §4):

1. one ``BatchGetItem`` of the touched day items (their ``reading_ids``), month aggregates (their day sets)
   and the batch's idempotency marker, to answer how many readings and days are new (or replay);
2. one ``TransactWriteItems``: per day ``SET R#{reading_id} = if_not_exists(...)`` and ``ADD reading_ids``,
   per month ``ADD device_days`` / ``manual_days``, the enrollment's ``first_reading_day`` with
   ``if_not_exists`` on condition ``status = active``, the marker and the audit record.

Set ``ADD`` and ``if_not_exists`` make a replayed reading a no-op whatever happens between the two requests;
the counts in the response are computed from the read. When a batch touches more than 100 items the writes
are split into transactions of at most 100 actions (the marker and the enrollment go in the last one).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, to_value
from rpm_billing.db.time_tracking import Marker, Scope, marker_action, marker_from_item
from rpm_billing.settings import get_settings

MAX_ACTIONS = 100
BATCH_GET_KEYS = 100
UNPROCESSED_RETRIES = 5


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


@dataclass(frozen=True)
class Known:
    """What the table already holds for a batch: reading ids per day, day sets per month, the marker."""

    reading_ids: dict[str, set[str]]
    device_days: dict[str, set[str]]
    manual_days: dict[str, set[str]]
    marker: Marker | None


def read_known(scope: Scope, days: Sequence[str], months: Sequence[str], marker_id: str) -> Known:
    """One ``BatchGetItem`` (per 100 keys) of the day items, month aggregates and the marker."""
    table = get_settings().table_name
    wanted = [keys.key(scope.pk, keys.reading_day_sk(day)) for day in days]
    wanted += [keys.key(scope.pk, keys.month_sk(month)) for month in months]
    wanted.append(keys.key(keys.idempotency_pk(marker_id), keys.IDEMPOTENCY_SK))
    names = {f"#{name}": name for name in ("PK", "SK", "reading_ids", "device_days", "manual_days", "user_id")}
    names.update({f"#{name}": name for name in ("body_sha256", "response", "status_code", "expires_at", "target")})
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
        elif sk == keys.IDEMPOTENCY_SK:
            known = Known(known.reading_ids, known.device_days, known.manual_days, marker_from_item(item))
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


def enrollment_action(scope: Scope, first_day: str | None) -> dict[str, Any]:
    """Set the enrollment's ``first_reading_day`` once; either way the patient must be actively enrolled."""
    condition = "#status = :active AND deployment_id = :dep"
    names = {"#status": "status"}
    values = {":active": {"S": "active"}, ":dep": {"S": scope.deployment_id}}
    key = keys.key(scope.pk, keys.ENROLLMENT_SK)
    table = get_settings().table_name
    if first_day is None:
        return {
            "ConditionCheck": {
                "TableName": table,
                "Key": key,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
    values[":first"] = {"S": first_day}
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET first_reading_day = if_not_exists(first_reading_day, :first)",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def batch_transactions(
    scope: Scope,
    new_by_day: Mapping[str, Sequence[Reading]],
    new_days: Mapping[str, tuple[set[str], set[str]]],
    first_day: str | None,
    marker: Marker,
    audit: dict[str, Any],
) -> list[list[tuple[str, dict[str, Any]]]]:
    """The labelled transactions of a batch: at most 100 actions each, marker and enrollment last."""
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
        ("enrollment", enrollment_action(scope, first_day)),
        ("audit", audit),
    ]
    room = MAX_ACTIONS - len(final)
    if len(writes) <= room:
        return [writes + final]
    chunks = []
    head, tail = writes[: len(writes) - room], writes[len(writes) - room :]
    for start in range(0, len(head), MAX_ACTIONS - 1):
        chunks.append([*head[start : start + MAX_ACTIONS - 1], ("enrollment", enrollment_action(scope, None))])
    chunks.append(tail + final)
    return chunks
