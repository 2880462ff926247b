"""Small builders of engine facts for the rules tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from rpm_billing.rules import CodeResult, Evaluation, PatientFacts, ReadingDayFact, TimeEntryFact

_ids = count(1)


def days(start: date, n: int, source: str = "device", step: int = 1) -> tuple[ReadingDayFact, ...]:
    """``n`` reading days from ``start``, every ``step`` days."""
    return tuple(ReadingDayFact(day=start + timedelta(days=i * step), source=source) for i in range(n))  # type: ignore[arg-type]


def entry(
    minutes: float,
    at: datetime,
    *,
    activity: str = "data_review",
    role: str = "clinical_staff",
    interactive: bool = False,
    modality: str | None = None,
    counted_elsewhere: bool = False,
    entry_id: str | None = None,
) -> TimeEntryFact:
    """A time entry of ``minutes`` (fractions allowed) starting at ``at``."""
    return TimeEntryFact(
        entry_id=entry_id or f"e{next(_ids)}",
        started_at=at,
        duration_seconds=round(minutes * 60),
        activity=activity,
        clinician_id="clin-1",
        clinical_role=role,
        interactive=interactive,
        modality=modality,
        counted_elsewhere=counted_elsewhere,
    )


def call(at: datetime, minutes: float = 5, modality: str = "audio", **kw: Any) -> TimeEntryFact:
    """An interactive call."""
    return entry(minutes, at, activity="call", interactive=True, modality=modality, **kw)


def noon(day: date) -> datetime:
    """18:00 UTC on ``day`` (midday in US zones)."""
    return datetime(day.year, day.month, day.day, 18, tzinfo=UTC)


def facts(**kw: Any) -> PatientFacts:
    """RPM facts for an established, consenting patient, monitoring from 2026-03-01, overridable."""
    base: dict[str, Any] = {
        "program": "RPM",
        "rtm_category": None,
        "patient_time_zone": "America/New_York",
        "practice_time_zone": "America/New_York",
        "monitoring_start": date(2026, 3, 1),
        "established_patient": True,
        "consent_date": date(2026, 2, 20),
    }
    base.update(kw)
    return PatientFacts(**base)


def rtm(category: str = "musculoskeletal", **kw: Any) -> PatientFacts:
    """RTM facts of ``category``."""
    return facts(program="RTM", rtm_category=category, **kw)


def code(evaluation: Evaluation, cpt: str) -> CodeResult:
    """The single result of ``cpt``."""
    found = [r for r in evaluation.codes if r.code == cpt]
    assert len(found) == 1, [r.code for r in evaluation.codes]
    return found[0]


def warning_codes(evaluation: Evaluation) -> set[str]:
    """Codes of the evaluation's warnings."""
    return {w.code for w in evaluation.warnings}
