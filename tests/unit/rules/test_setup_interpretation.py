"""Set-up codes (R-D6, A1, A10) and 99091 (R-P1, R-P2, A4)."""

from __future__ import annotations

from datetime import date

from rpm_billing.rules import BillingPolicy, PriorClaim, Status, evaluate, evaluate_month
from tests.unit.rules.builders import call, code, days, entry, facts, noon, rtm

START = date(2026, 3, 1)
D = date(2026, 3, 10)


def test_setup_met_with_two_days_in_first_period() -> None:
    # Given two days of data in the first period
    patient = facts(reading_days=days(START, 2))
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "99453")
    # Then 99453 is met, dated at the first period end
    assert (result.status, result.date_of_service) == (Status.MET, date(2026, 3, 30))


def test_setup_not_met_with_one_day() -> None:
    # Given one day of data
    patient = facts(reading_days=days(START, 1))
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "99453")
    # Then it is not met
    assert (result.status, result.days_missing) == (Status.NOT_MET, 1)


def test_setup_sixteen_day_policy() -> None:
    # Given 10 days and the legacy 16-day set-up policy
    patient = facts(reading_days=days(START, 10))
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(setup_min_days=16)), "99453")
    # Then it is not met
    assert result.status == Status.NOT_MET


def test_setup_threshold_met_convention_dates_second_day() -> None:
    # Given data on March 1 and March 5 and the threshold-met convention
    patient = facts(reading_days=(*days(START, 1), *days(date(2026, 3, 5), 1)))
    # When March is closed
    result = code(
        evaluate_month(patient, month="2026-03", policy=BillingPolicy(date_of_service="threshold_met")), "99453"
    )
    # Then DOS is the second day with data
    assert result.date_of_service == date(2026, 3, 5)


def test_setup_already_billed_is_not_applicable() -> None:
    # Given set-up billed in this episode
    patient = facts(reading_days=days(START, 5), setup_billed=True)
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "99453")
    # Then it is not applicable
    assert (result.status, result.units) == (Status.NOT_APPLICABLE, 0)


def test_setup_billed_in_the_judged_period_stays_met() -> None:
    # Given set-up billed with a date of service inside the first 30-day period (March 1-30)
    patient = facts(reading_days=days(START, 5), setup_billed=True, setup_billed_on=date(2026, 3, 30))
    # When March is judged again (a re-run, a status as of a day in the period, an export)
    result = code(evaluate_month(patient, month="2026-03"), "99453")
    # Then it is the claim already made: met, one unit, same date of service
    assert (result.status, result.units, result.date_of_service) == (Status.MET, 1, date(2026, 3, 30))


def test_setup_billed_in_an_earlier_period_is_not_applicable() -> None:
    # Given set-up billed on a date before this period
    patient = facts(reading_days=days(START, 5), setup_billed=True, setup_billed_on=date(2026, 2, 27))
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "99453")
    # Then it cannot be billed again
    assert (result.status, result.units) == (Status.NOT_APPLICABLE, 0)


def test_setup_prior_claim_in_the_judged_period_stays_met() -> None:
    # Given a prior 99453 claim dated inside the first period
    patient = facts(
        reading_days=days(START, 5), prior_claims=(PriorClaim(code="99453", date_of_service=date(2026, 3, 30)),)
    )
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "99453")
    # Then it is that claim: met
    assert result.status == Status.MET


def test_setup_prior_claim_is_not_applicable() -> None:
    # Given a prior 98975 claim for an RTM patient
    patient = rtm(
        reading_days=days(START, 5), prior_claims=(PriorClaim(code="98975", date_of_service=date(2026, 1, 30)),)
    )
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "98975")
    # Then it is not applicable
    assert result.status == Status.NOT_APPLICABLE


def test_setup_judged_only_in_first_period_month() -> None:
    # Given monitoring from March 1
    patient = facts(reading_days=days(START, 40))
    # When April is closed
    evaluation = evaluate_month(patient, month="2026-04")
    # Then no set-up result is due in April
    assert all(r.kind != "setup" for r in evaluation.codes)


def test_setup_live_after_first_period_is_final() -> None:
    # Given one day of data in the first period, evaluated in the second
    patient = facts(reading_days=days(START, 1))
    # When evaluated on 2026-04-10
    result = code(evaluate(patient, as_of=date(2026, 4, 10)), "99453")
    # Then the set-up window is over
    assert (result.period_end, result.status) == (date(2026, 3, 30), Status.NOT_MET)


def test_setup_live_pending() -> None:
    # Given one day of data on March 10
    patient = facts(reading_days=days(START, 1))
    # When evaluated live
    result = code(evaluate(patient, as_of=D), "99453")
    # Then one more day is needed
    assert result.pending == ("1 more day with readings by 2026-03-30",)


def test_interpretation_met_at_thirty_physician_minutes() -> None:
    # Given 30 physician review minutes and no time codes
    patient = facts(time_entries=(entry(30, noon(D), role="physician"),))
    # When closing the month of the period end
    result = code(evaluate_month(patient, month="2026-03"), "99091")
    # Then 99091 is met
    assert (result.status, result.minutes, result.units) == (Status.MET, 30, 1)


def test_interpretation_not_met_at_twenty_nine() -> None:
    # Given 29 physician minutes
    patient = facts(time_entries=(entry(29, noon(D), role="physician"),))
    # When closed
    result = code(evaluate_month(patient, month="2026-03"), "99091")
    # Then not met
    assert result.status == Status.NOT_MET


def test_interpretation_ignores_clinical_staff_time() -> None:
    # Given 40 clinical-staff minutes
    patient = facts(time_entries=(entry(40, noon(D)),))
    # When closed
    result = code(evaluate_month(patient, month="2026-03"), "99091")
    # Then none count for 99091
    assert result.minutes == 0


def test_interpretation_excludes_em_day() -> None:
    # Given 30 physician minutes on an E/M day
    patient = facts(time_entries=(entry(30, noon(D), role="physician"),), em_visit_dates=frozenset({D}))
    # When closed
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(exclude_em_day_time=False)), "99091")
    # Then they are part of the visit
    assert result.minutes == 0


def test_interpretation_live_pending() -> None:
    # Given 20 physician minutes on March 10
    patient = facts(time_entries=(entry(20, noon(D), role="physician"),))
    # When evaluated live
    result = code(evaluate(patient, as_of=D), "99091")
    # Then 10 more minutes are needed by the period end
    assert result.pending == ("10 more physician minutes by 2026-03-30",)


def test_interpretation_superseded_by_time_codes() -> None:
    # Given 30 physician minutes and a met 99457
    patient = facts(time_entries=(entry(30, noon(D), role="physician"), call(noon(D), 5)))
    # When closed
    evaluation = evaluate_month(patient, month="2026-03")
    # Then 99091 is superseded by default
    assert (code(evaluation, "99091").status, code(evaluation, "99457").status) == (Status.SUPERSEDED, Status.MET)


def test_interpretation_with_time_codes_does_not_count_minutes_twice() -> None:
    # Given 30 physician minutes, a 25-minute call, and 99091 allowed with time codes
    patient = facts(time_entries=(entry(30, noon(D), role="physician"), call(noon(D), 25)))
    # When closed
    evaluation = evaluate_month(patient, month="2026-03", policy=BillingPolicy(allow_99091_with_time_codes=True))
    # Then 99091 is met and the time codes only count the call
    assert (code(evaluation, "99091").status, code(evaluation, "99457").minutes) == (Status.MET, 25)


def test_interpretation_allowed_keeps_minutes_when_99091_not_met() -> None:
    # Given 20 physician minutes, a call, and 99091 allowed with time codes
    patient = facts(time_entries=(entry(20, noon(D), role="physician"), call(noon(D), 5)))
    # When closed
    evaluation = evaluate_month(patient, month="2026-03", policy=BillingPolicy(allow_99091_with_time_codes=True))
    # Then the physician minutes count toward 99457
    assert code(evaluation, "99457").minutes == 25


def test_interpretation_period_spanning_three_months() -> None:
    # Given monitoring from 2027-01-31 (period to 2027-03-01) and a met 99457 in February
    patient = facts(
        monitoring_start=date(2027, 1, 31),
        time_entries=(entry(30, noon(date(2027, 2, 3)), role="physician"), call(noon(date(2027, 2, 4)), 5)),
    )
    # When March 2027 is closed
    evaluation = evaluate_month(patient, month="2027-03")
    result = next(r for r in evaluation.codes if r.code == "99091")
    # Then the February time code supersedes 99091
    assert (result.period_end, result.status) == (date(2027, 3, 1), Status.SUPERSEDED)


def test_interpretation_not_offered_for_rtm() -> None:
    # Given an RTM patient
    patient = rtm()
    # When evaluated
    evaluation = evaluate(patient, as_of=D)
    # Then 99091 is not a code of the program
    assert "99091" not in {r.code for r in evaluation.codes}
