"""Time-entry repository: entries, the patient-month aggregate, busy minutes, idempotency markers.

One time entry is one ``TransactWriteItems`` (architecture §4) holding:

- the idempotency marker ``IDEM#{entry_id}`` (``attribute_not_exists``; body hash, stored response);
- the entry item ``ENTRY#{month}#{entry_id}``;
- the ``MONTH#{month}`` aggregate: ``ADD`` of ``total_seconds`` / ``entry_count`` / ``interactive_calls``,
  ``SET E#{entry_id}`` (the entry's billing facts), the GSI1 keys, on condition that the month is not
  ``closed`` and that ``total_seconds`` is what the caller expects (see below);
- a ``ConditionCheck`` (or update) of the enrollment: ``status = active`` in the patient's deployment;
- the busy-minute items of the clinician (the overlap guard, below);
- the audit record.

The response carries the month's total after the entry. A transaction returns nothing on success, so the
total is computed as ``expected + duration`` with ``total_seconds = :expected`` in the month's condition:
the expected total comes from a per-container cache (a fresh month is expected absent); when it is stale
the cancellation reason returns the current item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``) and the
transaction is sent again with the value it returned. The ``ADD`` alone already makes concurrent writers
safe; the expectation only makes the reported total exact. So a time entry costs one request in a warm
container without contention, two in a cold container whose month already has entries. Under sustained
contention the caller stops expecting after ``EXACT_ATTEMPTS``, reads the total back and stores the final
response in the idempotency marker (``store_marker_response``): six requests at most.

Overlap guard ("busy minutes"): per clinician, patient and UTC hour, an item ``BUSY#{user}#{YYYY-MM-DDTHH}``
records which minutes are taken. For minute ``m`` of the hour:

- ``u{m}`` (string set): the ids of the entries that use any part of the minute;
- ``h{m}`` (number ``y``): seconds ``[0, y)`` are taken (an entry ends inside the minute);
- ``t{m}`` (number ``x``): seconds ``[x, 60)`` are taken (an entry starts inside the minute);
- ``cs{m}`` / ``ce{m}``: ``[cs, ce)`` is taken by an entry that starts and ends inside the minute.

A whole minute sets ``h=60`` and ``t=0`` and needs ``u{m}`` absent; a partial minute compares its seconds
with ``h``/``t``/``cs``/``ce``, so back-to-back entries (one ends at 10:15:20, the next starts at 10:15:20)
do not conflict. An entry of 4 h touches at most 5 hour items; each item's condition stays under 2 KB
(60 ``attribute_not_exists`` terms), within the 4 KB expression limit.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from rpm_billing import clock
from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, from_item, query_page, to_item, to_value
from rpm_billing.settings import get_settings

#: Idempotency markers live 48 h (the window in which a client may retry a lost response).
MARKER_TTL_SECONDS = 48 * 3600

#: Attempts of one transaction that expects an exact month total; after these the total is not checked.
EXACT_ATTEMPTS = 3

#: Attempts in all (refusals other than a stale total end the loop at once).
MAX_ATTEMPTS = 6


class Unchecked:
    """``expected_total`` that skips the total condition: under contention, write first and read the total after."""


UNCHECKED = Unchecked()

#: What a month update expects of ``total_seconds``: a value, absence (``None``) or nothing (``UNCHECKED``).
Expected = int | None | Unchecked

# Busy minutes -------------------------------------------------------------------------------------------

SegmentKind = Literal["full", "head", "tail", "mid"]


@dataclass(frozen=True)
class Segment:
    """The part ``[start, end)`` (seconds 0..60) of one minute that an entry occupies."""

    start: int
    end: int

    @property
    def kind(self) -> SegmentKind:
        if self.start == 0 and self.end == 60:
            return "full"
        if self.start == 0:
            return "head"
        if self.end == 60:
            return "tail"
        return "mid"

    @property
    def groups(self) -> frozenset[str]:
        """The attribute groups the segment owns: ``h``, ``t`` or ``c`` (``cs``/``ce``)."""
        return {
            "full": frozenset({"h", "t"}),
            "head": frozenset({"h"}),
            "tail": frozenset({"t"}),
            "mid": frozenset({"c"}),
        }[self.kind]


#: Busy segments of an interval: UTC hour (``YYYY-MM-DDTHH``) -> minute -> segment.
BusyMap = dict[str, dict[int, Segment]]


def busy_segments(started_at: datetime, duration_seconds: int) -> BusyMap:
    """Split ``[started_at, started_at + duration)`` (whole seconds) into per-hour, per-minute segments."""
    start = int(started_at.timestamp())
    end = start + duration_seconds
    result: BusyMap = {}
    cursor = start
    while cursor < end:
        minute_start = cursor - cursor % 60
        seg_end = min(end, minute_start + 60)
        instant = datetime.fromtimestamp(minute_start, UTC)
        hour = instant.strftime("%Y-%m-%dT%H")
        result.setdefault(hour, {})[instant.minute] = Segment(cursor - minute_start, seg_end - minute_start)
        cursor = seg_end
    return result


class _Expr:
    """Accumulates one UpdateItem's clauses and placeholders for a busy-minute item."""

    def __init__(self, entry_id: str) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.adds: list[str] = []
        self.deletes: list[str] = []
        self.conditions: list[str] = []
        self.values: dict[str, Any] = {}
        self.entry_value = {"SS": [entry_id]}

    def value(self, name: str, number: int) -> str:
        self.values[name] = {"N": str(number)}
        return name

    def uses_entry(self) -> str:
        self.values[":e"] = self.entry_value
        return ":e"


def _minute_condition(expr: _Expr, m: int, new: Segment, owned: frozenset[str], had_old: bool) -> None:
    """The condition that ``new`` overlaps nothing in minute ``m`` but the entry's own old segment."""

    def absent(group: str) -> list[str]:
        if group in owned:
            return []
        if group == "c":
            return [f"attribute_not_exists(cs{m})"]
        return [f"attribute_not_exists({group}{m})"]

    def compare(attr: str, group: str, op: str, bound: int, tag: str) -> list[str]:
        if group in owned:
            return []
        placeholder = expr.value(f":{tag}{m}", bound)
        return [f"(attribute_not_exists({attr}{m}) OR {attr}{m} {op} {placeholder})"]

    kind = new.kind
    terms: list[str]
    if kind == "full":
        terms = [f"attribute_not_exists(u{m})"] if not had_old else absent("h") + absent("t") + absent("c")
    elif kind == "head":
        terms = absent("h") + compare("t", "t", ">=", new.end, "y") + compare("cs", "c", ">=", new.end, "y")
    elif kind == "tail":
        terms = absent("t") + compare("h", "h", "<=", new.start, "x") + compare("ce", "c", "<=", new.start, "x")
    else:
        terms = absent("c") + compare("h", "h", "<=", new.start, "x") + compare("t", "t", ">=", new.end, "y")
    expr.conditions.extend(terms)


def _minute_update(expr: _Expr, m: int, old: Segment | None, new: Segment | None) -> None:
    old_groups = old.groups if old else frozenset()
    new_groups = new.groups if new else frozenset()
    if old == new:
        return
    if new is not None:
        _minute_condition(expr, m, new, old_groups, old is not None)
        kind = new.kind
        if kind == "full":
            expr.sets += [f"h{m} = {expr.value(':sixty', 60)}", f"t{m} = {expr.value(':zero', 0)}"]
        elif kind == "head":
            expr.sets.append(f"h{m} = {expr.value(f':y{m}', new.end)}")
        elif kind == "tail":
            expr.sets.append(f"t{m} = {expr.value(f':x{m}', new.start)}")
        else:
            expr.sets += [f"cs{m} = {expr.value(f':x{m}', new.start)}", f"ce{m} = {expr.value(f':y{m}', new.end)}"]
    for group in sorted(old_groups - new_groups):
        expr.removes += [f"cs{m}", f"ce{m}"] if group == "c" else [f"{group}{m}"]
    if new is not None and old is None:
        expr.adds.append(f"u{m} {expr.uses_entry()}")
    elif old is not None and new is None:
        expr.deletes.append(f"u{m} {expr.uses_entry()}")


def busy_actions(
    pk: str, user_id: str, entry_id: str, old: BusyMap | None, new: BusyMap | None
) -> list[dict[str, Any]]:
    """``TransactWriteItems`` updates of the busy items that move an entry from ``old`` to ``new`` intervals.

    ``old`` is ``None`` for a new entry, ``new`` is ``None`` for a removal. Each touched hour item is one
    ``Update`` whose condition refuses the change when the new interval overlaps another entry of the user.
    """
    old = old or {}
    new = new or {}
    table = get_settings().table_name
    actions = []
    for hour in sorted(set(old) | set(new)):
        expr = _Expr(entry_id)
        old_minutes, new_minutes = old.get(hour, {}), new.get(hour, {})
        for m in sorted(set(old_minutes) | set(new_minutes)):
            _minute_update(expr, m, old_minutes.get(m), new_minutes.get(m))
        clauses = []
        if expr.sets:
            clauses.append("SET " + ", ".join(expr.sets))
        if expr.removes:
            clauses.append("REMOVE " + ", ".join(expr.removes))
        if expr.adds:
            clauses.append("ADD " + ", ".join(expr.adds))
        if expr.deletes:
            clauses.append("DELETE " + ", ".join(expr.deletes))
        if not clauses:
            continue
        update: dict[str, Any] = {
            "TableName": table,
            "Key": keys.key(pk, keys.busy_sk(user_id, hour)),
            "UpdateExpression": " ".join(clauses),
        }
        if expr.conditions:
            update["ConditionExpression"] = " AND ".join(expr.conditions)
        if expr.values:
            update["ExpressionAttributeValues"] = expr.values
        actions.append({"Update": update})
    return actions


# Entries and the month aggregate --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where a patient lives: organisation, deployment, patient."""

    org_id: str
    deployment_id: str
    patient_id: str

    @property
    def pk(self) -> str:
        return keys.patient_pk(self.org_id, self.patient_id)


@dataclass(frozen=True)
class Entry:
    """A time entry as stored (``ENTRY#{month}#{entry_id}``)."""

    entry_id: str
    month: str
    activity: str
    started_at: datetime
    duration_seconds: int
    clinician_id: str
    clinical_role: str
    interactive: bool
    modality: str | None = None
    note: str | None = None
    appointment_id: str | None = None
    created_at: str = ""
    updated_at: str = ""
    version: int = 1
    deleted: bool = False
    deleted_reason: str | None = None

    def fact(self) -> dict[str, Any]:
        """The billing facts kept on the month aggregate as ``E#{entry_id}`` (no free text)."""
        return {
            "started_at": self.started_at.isoformat(),
            "duration_seconds": self.duration_seconds,
            "activity": self.activity,
            "clinician_id": self.clinician_id,
            "clinical_role": self.clinical_role,
            "interactive": self.interactive,
            "modality": self.modality,
        }

    def item(self, scope: Scope) -> dict[str, Any]:
        return {
            "PK": scope.pk,
            "SK": keys.entry_sk(self.month, self.entry_id),
            "type": "time_entry",
            "org_id": scope.org_id,
            "deployment_id": scope.deployment_id,
            "patient_id": scope.patient_id,
            "entry_id": self.entry_id,
            "month": self.month,
            "activity": self.activity,
            "started_at": self.started_at.isoformat(),
            "duration_seconds": self.duration_seconds,
            "modality": self.modality,
            "note": self.note,
            "clinician_id": self.clinician_id,
            "clinical_role": self.clinical_role,
            "interactive": self.interactive,
            "appointment_id": self.appointment_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
            "deleted": self.deleted,
            "deleted_reason": self.deleted_reason,
        }

    def public(self, patient_id: str) -> dict[str, Any]:
        """The entry as the API returns it."""
        return {
            "entry_id": self.entry_id,
            "patient_id": patient_id,
            "month": self.month,
            "activity": self.activity,
            "started_at": self.started_at.isoformat(),
            "duration_seconds": self.duration_seconds,
            "modality": self.modality,
            "interactive": self.interactive,
            "note": self.note,
            "clinician_id": self.clinician_id,
            "clinical_role": self.clinical_role,
            "appointment_id": self.appointment_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
        }


def entry_from_item(item: Mapping[str, Any]) -> Entry:
    """An ``Entry`` from a DynamoDB JSON item."""
    data = from_item(dict(item))
    return Entry(
        entry_id=data["entry_id"],
        month=data["month"],
        activity=data["activity"],
        started_at=datetime.fromisoformat(data["started_at"]),
        duration_seconds=int(data["duration_seconds"]),
        clinician_id=data["clinician_id"],
        clinical_role=data["clinical_role"],
        interactive=bool(data.get("interactive", False)),
        modality=data.get("modality"),
        note=data.get("note"),
        appointment_id=data.get("appointment_id"),
        created_at=data.get("created_at", ""),
        updated_at=data.get("updated_at", ""),
        version=int(data.get("version", 1)),
        deleted=bool(data.get("deleted", False)),
        deleted_reason=data.get("deleted_reason"),
    )


def busy_of(entry: Entry) -> BusyMap:
    """The busy segments of a stored entry."""
    return busy_segments(entry.started_at, entry.duration_seconds)


@dataclass
class MonthDelta:
    """A change of the month aggregate: seconds, entries and interactive calls to add, facts to set/remove."""

    month: str
    seconds: int = 0
    entries: int = 0
    interactive: int = 0
    set_facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    remove_facts: list[str] = field(default_factory=list)


def month_action(scope: Scope, delta: MonthDelta, expected_total: Expected) -> dict[str, Any]:
    """The month aggregate ``Update``: refused when the month is closed or its total is not ``expected_total``."""
    names: dict[str, str] = {"#type": "type", "#month": "month"}
    values: dict[str, Any] = {
        ":type": {"S": "patient_month"},
        ":month": {"S": delta.month},
        ":org": {"S": scope.org_id},
        ":dep": {"S": scope.deployment_id},
        ":pat": {"S": scope.patient_id},
        ":g1pk": {"S": keys.month_gsi(scope.org_id, scope.deployment_id, delta.month)},
        ":g1sk": {"S": scope.patient_id},
        ":false": {"BOOL": False},
        ":secs": {"N": str(delta.seconds)},
        ":entries": {"N": str(delta.entries)},
        ":calls": {"N": str(delta.interactive)},
    }
    sets = [
        "#type = :type",
        "#month = :month",
        "org_id = :org",
        "deployment_id = :dep",
        "patient_id = :pat",
        "GSI1PK = :g1pk",
        "GSI1SK = :g1sk",
    ]
    for index, (entry_id, fact) in enumerate(sorted(delta.set_facts.items())):
        names[f"#f{index}"] = f"E#{entry_id}"
        values[f":f{index}"] = to_value(fact)
        sets.append(f"#f{index} = :f{index}")
    expression = "SET " + ", ".join(sets) + " ADD total_seconds :secs, entry_count :entries, interactive_calls :calls"
    if delta.remove_facts:
        removes = []
        for index, entry_id in enumerate(delta.remove_facts):
            names[f"#r{index}"] = f"E#{entry_id}"
            removes.append(f"#r{index}")
        expression += " REMOVE " + ", ".join(removes)
    condition = "(attribute_not_exists(closed) OR closed = :false)"
    if expected_total is None:
        condition += " AND attribute_not_exists(total_seconds)"
    elif not isinstance(expected_total, Unchecked):
        values[":expected"] = {"N": str(expected_total)}
        condition += " AND total_seconds = :expected"
    return {
        "Update": {
            "TableName": get_settings().table_name,
            "Key": keys.key(scope.pk, keys.month_sk(delta.month)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def enrollment_check(scope: Scope) -> dict[str, Any]:
    """A ``ConditionCheck`` that the patient is actively enrolled in the deployment."""
    return {
        "ConditionCheck": {
            "TableName": get_settings().table_name,
            "Key": keys.key(scope.pk, keys.ENROLLMENT_SK),
            "ConditionExpression": "#status = :active AND deployment_id = :dep",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":active": {"S": "active"}, ":dep": {"S": scope.deployment_id}},
        }
    }


def put_action(item: dict[str, Any], condition: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``TransactWriteItems`` Put of a plain item."""
    put: dict[str, Any] = {"TableName": get_settings().table_name, "Item": to_item(item), **extra}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


# Idempotency markers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """An idempotency marker: who sent which body, and the response that was returned."""

    marker_id: str
    user_id: str
    body_sha256: str
    target: str
    status_code: int
    response: dict[str, Any]


def marker_action(marker: Marker) -> dict[str, Any]:
    """The marker's Put: it succeeds only once per (user, Idempotency-Key)."""
    item = {
        "PK": keys.idempotency_pk(marker.marker_id),
        "SK": keys.IDEMPOTENCY_SK,
        "type": "idempotency",
        "user_id": marker.user_id,
        "body_sha256": marker.body_sha256,
        "target": marker.target,
        "status_code": marker.status_code,
        "response": json.dumps(marker.response, separators=(",", ":")),
        "expires_at": int(clock.now().timestamp()) + MARKER_TTL_SECONDS,
    }
    return put_action(item, "attribute_not_exists(PK)")


def store_marker_response(marker_id: str, response: dict[str, Any]) -> None:
    """Replace the response a committed marker holds (one ``UpdateItem``; the marker must exist).

    Used when the response was completed after the commit (the month total read back under contention), so
    that a replay answers exactly what the first request did.
    """
    dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.idempotency_pk(marker_id), keys.IDEMPOTENCY_SK),
        UpdateExpression="SET #response = :response",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames={"#response": "response"},
        ExpressionAttributeValues={":response": {"S": json.dumps(response, separators=(",", ":"))}},
    )


def marker_from_item(item: Mapping[str, Any]) -> Marker | None:
    """A marker from its item, or ``None`` when it has expired (TTL deletion is lazy)."""
    data = from_item(dict(item))
    if int(data.get("expires_at", 0)) < int(clock.now().timestamp()):
        return None
    return Marker(
        marker_id=data["PK"].removeprefix("IDEM#"),
        user_id=data["user_id"],
        body_sha256=data["body_sha256"],
        target=data.get("target", ""),
        status_code=int(data["status_code"]),
        response=json.loads(data["response"]),
    )


def get_marker(marker_id: str) -> Marker | None:
    """Read a marker (one consistent GetItem)."""
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.idempotency_pk(marker_id), keys.IDEMPOTENCY_SK),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return marker_from_item(item) if item else None


# Sending transactions ---------------------------------------------------------------------------------------


class TransactionRefused(Exception):
    """A transaction was cancelled; ``failed`` names the labels of the actions whose condition failed."""

    def __init__(self, failed: dict[str, dict[str, Any] | None]) -> None:
        super().__init__(", ".join(sorted(failed)))
        self.failed = failed


def send(actions: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send one ``TransactWriteItems`` of labelled actions.

    Raises:
        TransactionRefused: with the labels (and returned old items) of the actions whose condition failed.
    """
    from botocore.exceptions import ClientError

    try:
        items: list[Any] = [action for _, action in actions]
        dynamodb().transact_write_items(TransactItems=items)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") != "TransactionCanceledException":
            raise
        response: dict[str, Any] = dict(exc.response)
        reasons: list[dict[str, Any]] = response.get("CancellationReasons") or []
        failed: dict[str, dict[str, Any] | None] = {
            label: dict(reason["Item"]) if reason.get("Item") else None
            for (label, _), reason in zip(actions, reasons, strict=False)
            if reason.get("Code") == "ConditionalCheckFailed"
        }
        if not failed:
            raise
        raise TransactionRefused(failed) from exc


# Expected month totals (per container) ----------------------------------------------------------------------

_totals: dict[tuple[str, str], tuple[float, int]] = {}
_totals_lock = threading.Lock()
_TOTALS_TTL = 300.0


def expected_total(scope: Scope, month: str) -> int | None:
    """The month total this container last saw (``None``: unknown, expected absent)."""
    with _totals_lock:
        hit = _totals.get((scope.pk, month))
    if hit is None or time.monotonic() - hit[0] > _TOTALS_TTL:
        return None
    return hit[1]


def remember_total(scope: Scope, month: str, total: int | None) -> None:
    """Remember (or forget, with ``None``) the month total after a write or a refusal."""
    with _totals_lock:
        if total is None:
            _totals.pop((scope.pk, month), None)
        else:
            _totals[(scope.pk, month)] = (time.monotonic(), total)


def total_of(old_item: Mapping[str, Any] | None) -> int | None:
    """``total_seconds`` of a returned month item (``None`` when the item or attribute is absent)."""
    if not old_item or "total_seconds" not in old_item:
        return None
    return int(old_item["total_seconds"]["N"])


def closed_in(old_item: Mapping[str, Any] | None) -> bool:
    """Whether a returned month item is closed."""
    return bool(old_item and old_item.get("closed", {}).get("BOOL"))


def read_total(scope: Scope, month: str) -> int:
    """The month's ``total_seconds`` now (consistent read; 0 when the month has no entries)."""
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(scope.pk, keys.month_sk(month)),
        ConsistentRead=True,
        ProjectionExpression="total_seconds",
    )
    return total_of(response.get("Item")) or 0


def forget_totals() -> None:
    """Drop every remembered month total (tests)."""
    with _totals_lock:
        _totals.clear()


# Reads ------------------------------------------------------------------------------------------------------


def get_entry_item(scope: Scope, month: str, entry_id: str) -> Entry | None:
    """One entry by month and id (consistent GetItem)."""
    response = dynamodb().get_item(
        TableName=get_settings().table_name, Key=keys.key(scope.pk, keys.entry_sk(month, entry_id)), ConsistentRead=True
    )
    item = response.get("Item")
    return entry_from_item(item) if item else None


def find_entry(scope: Scope, entry_id: str) -> Entry | None:
    """Find an entry by id alone: its key holds the month, so query the patient's entries newest month first.

    # Limitation: an entry of an old month costs one query page per 1 MB of newer entries; corrections are
    # normally made in the current month (older months are closed by the monthly run).
    """
    request: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "FilterExpression": "entry_id = :id",
        "ExpressionAttributeValues": {
            ":pk": {"S": scope.pk},
            ":prefix": {"S": "ENTRY#"},
            ":id": {"S": entry_id},
        },
        "ScanIndexForward": False,
        "ConsistentRead": True,
    }
    while True:
        response = dynamodb().query(**request)
        items = response.get("Items", [])
        if items:
            return entry_from_item(items[0])
        start = response.get("LastEvaluatedKey")
        if not start:
            return None
        request["ExclusiveStartKey"] = start


def list_entries(scope: Scope, month: str, limit: int, start_sk: str | None) -> tuple[list[Entry], str | None]:
    """One page of a month's entries (deleted ones left out), oldest id first, and the SK to continue from."""
    items, last = query_page(
        scope.pk,
        keys.entry_sk(month, ""),
        limit,
        start_sk,
        filter_expression="deleted <> :true",
        filter_values={":true": {"BOOL": True}},
    )
    return [entry_from_item(item) for item in items], last


def started_iso(value: datetime) -> datetime:
    """An instant in UTC, whole seconds (the busy-minute guard works in seconds)."""
    return value.astimezone(UTC).replace(microsecond=0)


def end_of(entry: Entry) -> datetime:
    return entry.started_at + timedelta(seconds=entry.duration_seconds)
