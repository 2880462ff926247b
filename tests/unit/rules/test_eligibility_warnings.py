"""Eligibility and blocks (R-E1, R-E2, R-D2, R-X1), warnings (§9), catalogue and input checks."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from rpm_billing.rules import (
    CATALOGUES,
    RULES_VERSION,
    BillingPolicy,
    PriorClaim,
    ReadingFact,
    Status,
    catalogue_for,
    codes_for,
    evaluate,
    evaluate_month,
)
from tests.unit.rules.builders import call, code, days, entry, facts, noon, rtm, warning_codes

START = date(2026, 3, 1)
D = date(2026, 3, 10)


def test_eligibility_rpm_not_established_blocks_every_code() -> None:
    # Given an RPM patient without a prior visit but plenty of data and time
    patient = facts(established_patient=False, reading_days=days(START, 20), time_entries=(call(noon(D), 25),))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then every code is not applicable with a note, and the risk is flagged
    assert {r.status for r in evaluation.codes} == {Status.NOT_APPLICABLE}
    assert "RPM needs an established patient" in code(evaluation, "99454").notes[-1]
    assert "no_prior_visit" in warning_codes(evaluation)


def test_eligibility_rtm_needs_no_established_patient() -> None:
    # Given an RTM patient without a prior visit
    patient = rtm(established_patient=False, reading_days=days(START, 20))
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "98977")
    # Then the code is met
    assert result.status == Status.MET


def test_eligibility_policy_can_lift_established_requirement() -> None:
    # Given a non-established RPM patient and the requirement switched off
    patient = facts(established_patient=False, reading_days=days(START, 20))
    # When closing March
    result = code(
        evaluate_month(patient, month="2026-03", policy=BillingPolicy(require_established_patient=False)), "99454"
    )
    # Then the code is met
    assert result.status == Status.MET


def test_consent_missing_blocks_and_warns() -> None:
    # Given no consent on file
    patient = facts(consent_date=None, reading_days=days(START, 20))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then codes are blocked and consent_missing is raised
    assert (code(evaluation, "99454").status, "consent_missing" in warning_codes(evaluation)) == (
        Status.NOT_APPLICABLE,
        True,
    )


def test_consent_missing_only_warns_when_policy_off() -> None:
    # Given no consent and the consent block off
    patient = facts(consent_date=None, reading_days=days(START, 20))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03", policy=BillingPolicy(require_consent=False))
    # Then the code is met, but the warning remains
    assert (code(evaluation, "99454").status, "consent_missing" in warning_codes(evaluation)) == (Status.MET, True)


def test_consent_after_period_blocks() -> None:
    # Given consent signed after the first period
    patient = facts(consent_date=date(2026, 4, 2), reading_days=days(START, 20))
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "99454")
    # Then the period is blocked
    assert result.notes == ("consent is dated after the period",)


def test_consent_within_period_is_enough() -> None:
    # Given consent signed during the period
    patient = facts(consent_date=date(2026, 3, 15), reading_days=days(START, 20))
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "99454")
    # Then the code is met
    assert result.status == Status.MET


def test_claim_by_other_practitioner_blocks_device_code() -> None:
    # Given another practice billed 99454 for an overlapping period
    claim = PriorClaim("99454", date(2026, 3, 20), date(2026, 2, 20), date(2026, 3, 20), other_practitioner=True)
    patient = facts(reading_days=days(START, 20), prior_claims=(claim,))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the device code is blocked and two practices are flagged
    assert (code(evaluation, "99454").status, "billed_by_two_practices" in warning_codes(evaluation)) == (
        Status.NOT_APPLICABLE,
        True,
    )


def test_claim_of_other_program_blocks_time_code() -> None:
    # Given an RTM time code billed in March for an RPM patient
    patient = facts(time_entries=(call(noon(D), 25),), prior_claims=(PriorClaim("98980", date(2026, 3, 31)),))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then RPM time codes are blocked (R-X1)
    assert (code(evaluation, "99457").status, "rpm_and_rtm_overlap" in warning_codes(evaluation)) == (
        Status.NOT_APPLICABLE,
        True,
    )


def test_own_claim_of_other_overlapping_period_blocks() -> None:
    # Given an own 99454 claim for a misaligned period overlapping March's
    claim = PriorClaim("99454", date(2026, 3, 14), date(2026, 2, 13), date(2026, 3, 14))
    patient = facts(reading_days=days(START, 20), prior_claims=(claim,))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the period is blocked
    assert "device_periods_overlap" in warning_codes(evaluation)


def test_own_claim_of_same_period_and_unrelated_claims_do_not_block() -> None:
    # Given an own claim of this very period, an unknown code and a claim of an earlier period
    claims = (
        PriorClaim("99454", date(2026, 3, 30), START, date(2026, 3, 30)),
        PriorClaim("99214", date(2026, 3, 5)),
        PriorClaim("99454", date(2026, 1, 30), date(2026, 1, 1), date(2026, 1, 30), other_practitioner=True),
    )
    patient = facts(reading_days=days(START, 20), prior_claims=claims)
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "99454")
    # Then it stays met
    assert result.status == Status.MET


def test_warning_time_code_without_data() -> None:
    # Given a met 99457 and no readings
    patient = facts(time_entries=(call(noon(D), 25),))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the OIG signal is raised
    assert "no_data_with_time_code" in warning_codes(evaluation)


def test_warning_add_on_over_cap() -> None:
    # Given 80 minutes (3 add-on units by time)
    patient = facts(time_entries=(call(noon(D), 80),))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the cap is flagged
    assert "add_on_units_over_cap" in warning_codes(evaluation)


def test_warning_messaging_only() -> None:
    # Given only text exchanges in the month
    patient = facts(time_entries=(call(noon(D), 25, modality="text"),))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then messaging-only interactions are flagged
    assert "messaging_only_interactions" in warning_codes(evaluation)


def test_warning_device_without_management() -> None:
    # Given a met device code and no logged time
    patient = facts(reading_days=days(START, 20))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then device without management is flagged
    assert "device_without_management" in warning_codes(evaluation)


def test_warning_new_fee_schedule_year_and_2027_unverified() -> None:
    # Given a period 2026-12-15..2027-01-13 with data
    patient = facts(monitoring_start=date(2026, 12, 15), reading_days=days(date(2026, 12, 15), 16))
    # When closing January 2027
    evaluation = evaluate_month(patient, month="2027-01")
    # Then both the new fee-schedule year and unverified 2027 rules are flagged
    assert {"new_fee_schedule_year", "rules_not_verified"} <= warning_codes(evaluation)


def test_warning_none_for_a_clean_2026_month() -> None:
    # Given a complete, clean March
    patient = facts(reading_days=days(START, 20), time_entries=(call(noon(D), 25),))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then no warning
    assert evaluation.warnings == ()


def test_warning_manual_only_for_rpm() -> None:
    # Given only manual readings for an RPM patient
    patient = facts(reading_days=days(START, 5, source="manual"))
    # When evaluated
    evaluation = evaluate(patient, as_of=D)
    # Then manual readings not counted is flagged
    assert "manual_readings_not_counted" in warning_codes(evaluation)


def test_warning_readings_before_fixed_monitoring_start() -> None:
    # Given three reading days that synced after the periods were fixed, before the monitoring start
    patient = facts(reading_days=days(START, 20), days_before_start=3)
    # When evaluated live and when closing the month
    live = evaluate(patient, as_of=D)
    closing = evaluate_month(patient, month="2026-03")
    # Then both flag it, naming the count, and the period still starts at the monitoring start
    for evaluation in (live, closing):
        warning = next(w for w in evaluation.warnings if w.code == "readings_before_monitoring_start")
        assert warning.message.startswith("3 days with readings")
    assert code(closing, "99454").period_start == START


def test_warning_readings_before_start_absent_without_late_days() -> None:
    # Given no late days
    patient = facts(reading_days=days(START, 20), days_before_start=0)
    # When evaluated
    evaluation = evaluate(patient, as_of=D)
    # Then no such warning
    assert "readings_before_monitoring_start" not in warning_codes(evaluation)


def test_rtm_without_category_has_no_device_codes() -> None:
    # Given an RTM patient without a category
    patient = rtm(None, reading_days=days(START, 20))  # type: ignore[arg-type]
    # When evaluated
    evaluation = evaluate(patient, as_of=D)
    # Then only set-up and time codes, and a warning
    assert ([r.code for r in evaluation.codes], "rtm_category_missing" in warning_codes(evaluation)) == (
        ["98975", "98979", "98980", "98981"],
        True,
    )


def test_codes_for_programs_in_display_order() -> None:
    # Given the programs
    # When listing their codes
    listed = (codes_for("RPM", None), codes_for("RTM", "respiratory"))
    # Then the display order is set-up, device, time (and 99091 for RPM)
    assert listed == (
        ("99453", "99445", "99454", "99470", "99457", "99458", "99091"),
        ("98975", "98984", "98976", "98979", "98980", "98981"),
    )


def test_evaluation_carries_version_month_and_zones() -> None:
    # Given a patient
    patient = facts(practice_time_zone="America/Chicago")
    # When evaluated live
    evaluation = evaluate(patient, as_of=D)
    # Then its header records what an audit needs
    assert (evaluation.rules_version, evaluation.month, evaluation.as_of, evaluation.practice_time_zone) == (
        RULES_VERSION,
        "2026-03",
        D,
        "America/Chicago",
    )


@pytest.mark.parametrize("month", ["2026-3", "March", "2026-13", "26-03-01"])
def test_evaluate_month_rejects_bad_month(month: str) -> None:
    # Given a malformed month
    # When closing it
    # Then a ValueError names the format
    with pytest.raises(ValueError, match="YYYY-MM"):
        evaluate_month(facts(), month=month)


def test_unknown_time_zone_is_a_value_error() -> None:
    # Given an unknown zone
    patient = facts(patient_time_zone="Mars/Olympus")
    # When evaluated
    # Then a ValueError is raised
    with pytest.raises(ValueError, match="IANA"):
        evaluate(patient, as_of=D)


def test_naive_reading_time_is_a_value_error() -> None:
    # Given a reading without a zone
    patient = facts(readings=(ReadingFact(at=datetime(2026, 3, 2, 12), source="device"),))
    # When evaluated
    # Then a ValueError is raised
    with pytest.raises(ValueError, match="time zone"):
        evaluate(patient, as_of=D)


def test_naive_entry_time_is_a_value_error() -> None:
    # Given a time entry without a zone
    patient = facts(time_entries=(entry(5, datetime(2026, 3, 2, 12)),))
    # When evaluated
    # Then a ValueError is raised
    with pytest.raises(ValueError, match="time zone"):
        evaluate(patient, as_of=D)


def test_policy_refuses_unknown_fields() -> None:
    # Given an unknown override
    # When building the policy
    # Then validation fails
    with pytest.raises(ValidationError):
        BillingPolicy(add_on_cap=3)  # type: ignore[call-arg]


def test_policy_accepts_json_lists_for_sets() -> None:
    # Given overrides as stored JSON
    policy = BillingPolicy.model_validate({"time_roles": ["physician"], "setup_min_days": 16})
    # When reading them
    # Then sets and literals are typed
    assert (policy.time_roles, policy.setup_min_days) == (frozenset({"physician"}), 16)


def test_catalogue_selected_by_date_of_service() -> None:
    # Given dates before, in and after 2026
    # When selecting the tables
    chosen = [catalogue_for(d) for d in (date(2025, 6, 1), date(2026, 6, 1), date(2027, 6, 1))]
    # Then the 2026 table serves all (the only one, with 2027 flagged unverified elsewhere)
    assert chosen == [CATALOGUES[0]] * 3 and CATALOGUES[0].verified_through == date(2026, 12, 31)
