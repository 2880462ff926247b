"""The rows of each export file, built one page of patients at a time.

Files (``{name}.csv`` or ``{name}.json``, same columns in both formats; JSON is an array of objects):

- ``billing_status``: one row per patient, code and period, judged by the rules engine (``evaluate_month`` for
  each month of the range; a period seen from two months is written once, as judged from the later month).
- ``enrollment``: one row per patient: identity and the billing episode.
- ``time_entries``: one row per time entry of the range's months (removed entries are left out).
- ``appointments``: one row per appointment scheduled in the range (practice's calendar months).
- ``readings``: one row per reading on a patient-local day of the range.

The report is for billers, so identity (names, birth date, MRN) is in it; none of it is ever logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from export import source
from rpm_billing.db import keys

KINDS = ("billing_status", "enrollment", "time_entries", "appointments", "readings")

IDENTITY = ("patient_id", "given_name", "family_name", "birth_date", "mrn")
COLUMNS: dict[str, tuple[str, ...]] = {
    "billing_status": (
        *IDENTITY,
        "insurance_carriers",
        "billing_provider",
        "billing_provider_npi",
        "primary_diagnosis",
        "program",
        "patient_time_zone",
        "code",
        "period_start",
        "period_end",
        "status",
        "days_with_data",
        "minutes",
        "interactive_calls",
        "interactive_call_dates",
        "units",
        "date_of_service",
        "pending",
    ),
    "enrollment": (
        *IDENTITY,
        "time_zone",
        "billing_state",
        "enrollment_status",
        "episode_id",
        "insurance_carriers",
        "insurance_member_ids",
        "billing_provider",
        "billing_provider_npi",
        "primary_diagnosis",
        "consent_date",
        "monitoring_start",
        "first_reading_day",
        "established_patient",
        "enrolled_at",
        "ended_at",
        "ended_reason",
    ),
    "time_entries": (
        "patient_id",
        "entry_id",
        "month",
        "activity",
        "started_at",
        "duration_seconds",
        "modality",
        "interactive",
        "clinician_id",
        "clinical_role",
        "appointment_id",
        "note",
    ),
    "appointments": (
        "patient_id",
        "appointment_id",
        "scheduled_at",
        "duration_minutes",
        "status",
        "entry_id",
    ),
    "readings": (
        "patient_id",
        "local_date",
        "reading_id",
        "measured_at",
        "type",
        "source",
        "device_id",
        "value",
        "unit",
    ),
}

#: ``(facts, month, policy) -> Evaluation``: the rules engine, replaceable for tests of the file mechanics.
Evaluator = Callable[[Any, str, Any], Any]


def add_months(month: str, count: int) -> str:
    """``YYYY-MM`` shifted by ``count`` months."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive."""
    months = [first]
    while months[-1] < last:
        months.append(add_months(months[-1], 1))
    return months


def engine_evaluator(facts: Any, month: str, policy: Any) -> Any:
    """The real rules engine."""
    from rpm_billing.rules import evaluate_month

    return evaluate_month(facts, month=month, policy=policy)


def rules_version() -> str:
    """The rule catalogue's version, for the manifest."""
    from rpm_billing.rules import RULES_VERSION

    return str(RULES_VERSION)


@dataclass
class Scope:
    """What one export covers: tenant, deployment, configuration, months and patients."""

    org_id: str
    deployment_id: str
    config: dict[str, Any]
    months: list[str]
    patients: str | list[str]
    evaluator: Evaluator = engine_evaluator
    patient_time_zones: set[str] = field(default_factory=set)

    @property
    def practice_zone(self) -> str:
        return str(self.config.get("time_zone") or "UTC")

    def pages(self, limit: int) -> Iterator[list[str]]:
        """Patient ids page by page, never more than ``limit`` in all (the worker's own cap)."""
        pages = (
            source.enrolled_pages(self.org_id, self.deployment_id)
            if self.patients == "all"
            else source.list_pages(sorted(self.patients))
        )
        left = limit
        for page in pages:
            if left <= 0:
                return
            yield page[:left]
            left -= len(page[:left])


def _identity(patient_id: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "given_name": profile.get("given_name"),
        "family_name": profile.get("family_name"),
        "birth_date": profile.get("birth_date"),
        "mrn": profile.get("mrn"),
    }


def _episode(enrollment: Mapping[str, Any]) -> dict[str, Any]:
    carriers = list(enrollment.get("insurance_carriers") or [])
    provider = enrollment.get("billing_provider") or {}
    return {
        "insurance_carriers": [str(c.get("name") or "") for c in carriers],
        "insurance_member_ids": [str(c.get("member_id") or "") for c in carriers],
        "billing_provider": provider.get("name"),
        "billing_provider_npi": provider.get("npi"),
        "primary_diagnosis": enrollment.get("primary_diagnosis"),
    }


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date | datetime) else (None if value is None else str(value))


def _call_dates(month_items: list[dict[str, Any]], zone: ZoneInfo) -> list[date]:
    dates = set()
    for item in month_items:
        for name, fact in item.items():
            if name.startswith("E#") and isinstance(fact, Mapping) and fact.get("interactive"):
                dates.add(datetime.fromisoformat(str(fact["started_at"])).astimezone(zone).date())
    return sorted(dates)


def in_scope(scope: Scope, profile: Mapping[str, Any] | None, enrollment: Mapping[str, Any] | None) -> bool:
    """Whether a patient belongs in the export: of this deployment, and enrolled when "all" was asked."""
    if profile is None or profile.get("deployment_id") != scope.deployment_id:
        return False
    if scope.patients == "all":
        return enrollment is not None and enrollment.get("status") == "active"
    return True


def billing_rows(scope: Scope, page: list[str]) -> Iterator[dict[str, Any]]:
    """The billing status rows of one page of patients."""
    from rpm_billing.facts import facts_from_items, patient_time_zone, policy_of

    window = months_between(add_months(scope.months[0], -1), add_months(scope.months[-1], 1))
    wanted = [keys.PROFILE_SK, keys.ENROLLMENT_SK, *(keys.month_sk(m) for m in window)]
    items = source.patient_items(scope.org_id, page, wanted)
    policy = policy_of(scope.config)
    program = str(scope.config.get("program") or "RPM")
    practice = ZoneInfo(scope.practice_zone)
    for patient_id in page:
        found = items[patient_id]
        profile, enrollment = found.get(keys.PROFILE_SK), found.get(keys.ENROLLMENT_SK)
        if not in_scope(scope, profile, enrollment) or enrollment is None:
            continue
        month_items = [found[keys.month_sk(m)] for m in window if keys.month_sk(m) in found]
        facts = facts_from_items(profile, {**enrollment, "patient_id": patient_id}, scope.config, month_items)
        zone = patient_time_zone(profile, scope.config)
        scope.patient_time_zones.add(zone)
        calls = _call_dates(month_items, practice)
        base = {**_identity(patient_id, profile or {}), **_episode(enrollment), "program": program}
        base["patient_time_zone"] = zone
        periods: dict[tuple[str, str], dict[str, Any]] = {}
        for month in scope.months:
            for result in scope.evaluator(facts, month, policy).codes:
                start, end = _day(result.period_start), _day(result.period_end)
                periods[(str(result.code), _iso(start) or "")] = {
                    **base,
                    "code": str(result.code),
                    "period_start": start,
                    "period_end": end,
                    "status": str(getattr(result.status, "value", result.status)),
                    "days_with_data": result.days_with_data,
                    "minutes": result.minutes,
                    "interactive_calls": result.interactive_calls,
                    "interactive_call_dates": [d for d in calls if start and end and start <= d <= end],
                    "units": result.units,
                    "date_of_service": _day(result.date_of_service),
                    "pending": [str(p) for p in result.pending or ()],
                }
        for key in sorted(periods):
            yield periods[key]


def enrollment_rows(scope: Scope, page: list[str]) -> Iterator[dict[str, Any]]:
    """The enrollment rows of one page of patients."""
    items = source.patient_items(scope.org_id, page, [keys.PROFILE_SK, keys.ENROLLMENT_SK])
    for patient_id in page:
        profile, enrollment = items[patient_id].get(keys.PROFILE_SK), items[patient_id].get(keys.ENROLLMENT_SK)
        if not in_scope(scope, profile, enrollment):
            continue
        episode = enrollment or {}
        yield {
            **_identity(patient_id, profile or {}),
            "time_zone": (profile or {}).get("time_zone") or scope.practice_zone,
            "billing_state": (profile or {}).get("billing_state"),
            "enrollment_status": episode.get("status"),
            "episode_id": episode.get("episode_id"),
            **_episode(episode),
            **{
                name: episode.get(name)
                for name in (
                    "consent_date",
                    "monitoring_start",
                    "first_reading_day",
                    "established_patient",
                    "enrolled_at",
                    "ended_at",
                    "ended_reason",
                )
            },
        }


def _members(scope: Scope, page: list[str]) -> list[str]:
    items = source.patient_items(scope.org_id, page, [keys.PROFILE_SK, keys.ENROLLMENT_SK])
    return [pid for pid in page if in_scope(scope, items[pid].get(keys.PROFILE_SK), items[pid].get(keys.ENROLLMENT_SK))]


def time_entry_rows(scope: Scope, page: list[str]) -> Iterator[dict[str, Any]]:
    """The time entries of the range's months for one page of patients."""
    low, high = keys.entry_sk(scope.months[0], ""), keys.entry_sk(scope.months[-1], "~")
    for patient_id in _members(scope, page):
        for item in source.query_patient(scope.org_id, patient_id, low, high):
            if item.get("deleted"):
                continue
            yield {
                "patient_id": patient_id,
                "entry_id": item.get("entry_id"),
                "month": str(item["SK"]).split("#")[1],
                **{name: item.get(name) for name in COLUMNS["time_entries"][3:]},
            }


def appointment_rows(scope: Scope, page: list[str]) -> Iterator[dict[str, Any]]:
    """The appointments scheduled in the range (practice's months) for one page of patients."""
    practice = ZoneInfo(scope.practice_zone)
    first, last = scope.months[0], scope.months[-1]
    for patient_id in _members(scope, page):
        for item in source.query_patient(scope.org_id, patient_id, keys.appointment_sk("")):
            scheduled = item.get("scheduled_at")
            if not scheduled:
                continue
            local = datetime.fromisoformat(str(scheduled)).astimezone(practice)
            if not first <= f"{local.year:04d}-{local.month:02d}" <= last:
                continue
            yield {
                "patient_id": patient_id,
                "appointment_id": item.get("appointment_id") or str(item["SK"]).split("#", 1)[1],
                **{name: item.get(name) for name in COLUMNS["appointments"][2:]},
            }


def reading_rows(scope: Scope, page: list[str]) -> Iterator[dict[str, Any]]:
    """The readings on patient-local days of the range for one page of patients."""
    low = keys.reading_day_sk(f"{scope.months[0]}-01")
    high = keys.reading_day_sk(f"{scope.months[-1]}-31")
    for patient_id in _members(scope, page):
        for item in source.query_patient(scope.org_id, patient_id, low, high):
            local_date = str(item["SK"]).split("#", 1)[1]
            readings = [(name[2:], value) for name, value in item.items() if name.startswith("R#")]
            readings.sort(key=lambda pair: (str(pair[1].get("measured_at") or ""), pair[0]))
            for reading_id, reading in readings:
                yield {
                    "patient_id": patient_id,
                    "local_date": local_date,
                    "reading_id": reading_id,
                    **{name: reading.get(name) for name in COLUMNS["readings"][3:]},
                }


ROWS: dict[str, Callable[[Scope, list[str]], Iterator[dict[str, Any]]]] = {
    "billing_status": billing_rows,
    "enrollment": enrollment_rows,
    "time_entries": time_entry_rows,
    "appointments": appointment_rows,
    "readings": reading_rows,
}
