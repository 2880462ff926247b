"""The configurable rules: one field per ambiguity of billing-rules §6 (A1..A15) and per configurable rule.

Defaults are the specification's defaults. A deployment stores only its overrides; ``BillingPolicy(**overrides)``
validates them (unknown fields are refused). A9 and A11 (payment amounts, contractor pricing) are rate-table matters
outside the engine: the engine never prices a code; the catalogue only marks contractor-priced codes in a note.
A14 (surgical global periods) needs facts the engine does not receive and is not evaluated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_QUALIFYING_ACTIVITIES = frozenset({"call", "note", "flag_review", "data_review", "care_coordination"})
DEFAULT_TIME_ROLES = frozenset({"physician", "npp", "qhp", "therapist", "clinical_staff"})
DEFAULT_INTERPRETATION_ROLES = frozenset({"physician", "npp", "qhp"})
DEFAULT_INTERPRETATION_ACTIVITIES = frozenset({"data_review", "flag_review", "note"})


class BillingPolicy(BaseModel, frozen=True, extra="forbid"):
    """Payer/practice policy for the ambiguous and configurable billing rules."""

    setup_min_days: Literal[2, 16] = Field(
        2,
        description="A1: days of data in the first 30-day period before 99453/98975 may be billed; 2 per current "
        "2026 sources, 16 under the pre-2026 code set.",
    )
    accept_synchronous_text: bool = Field(
        False,
        description="A2: whether live (synchronous) text chat counts as the interactive communication; CMS 2021 "
        "names two-way audio, so by default only audio or video calls count.",
    )
    interaction_per_add_on: bool = Field(
        False,
        description="A3: whether each 99458/98981 unit needs one more interactive communication (N+1 for N "
        "add-ons); most guides say one per month covers all units.",
    )
    allow_99091_with_time_codes: bool = Field(
        False,
        description="A4/R-P2: whether 99091 may be billed for a period overlapping a month with 99457/99458/99470; "
        "CPT says never. When allowed, minutes used for a met 99091 are not counted toward the time codes (R-T3e).",
    )
    add_on_unit_cap: int | None = Field(
        2,
        ge=0,
        le=10,
        description="A5/R-U2: most 99458/98981 units per month; claim edits commonly allow 2; None means no cap. "
        "Units above the cap raise a warning.",
    )
    time_code_min_data_days: int = Field(
        0,
        ge=0,
        le=31,
        description="A6/R-T5: days of data a month needs before its time codes are met; CMS requires none (the "
        "engine warns at 0 days).",
    )
    time_code_period: Literal["calendar_month"] = Field(
        "calendar_month", description="A7: time codes are per calendar month (CPT/CMS); no other period is supported."
    )
    add_on_increment_minutes: Literal[20] = Field(
        20, description="A8: minutes per 99458/98981 unit; 20 in the final 2026 code set (10 was never adopted)."
    )
    setup_per: Literal["episode"] = Field(
        "episode", description="A10: 99453/98975 once per episode of care per patient, never per device."
    )
    date_of_service: Literal["period_end", "threshold_met"] = Field(
        "period_end",
        description="A12/R-C1: date of service of a met code: the last day of its period/month, or the day its "
        "threshold was met (device and set-up codes; time codes keep the month end, their unit count is only "
        "certain then).",
    )
    rtm_device_codes_per_period: Literal[1] = Field(
        1, description="A13: one RTM device-supply code per 30-day period; facts carry a single RTM category."
    )
    day_clock: Literal["patient", "practice"] = Field(
        "patient",
        description="A15/R-Z1: which zone turns a reading's instant into its day of data; the patient's local date "
        "by default. Stored reading days are already patient-local and are taken as they are.",
    )
    exclude_em_day_time: bool = Field(
        True,
        description="R-T3d: leave out time logged on a date with an E/M visit by the billing practitioner.",
    )
    qualifying_activities: frozenset[str] = Field(
        DEFAULT_QUALIFYING_ACTIVITIES,
        description="R-T3a/f: activities whose time counts toward the time codes; profile updates, 'other' and "
        "set-up time do not.",
    )
    time_roles: frozenset[str] = Field(
        DEFAULT_TIME_ROLES,
        description="R-T3c/R-E5: clinical roles whose time counts; non-clinical staff time does not.",
    )
    interpretation_roles: frozenset[str] = Field(
        DEFAULT_INTERPRETATION_ROLES, description="R-E5/R-P1: roles whose own time counts toward 99091."
    )
    interpretation_activities: frozenset[str] = Field(
        DEFAULT_INTERPRETATION_ACTIVITIES, description="R-P1: activities that are data collection and interpretation."
    )
    require_consent: bool = Field(
        True,
        description="R-E2: block every code (not_applicable) while no consent is on file or the consent postdates "
        "the period; the engine always warns when consent is missing.",
    )
    require_established_patient: bool = Field(
        True, description="R-E1: block every RPM code when the patient is not established with the practice."
    )


DEFAULT_POLICY = BillingPolicy()
