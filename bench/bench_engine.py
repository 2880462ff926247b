"""Rules engine cost per patient-month against merely decoding the same records from DynamoDB JSON.

A realistic patient-month: 24 reading days (1-3 readings each, two devices) and 20 time entries. The engine is
timed on ``evaluate`` (live) and ``evaluate_month`` (closing); the baseline is boto3's ``TypeDeserializer`` over
the stored items (``RDAY#`` items with ``R#`` maps, ``ENTRY#`` items) that hold those records. Target: ratio <= 1.0.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from rpm_billing.rules import PatientFacts, ReadingFact, TimeEntryFact, evaluate, evaluate_month

PATIENT_ZONE = "America/Los_Angeles"
PRACTICE_ZONE = "America/Chicago"
MONTH_START = date(2026, 3, 1)
ACTIVITIES = ("call", "data_review", "note", "flag_review", "care_coordination")


def _records(seed: int = 7) -> tuple[list[ReadingFact], list[TimeEntryFact], list[dict[str, Any]]]:
    """Readings, entries and the DynamoDB-JSON items that store them."""
    rng = random.Random(seed)
    serializer = TypeSerializer()
    readings: list[ReadingFact] = []
    items: list[dict[str, Any]] = []
    for offset in sorted(rng.sample(range(30), 24)):
        day = MONTH_START + timedelta(days=offset)
        maps: dict[str, Any] = {}
        for n in range(rng.randint(1, 3)):
            at = datetime(day.year, day.month, day.day, 14 + n, rng.randint(0, 59), tzinfo=UTC)
            device = "bp-1" if n % 2 == 0 else "scale-1"
            readings.append(ReadingFact(at=at, source="device", device_id=device))
            maps[f"R#r{offset}-{n}"] = {
                "measured_at": at.isoformat(),
                "type": "blood_pressure" if device == "bp-1" else "weight",
                "source": "device",
                "device_id": device,
                "value": {"systolic": Decimal(rng.randint(110, 150)), "diastolic": Decimal(rng.randint(70, 95))},
                "unit": "mmHg",
            }
        item = {"PK": "ORG#o#DEP#d#PAT#p", "SK": f"RDAY#{day.isoformat()}", **maps, "reading_ids": set(maps)}
        items.append({k: serializer.serialize(v) for k, v in item.items()})
    entries: list[TimeEntryFact] = []
    for n in range(20):
        started = datetime(2026, 3, 1 + n, 15, tzinfo=UTC)
        activity = ACTIVITIES[n % len(ACTIVITIES)]
        modality = "audio" if activity == "call" else None
        entry = TimeEntryFact(
            entry_id=f"e{n}",
            started_at=started,
            duration_seconds=rng.randint(60, 600),
            activity=activity,
            clinician_id="c1",
            clinical_role="clinical_staff" if n % 3 else "physician",
            interactive=activity == "call",
            modality=modality,
        )
        entries.append(entry)
        stored = {
            "PK": "ORG#o#DEP#d#PAT#p",
            "SK": f"ENTRY#2026-03#{entry.entry_id}",
            "entry_id": entry.entry_id,
            "activity": activity,
            "started_at": started.isoformat(),
            "duration_seconds": entry.duration_seconds,
            "modality": modality,
            "note": "reviewed trend",
            "clinician_id": "c1",
            "clinical_role": entry.clinical_role,
            "interactive": entry.interactive,
            "created_at": started.isoformat(),
            "updated_at": started.isoformat(),
            "version": 1,
        }
        items.append({k: serializer.serialize(v) for k, v in stored.items()})
    return readings, entries, items


def _per_call(fn: Callable[[], object], *, budget: float = 0.6) -> float:
    """Seconds per call of ``fn`` (best of 3 runs of a calibrated loop)."""
    fn()
    loops = 1
    while True:
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - started > budget / 10 or loops > 100_000:
            break
        loops *= 2
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - started) / loops)
    return best


def run() -> list[str]:
    """Time the engine and the decoding baseline; printable lines."""
    readings, entries, items = _records()
    facts = PatientFacts(
        program="RPM",
        rtm_category=None,
        patient_time_zone=PATIENT_ZONE,
        practice_time_zone=PRACTICE_ZONE,
        monitoring_start=MONTH_START,
        established_patient=True,
        consent_date=MONTH_START,
        readings=tuple(readings),
        time_entries=tuple(entries),
    )
    deserializer = TypeDeserializer()

    def decode() -> object:
        return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]

    live = _per_call(lambda: evaluate(facts, as_of=date(2026, 3, 20)))
    closing = _per_call(lambda: evaluate_month(facts, month="2026-03"))
    decoding = _per_call(decode)
    return [
        f"patient-month: {len(readings)} readings on 24 days, {len(entries)} time entries, {len(items)} stored items",
        f"evaluate (live)        {live * 1e6:8.1f} us/patient-month",
        f"evaluate_month (close) {closing * 1e6:8.1f} us/patient-month",
        f"TypeDeserializer       {decoding * 1e6:8.1f} us/patient-month",
        f"ratio engine/decoding  live {live / decoding:.2f}  close {closing / decoding:.2f}  (target <= 1.0)",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
