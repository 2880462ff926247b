"""Inputs and outputs of the rules engine: plain frozen dataclasses, no I/O and no validation cost in the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

Source = Literal["device", "manual"]


@dataclass(frozen=True, slots=True)
class ReadingFact:
    """One reading.

    Attributes:
        at: When it was measured (timezone-aware).
        source: ``device`` (sent automatically) or ``manual`` (typed in by the patient or staff).
        device_id: The device that sent it, when known.
    """

    at: datetime
    source: Source
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReadingDayFact:
    """A patient-local date with at least one reading of ``source``."""

    day: date
    source: Source


@dataclass(frozen=True, slots=True)
class TimeEntryFact:
    """Billing facts of one logged time entry (never its note).

    Attributes:
        entry_id: Stable identifier; duplicates of one id count once.
        started_at: Start instant (timezone-aware); the entry belongs to the practice-local date and month of it.
        duration_seconds: Logged duration.
        activity: ``call``, ``note``, ``flag_review``, ``data_review``, ``profile_update``, ``care_coordination``,
            ``other`` or ``setup``.
        clinician_id: Who logged it.
        clinical_role: ``physician``, ``npp``, ``qhp``, ``therapist``, ``clinical_staff`` or ``non_clinical``.
        interactive: Whether it was a real-time exchange with the patient or caregiver.
        modality: ``audio``, ``video``, ``text`` or ``None``.
        counted_elsewhere: Whether the time already counts toward another billed service (CCM, PCM, ...).
    """

    entry_id: str
    started_at: datetime
    duration_seconds: int
    activity: str
    clinician_id: str
    clinical_role: str
    interactive: bool
    modality: str | None
    counted_elsewhere: bool = False


@dataclass(frozen=True, slots=True)
class PriorClaim:
    """A code already billed for the patient (by this practice unless ``other_practitioner``)."""

    code: str
    date_of_service: date
    period_start: date | None = None
    period_end: date | None = None
    other_practitioner: bool = False


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """Everything the engine knows about one patient in one program (RPM or RTM, never both: R-X1).

    Attributes:
        program: ``RPM`` or ``RTM``.
        rtm_category: ``respiratory``, ``musculoskeletal`` or ``cbt`` for RTM; decides the device codes.
        patient_time_zone: IANA zone of the patient; days of data are dates in it (R-Z1).
        practice_time_zone: IANA zone of the billing practice; months of time codes are months in it (R-Z2).
        monitoring_start: First monitoring day, the anchor of the 30-day periods (else the first day with data).
        established_patient: Whether the practice saw the patient before RPM started (R-E1).
        consent_date: Date of the documented consent, ``None`` when none is on file (R-E2).
        readings: Individual readings (converted to patient-local dates by the engine).
        reading_days: Patient-local dates with readings, as stored by the month aggregates.
        time_entries: Logged time.
        em_visit_dates: Practice-local dates of E/M visits by the billing practitioner (R-T3d, R-P1).
        prior_claims: Codes already billed.
        setup_billed: Whether the set-up code was already billed in this episode.
        setup_billed_on: The date of service of that set-up claim, when known: judged again in the period that
            holds it, the set-up code stays ``met`` (it is the claim already made), elsewhere it is not applicable.
        days_before_start: Days with readings that were synced after the 30-day periods were fixed (billed, or
            their month closed) and fall before the monitoring start: they count in no period (R-D4).
        patient_id: Opaque identifier, echoed for tracing only.
    """

    program: Literal["RPM", "RTM"]
    rtm_category: str | None
    patient_time_zone: str
    practice_time_zone: str
    monitoring_start: date | None
    established_patient: bool
    consent_date: date | None
    readings: tuple[ReadingFact, ...] = ()
    reading_days: tuple[ReadingDayFact, ...] = ()
    time_entries: tuple[TimeEntryFact, ...] = ()
    em_visit_dates: frozenset[date] = frozenset()
    prior_claims: tuple[PriorClaim, ...] = ()
    setup_billed: bool = False
    setup_billed_on: date | None = None
    days_before_start: int = 0
    patient_id: str = ""


class Status(StrEnum):
    """Where a code stands for its period.

    ``met``: supported. ``pending``: not yet supported, still reachable before the deadline. ``unreachable``: cannot be
    supported before the deadline with the days left. ``not_met``: the period is over and it was not supported.
    ``superseded``: its alternative (or an excluding code) is supported instead. ``not_applicable``: blocked
    (eligibility, consent, already billed, billed elsewhere).
    """

    MET = "met"
    PENDING = "pending"
    UNREACHABLE = "unreachable"
    NOT_MET = "not_met"
    SUPERSEDED = "superseded"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class CodeResult:
    """The judgement of one code for one period.

    Attributes:
        code: CPT code.
        description: Short description.
        kind: ``setup``, ``device``, ``time`` or ``interpretation``.
        period_start: First day of the period (30-day period or calendar month).
        period_end: Last day of the period, the deadline.
        status: See ``Status``.
        days_with_data: Days with qualifying data in the period (up to the evaluation date).
        minutes: Full qualifying minutes (time and interpretation codes).
        interactive_calls: Qualifying interactive communications in the month (time codes).
        units: Billable units (0 unless met).
        date_of_service: Date of service when met (policy A12), else ``None``.
        pending: What is still missing, in plain words.
        days_missing: Device and set-up codes: days with readings still needed for the band.
        notes: Explanations (why blocked, superseded, unreachable).
    """

    code: str
    description: str
    kind: str
    period_start: date
    period_end: date
    status: Status
    days_with_data: int | None
    minutes: int | None
    interactive_calls: int | None
    units: int
    date_of_service: date | None
    pending: tuple[str, ...]
    days_missing: int | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Warning:
    """An audit-risk signal (billing-rules §9): ``code`` is a stable identifier, ``message`` plain words."""

    code: str
    message: str


EngineWarning = Warning


@dataclass(frozen=True)
class Evaluation:
    """The engine's answer for one patient: every code of the program for the periods asked for."""

    rules_version: str
    as_of: date
    month: str
    patient_time_zone: str
    practice_time_zone: str
    month_total_seconds: int
    qualifying_seconds: int
    interactive_calls: int
    codes: tuple[CodeResult, ...]
    warnings: tuple[Warning, ...]
