"""Treatment-management time codes (R-T1..R-T6, R-U2, R-U3, A2, A3, A5, A6)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rpm_billing.rules import BillingPolicy, Status, evaluate, evaluate_month
from tests.unit.rules.builders import call, code, days, entry, facts, noon, rtm

D = date(2026, 3, 10)


def month_with(minutes: float, *, with_call: bool = True, **kw: object) -> object:
    """March facts with one 5-minute call (if any) and data review making up ``minutes``."""
    entries = [call(noon(D))] if with_call else []
    rest = minutes - (5 if with_call else 0)
    if rest > 0:
        entries.append(entry(rest, noon(date(2026, 3, 11))))
    return facts(time_entries=tuple(entries), reading_days=days(date(2026, 3, 1), 3), **kw)


@pytest.mark.parametrize(
    ("minutes", "short", "base", "add_on", "units"),
    [
        (9, Status.NOT_MET, Status.NOT_MET, Status.NOT_MET, 0),
        (10, Status.MET, Status.NOT_MET, Status.NOT_MET, 0),
        (19, Status.MET, Status.NOT_MET, Status.NOT_MET, 0),
        (20, Status.SUPERSEDED, Status.MET, Status.NOT_MET, 0),
        (39, Status.SUPERSEDED, Status.MET, Status.NOT_MET, 0),
        (40, Status.SUPERSEDED, Status.MET, Status.MET, 1),
        (59, Status.SUPERSEDED, Status.MET, Status.MET, 1),
        (60, Status.SUPERSEDED, Status.MET, Status.MET, 2),
        (80, Status.SUPERSEDED, Status.MET, Status.MET, 2),
    ],
)
def test_time_rpm_bands_at_month_close(minutes: int, short: Status, base: Status, add_on: Status, units: int) -> None:
    # Given a month with an interactive call and `minutes` qualifying minutes
    patient = month_with(minutes)
    # When the month is closed
    evaluation = evaluate_month(patient, month="2026-03")  # type: ignore[arg-type]
    # Then the codes follow 10-19 / 20+ / floor((m-20)/20) add-ons capped at 2
    got = (code(evaluation, "99470").status, code(evaluation, "99457").status, code(evaluation, "99458").status)
    assert (*got, code(evaluation, "99458").units) == (short, base, add_on, units)


@pytest.mark.parametrize(("minutes", "short", "base"), [(10, "98979", None), (20, None, "98980")])
def test_time_rtm_codes(minutes: int, short: str | None, base: str | None) -> None:
    # Given an RTM month with a call
    patient = rtm(time_entries=(call(noon(D), minutes),))
    # When the month is closed
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the RTM code of the band is met
    met = {r.code for r in evaluation.codes if r.status == Status.MET and r.kind == "time"}
    assert met == {c for c in (short, base) if c}


def test_time_rtm_add_on_98981() -> None:
    # Given an RTM month with 40 minutes and a call
    patient = rtm(time_entries=(call(noon(D), 40),))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03"), "98981")
    # Then one add-on unit
    assert (result.status, result.units) == (Status.MET, 1)


def test_time_full_minutes_only() -> None:
    # Given 19 minutes 59 seconds with a call
    patient = facts(time_entries=(call(noon(D), 5), entry(14 + 59 / 60, noon(D))))
    # When the month is closed
    evaluation = evaluate_month(patient, month="2026-03")
    # Then 19 minutes count: 99470, not 99457
    assert (code(evaluation, "99457").minutes, code(evaluation, "99470").status) == (19, Status.MET)


def test_time_without_interactive_call_not_met() -> None:
    # Given 25 minutes of review and no call
    patient = month_with(25, with_call=False)
    # When the month is closed
    evaluation = evaluate_month(patient, month="2026-03")  # type: ignore[arg-type]
    # Then no time code is met
    assert code(evaluation, "99457").status == Status.NOT_MET


def test_time_call_in_previous_month_does_not_count() -> None:
    # Given a call on March 31 and 25 minutes in April
    patient = facts(time_entries=(call(noon(date(2026, 3, 31))), entry(25, noon(date(2026, 4, 2)))))
    # When April is closed
    evaluation = evaluate_month(patient, month="2026-04")
    # Then April has no call and no time code
    assert (code(evaluation, "99457").status, code(evaluation, "99457").interactive_calls) == (Status.NOT_MET, 0)


def test_time_live_pending_names_missing_minutes_and_call() -> None:
    # Given 9 minutes of review and no call on March 10
    patient = facts(time_entries=(entry(9, noon(D)),))
    # When evaluated live
    result = code(evaluate(patient, as_of=D), "99470")
    # Then it is pending on a minute and a call
    assert (result.status, result.pending) == (Status.PENDING, ("1 more minute", "an interactive call this month"))


def test_time_live_base_pending_on_minutes() -> None:
    # Given 12 minutes with a call
    patient = facts(time_entries=(call(noon(D), 12),))
    # When evaluated live
    result = code(evaluate(patient, as_of=D), "99457")
    # Then 8 more minutes are needed
    assert result.pending == ("8 more minutes",)


def test_time_live_add_on_pending() -> None:
    # Given 25 minutes with a call
    patient = facts(time_entries=(call(noon(D), 25),))
    # When evaluated live
    result = code(evaluate(patient, as_of=D), "99458")
    # Then 15 more minutes are needed for the first unit
    assert (result.status, result.pending) == (Status.PENDING, ("15 more minutes",))


def test_time_month_uses_practice_zone() -> None:
    # Given a 25-minute call at 2026-04-01 03:00 UTC: March 31 evening in Los Angeles
    patient = facts(
        practice_time_zone="America/Los_Angeles", time_entries=(call(datetime(2026, 4, 1, 3, tzinfo=UTC), 25),)
    )
    # When March is closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then it counts in March
    assert result.status == Status.MET


def test_time_messaging_not_interactive_by_default() -> None:
    # Given 25 minutes and only a text exchange
    patient = facts(time_entries=(call(noon(D), 25, modality="text"),))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then there is no qualifying call
    assert result.status == Status.NOT_MET


def test_time_synchronous_text_accepted_by_policy() -> None:
    # Given 25 minutes of live text chat and the A2 option on
    patient = facts(time_entries=(call(noon(D), 25, modality="text"),))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(accept_synchronous_text=True)), "99457")
    # Then the chat qualifies
    assert result.status == Status.MET


def test_time_call_without_modality_does_not_qualify() -> None:
    # Given an interactive entry without a modality
    patient = facts(time_entries=(entry(25, noon(D), interactive=True),))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then it is not a qualifying call
    assert result.interactive_calls == 0


def test_time_interaction_per_add_on_limits_units() -> None:
    # Given 65 minutes with a single call and the N+1 interactions policy
    patient = facts(time_entries=(call(noon(D), 65),))
    # When the month is closed
    evaluation = evaluate_month(patient, month="2026-03", policy=BillingPolicy(interaction_per_add_on=True))
    # Then no add-on unit (one call covers the base only)
    assert code(evaluation, "99458").units == 0


def test_time_interaction_per_add_on_live_asks_for_another_call() -> None:
    # Given 45 minutes with a single call and the N+1 policy
    patient = facts(time_entries=(call(noon(D), 45),))
    # When evaluated live
    result = code(evaluate(patient, as_of=D, policy=BillingPolicy(interaction_per_add_on=True)), "99458")
    # Then another call is asked for
    assert "another interactive call this month" in result.pending


def test_time_interaction_per_add_on_with_enough_calls() -> None:
    # Given 65 minutes over three calls and the N+1 policy
    patient = facts(time_entries=tuple(call(noon(date(2026, 3, d)), 65 / 3) for d in (2, 3, 4)))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(interaction_per_add_on=True)), "99458")
    # Then both add-on units hold
    assert result.units == 2


def test_time_no_cap_policy_gives_three_units() -> None:
    # Given 80 minutes and no unit cap
    patient = facts(time_entries=(call(noon(D), 80),))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(add_on_unit_cap=None)), "99458")
    # Then three units
    assert result.units == 3


@pytest.mark.parametrize(
    "kw",
    [
        {"role": "non_clinical"},
        {"counted_elsewhere": True},
        {"activity": "profile_update"},
        {"activity": "other"},
        {"activity": "setup"},
    ],
)
def test_time_excluded_time_does_not_count(kw: dict[str, object]) -> None:
    # Given a call and 20 excluded minutes
    patient = facts(time_entries=(call(noon(D), 5), entry(20, noon(D), **kw)))  # type: ignore[arg-type]
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then only the call's 5 minutes count
    assert result.minutes == 5


def test_time_em_day_time_excluded_by_default() -> None:
    # Given 25 minutes on the day of an E/M visit plus a call on another day
    patient = facts(
        time_entries=(call(noon(D), 5), entry(25, noon(date(2026, 3, 12)))),
        em_visit_dates=frozenset({date(2026, 3, 12)}),
    )
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then the E/M day's minutes are left out
    assert result.minutes == 5


def test_time_em_day_time_counted_when_policy_off() -> None:
    # Given the same facts and the E/M-day exclusion switched off
    patient = facts(
        time_entries=(call(noon(D), 5), entry(25, noon(date(2026, 3, 12)))),
        em_visit_dates=frozenset({date(2026, 3, 12)}),
    )
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(exclude_em_day_time=False)), "99457")
    # Then they count
    assert result.minutes == 30


def test_time_non_clinical_call_is_not_a_qualifying_call() -> None:
    # Given a 25-minute call by non-clinical staff plus clinical review
    patient = facts(time_entries=(call(noon(D), 25, role="non_clinical"), entry(25, noon(D))))
    # When the month is closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then there is no qualifying call
    assert (result.status, result.interactive_calls) == (Status.NOT_MET, 0)


def test_time_min_data_days_policy_blocks_without_data() -> None:
    # Given 25 minutes with a call, no data, and a policy asking for 2 days of data
    patient = facts(time_entries=(call(noon(D), 25),))
    policy = BillingPolicy(time_code_min_data_days=2)
    # When evaluated live and closed
    live = code(evaluate(patient, as_of=D, policy=policy), "99457")
    closed = code(evaluate_month(patient, month="2026-03", policy=policy), "99457")
    # Then pending on data, then not met
    assert (live.pending, closed.status) == (("2 more days with readings by 2026-03-31",), Status.NOT_MET)


def test_time_evaluation_totals() -> None:
    # Given a call, review and excluded time
    patient = facts(time_entries=(call(noon(D), 5), entry(10, noon(D)), entry(3, noon(D), activity="other")))
    # When the month is closed
    evaluation = evaluate_month(patient, month="2026-03")
    # Then totals count every logged second and the qualifying ones
    assert (evaluation.month_total_seconds, evaluation.qualifying_seconds, evaluation.interactive_calls) == (
        1080,
        900,
        1,
    )


def test_time_code_date_of_service_is_month_end() -> None:
    # Given a met 99457
    patient = facts(time_entries=(call(noon(D), 25),))
    # When closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then DOS is the month end
    assert result.date_of_service == date(2026, 3, 31)


def test_time_duplicate_entries_count_once() -> None:
    # Given one 25-minute call listed twice
    one = call(noon(D), 25, entry_id="same")
    patient = facts(time_entries=(one, one))
    # When closed
    result = code(evaluate_month(patient, month="2026-03"), "99457")
    # Then 25 minutes, not 50
    assert result.minutes == 25


def test_time_conflicting_duplicates_resolve_the_same_either_way() -> None:
    # Given two versions of one entry id
    a = call(noon(D), 25, entry_id="same")
    b = call(noon(D), 5, entry_id="same")
    # When evaluated in both orders
    first = evaluate_month(facts(time_entries=(a, b)), month="2026-03")
    second = evaluate_month(facts(time_entries=(b, a)), month="2026-03")
    # Then the results are equal
    assert first == second
