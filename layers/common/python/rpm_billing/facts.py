"""Stored items to engine inputs: turn a patient's PROFILE, ENROLLMENT and MONTH aggregates into ``PatientFacts``.

The status read, the worklist, the monthly run and exports all judge a patient from the same facts, built here.
Items are plain dicts as ``rpm_billing.db.client.from_item`` returns them (attributes per docs/data-model.md);
the deployment configuration may be that dict or a record object with the same attribute names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast

from rpm_billing.rules import PatientFacts, ReadingDayFact, TimeEntryFact

ENTRY_PREFIX = "E#"


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a mapping or an object, ``default`` when absent or ``None``."""
    value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return default if value is None else value


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", None) or str(value)


def _entry(entry_id: str, fact: Mapping[str, Any]) -> TimeEntryFact:
    started = datetime.fromisoformat(str(fact["started_at"]))
    modality = fact.get("modality")
    return TimeEntryFact(
        entry_id=entry_id,
        started_at=started,
        duration_seconds=int(fact["duration_seconds"]),
        activity=str(fact["activity"]),
        clinician_id=str(fact.get("clinician_id") or ""),
        clinical_role=str(fact.get("clinical_role") or "clinical_staff"),
        interactive=bool(fact.get("interactive", False)),
        modality=str(modality) if modality else None,
        counted_elsewhere=bool(fact.get("counted_elsewhere", False)),
    )


def month_facts(
    month_items: Iterable[Mapping[str, Any]],
) -> tuple[tuple[ReadingDayFact, ...], tuple[TimeEntryFact, ...]]:
    """The reading days and time entries held by MONTH aggregates (``device_days``/``manual_days``, ``E#`` maps)."""
    days: set[tuple[date, str]] = set()
    entries: dict[str, TimeEntryFact] = {}
    for item in month_items:
        for source, attribute in (("device", "device_days"), ("manual", "manual_days")):
            for text in item.get(attribute) or ():
                days.add((date.fromisoformat(str(text)), source))
        for name, value in item.items():
            if name.startswith(ENTRY_PREFIX) and isinstance(value, Mapping):
                entry_id = name[len(ENTRY_PREFIX) :]
                entries[entry_id] = _entry(entry_id, value)
    reading_days = tuple(ReadingDayFact(day=day, source=cast(Any, source)) for day, source in sorted(days))
    time_entries = tuple(sorted(entries.values(), key=lambda e: (e.started_at, e.entry_id)))
    return reading_days, time_entries


def setup_already_billed(enrollment: Mapping[str, Any]) -> bool:
    """Whether the set-up code was already billed in the enrollment's current episode."""
    billed = enrollment.get("setup_billed")
    if not billed:
        return False
    episode = enrollment.get("episode_id")
    billed_episode = billed.get("episode_id") if isinstance(billed, Mapping) else None
    return episode is None or billed_episode is None or billed_episode == episode


def setup_billed_on(enrollment: Mapping[str, Any]) -> date | None:
    """The date of service of the set-up claim of the current episode, when it was billed and recorded one."""
    billed = enrollment.get("setup_billed")
    if not setup_already_billed(enrollment) or not isinstance(billed, Mapping):
        return None
    raw = billed.get("date_of_service")
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def practice_time_zone(config: Any) -> str:
    """The deployment's (practice's) IANA zone."""
    return str(field(config, "time_zone", "UTC"))


def patient_time_zone(profile: Mapping[str, Any] | None, config: Any) -> str:
    """The patient's IANA zone: the profile's, else the deployment's."""
    return str((profile or {}).get("time_zone") or practice_time_zone(config))


def facts_from_items(
    profile: Mapping[str, Any] | None,
    enrollment: Mapping[str, Any],
    config: Any,
    month_items: Iterable[Mapping[str, Any]],
) -> PatientFacts:
    """Build the engine's facts for one patient from stored items.

    Args:
        profile: The PROFILE item (only ``time_zone`` and ``patient_id`` are read; no PHI leaves here).
        enrollment: The ENROLLMENT item (consent, established patient, monitoring start, first reading day,
            set-up already billed in this episode, reading days synced before a start that stayed).
        config: The deployment configuration (``program``, ``rtm_category``, ``time_zone``).
        month_items: MONTH aggregates covering the period(s) to judge (e.g. the months around a date).

    Returns:
        The ``PatientFacts`` of the patient for the given months.
    """
    reading_days, time_entries = month_facts(month_items)
    # The anchor of the 30-day periods: the explicit start, else the earliest reading day (moved back by
    # late-synced readings until billing fixes it; rpm_billing.db.readings).
    monitoring_start = _as_date(enrollment.get("monitoring_start")) or _as_date(enrollment.get("first_reading_day"))
    return PatientFacts(
        program=cast(Any, _as_str(field(config, "program", "RPM"))),
        rtm_category=_as_str(field(config, "rtm_category")),
        patient_time_zone=patient_time_zone(profile, config),
        practice_time_zone=practice_time_zone(config),
        monitoring_start=monitoring_start,
        established_patient=bool(enrollment.get("established_patient", False)),
        consent_date=_as_date(enrollment.get("consent_date")),
        reading_days=reading_days,
        time_entries=time_entries,
        setup_billed=setup_already_billed(enrollment),
        setup_billed_on=setup_billed_on(enrollment),
        days_before_start=len(enrollment.get("days_before_start") or ()),
        patient_id=str(enrollment.get("patient_id") or (profile or {}).get("patient_id") or ""),
    )


def policy_of(config: Any) -> Any:
    """The deployment's ``BillingPolicy`` (its overrides over the defaults)."""
    from rpm_billing.rules import BillingPolicy

    overrides = field(config, "policy", None)
    if isinstance(overrides, BillingPolicy):
        return overrides
    if hasattr(overrides, "model_dump"):
        overrides = overrides.model_dump()
    return BillingPolicy(**dict(overrides or {}))
