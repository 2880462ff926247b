"""Device-supply codes (R-D1..R-D5), periods and days of data (R-Z1, R-Z3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rpm_billing.rules import BillingPolicy, ReadingFact, Status, evaluate, evaluate_month
from tests.unit.rules.builders import code, days, facts, rtm

START = date(2026, 3, 1)
END = date(2026, 3, 30)


@pytest.mark.parametrize(
    ("n", "short", "long"),
    [
        (0, Status.NOT_MET, Status.NOT_MET),
        (1, Status.NOT_MET, Status.NOT_MET),
        (2, Status.MET, Status.NOT_MET),
        (15, Status.MET, Status.NOT_MET),
        (16, Status.SUPERSEDED, Status.MET),
        (30, Status.SUPERSEDED, Status.MET),
    ],
)
def test_device_bands_at_period_close(n: int, short: Status, long: Status) -> None:
    # Given n days with device readings in the first period
    patient = facts(reading_days=days(START, n))
    # When March is closed (the period ends 2026-03-30)
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the band follows 0-1 / 2-15 / 16-30
    assert (code(evaluation, "99445").status, code(evaluation, "99454").status) == (short, long)


def test_device_met_code_has_one_unit_and_period_end_date_of_service() -> None:
    # Given 16 days of data
    patient = facts(reading_days=days(START, 16))
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "99454")
    # Then one unit dated at the period end
    assert (result.units, result.date_of_service, result.period_end) == (1, END, END)


def test_device_threshold_met_convention_dates_the_sixteenth_day() -> None:
    # Given 20 days of data and the threshold-met convention
    patient = facts(reading_days=days(START, 20))
    # When closing March
    result = code(
        evaluate_month(patient, month="2026-03", policy=BillingPolicy(date_of_service="threshold_met")), "99454"
    )
    # Then the date of service is the 16th day with data
    assert result.date_of_service == date(2026, 3, 16)


def test_device_live_pending_says_days_needed_and_deadline() -> None:
    # Given 12 days of data by 2026-03-20
    patient = facts(reading_days=days(START, 12))
    # When evaluated live on 2026-03-20
    result = code(evaluate(patient, as_of=date(2026, 3, 20)), "99454")
    # Then 4 more days are needed by the period end
    assert (result.status, result.days_missing, result.pending) == (
        Status.PENDING,
        4,
        ("4 more days with readings by 2026-03-30",),
    )


def test_device_live_unreachable_when_too_few_days_left() -> None:
    # Given 5 days of data and only 4 days left (as_of 2026-03-27 without a reading that day)
    patient = facts(reading_days=days(START, 5))
    # When evaluated live
    result = code(evaluate(patient, as_of=date(2026, 3, 27)), "99454")
    # Then 16 cannot be reached
    assert (result.status, result.days_missing) == (Status.UNREACHABLE, 11)


def test_device_short_band_pending_while_sixteen_reachable() -> None:
    # Given 5 days of data on 2026-03-10 (16 still reachable)
    patient = facts(reading_days=days(START, 5))
    # When evaluated live
    result = code(evaluate(patient, as_of=date(2026, 3, 10)), "99445")
    # Then 99445 is not final yet (R-D5)
    assert (result.status, result.date_of_service) == (Status.PENDING, None)


def test_device_short_band_met_once_sixteen_unreachable() -> None:
    # Given 5 days of data on 2026-03-27 (16 no longer reachable)
    patient = facts(reading_days=days(START, 5))
    # When evaluated live
    result = code(evaluate(patient, as_of=date(2026, 3, 27)), "99445")
    # Then 99445 is locked in
    assert (result.status, result.units) == (Status.MET, 1)


def test_device_short_band_pending_with_one_day_and_reachable() -> None:
    # Given one day of data on 2026-03-10
    patient = facts(reading_days=days(START, 1))
    # When evaluated live
    result = code(evaluate(patient, as_of=date(2026, 3, 10)), "99445")
    # Then one more day is needed
    assert (result.status, result.days_missing) == (Status.PENDING, 1)


def test_device_short_band_unreachable_on_last_day_with_a_reading_today() -> None:
    # Given no data until the last day of the period, which has one reading
    patient = facts(reading_days=days(END, 1))
    # When evaluated live on the last day
    result = code(evaluate(patient, as_of=END), "99445")
    # Then two days cannot be reached any more
    assert result.status == Status.UNREACHABLE


def test_device_long_band_met_live_early() -> None:
    # Given 16 days of data by 2026-03-16
    patient = facts(reading_days=days(START, 16))
    # When evaluated live on the 16th
    evaluation = evaluate(patient, as_of=date(2026, 3, 16))
    # Then 99454 is locked in and 99445 superseded
    assert (code(evaluation, "99454").status, code(evaluation, "99445").status) == (Status.MET, Status.SUPERSEDED)


def test_device_days_after_as_of_do_not_count() -> None:
    # Given 20 days of data, the last ones after the evaluation date
    patient = facts(reading_days=days(START, 20))
    # When evaluated on 2026-03-10
    result = code(evaluate(patient, as_of=date(2026, 3, 10)), "99454")
    # Then only 10 days count
    assert result.days_with_data == 10


def test_device_manual_readings_do_not_count_for_rpm() -> None:
    # Given 16 manual days
    patient = facts(reading_days=days(START, 16, source="manual"))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then no device code is met
    assert code(evaluation, "99454").days_with_data == 0


def test_device_manual_readings_count_for_rtm() -> None:
    # Given 16 manual days for an MSK RTM patient
    patient = rtm(reading_days=days(START, 16, source="manual"))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then 98977 is met
    assert code(evaluation, "98977").status == Status.MET


@pytest.mark.parametrize(
    ("category", "short", "long"),
    [("respiratory", "98984", "98976"), ("musculoskeletal", "98985", "98977"), ("cbt", "98986", "98978")],
)
def test_device_rtm_category_decides_the_codes(category: str, short: str, long: str) -> None:
    # Given 5 days of RTM data
    patient = rtm(category, reading_days=days(START, 5))
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then the category's short code is met and its long code not
    assert (code(evaluation, short).status, code(evaluation, long).status) == (Status.MET, Status.NOT_MET)


def test_device_cbt_codes_are_noted_as_contractor_priced() -> None:
    # Given a CBT patient
    patient = rtm("cbt", reading_days=days(START, 16))
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "98978")
    # Then the result says the MAC prices it
    assert any("contractor-priced" in note for note in result.notes)


def test_device_several_devices_count_days_once() -> None:
    # Given two devices sending on the same 10 days
    readings = tuple(
        ReadingFact(at=datetime(2026, 3, d, 15, tzinfo=UTC), source="device", device_id=dev)
        for d in range(1, 11)
        for dev in ("bp", "scale")
    )
    # When closing March
    result = code(evaluate_month(facts(readings=readings), month="2026-03"), "99445")
    # Then 10 days count, not 20
    assert result.days_with_data == 10


def test_device_reading_near_midnight_counts_on_patient_local_date() -> None:
    # Given a Honolulu patient whose reading is 2026-03-31 09:30 UTC = 2026-03-30 23:30 local
    reading = ReadingFact(at=datetime(2026, 3, 31, 9, 30, tzinfo=UTC), source="device")
    patient = facts(patient_time_zone="Pacific/Honolulu", readings=(reading,), reading_days=days(START, 1))
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "99445")
    # Then it falls in the first period (ends 2026-03-30): 2 days
    assert result.days_with_data == 2


def test_device_reading_in_adak_belongs_to_its_local_day() -> None:
    # Given an Adak patient (UTC-9 in summer) with a reading at 2026-07-01 08:00 UTC = 2026-06-30 23:00 local
    reading = ReadingFact(at=datetime(2026, 7, 1, 8, tzinfo=UTC), source="device")
    patient = facts(patient_time_zone="America/Adak", monitoring_start=date(2026, 6, 1), readings=(reading,))
    # When closing June (period 2026-06-01..2026-06-30)
    result = code(evaluate_month(patient, month="2026-06"), "99445")
    # Then the reading counts in June's period
    assert result.days_with_data == 1


def test_device_dst_change_keeps_local_dates() -> None:
    # Given readings at 04:30 UTC on the nights around the spring-forward change (2026-03-08 in New York)
    readings = tuple(ReadingFact(at=datetime(2026, 3, d, 4, 30, tzinfo=UTC), source="device") for d in (8, 9, 10))
    patient = facts(readings=readings)
    # When closing March
    result = code(evaluate_month(patient, month="2026-03"), "99445")
    # Then each is the previous local evening: 3 distinct days (7, 8, 9 March)
    assert result.days_with_data == 3


def test_device_period_crossing_months_and_years() -> None:
    # Given monitoring from 2026-12-15 (first period ends 2027-01-13) with 16 days
    patient = facts(monitoring_start=date(2026, 12, 15), reading_days=days(date(2026, 12, 15), 16))
    # When closing January 2027
    evaluation = evaluate_month(patient, month="2027-01")
    # Then the period ending in January is judged
    result = code(evaluation, "99454")
    assert (result.period_start, result.period_end, result.status) == (
        date(2026, 12, 15),
        date(2027, 1, 13),
        Status.MET,
    )


def test_device_period_not_in_month_when_it_ends_later() -> None:
    # Given monitoring from 2026-12-15
    patient = facts(monitoring_start=date(2026, 12, 15), reading_days=days(date(2026, 12, 15), 16))
    # When closing December 2026
    evaluation = evaluate_month(patient, month="2026-12")
    # Then no device code is due in December
    assert [r.code for r in evaluation.codes if r.kind == "device"] == []


@pytest.mark.parametrize(("year", "end"), [(2028, date(2028, 3, 1)), (2027, date(2027, 3, 2))])
def test_device_period_over_february_leap_and_common(year: int, end: date) -> None:
    # Given monitoring from February 1st
    patient = facts(
        monitoring_start=date(year, 2, 1), consent_date=date(year, 1, 1), reading_days=days(date(year, 2, 1), 3)
    )
    # When evaluated live on February 10
    result = code(evaluate(patient, as_of=date(year, 2, 10)), "99445")
    # Then the 30-day period ends 29 days later (March 1 in a leap year, March 2 otherwise)
    assert result.period_end == end


def test_device_month_with_two_period_ends() -> None:
    # Given monitoring from 2026-01-01 (periods end 01-30, 03-01, 03-31)
    patient = facts(
        monitoring_start=date(2026, 1, 1), consent_date=date(2025, 12, 1), reading_days=days(date(2026, 1, 1), 90)
    )
    # When closing March 2026
    evaluation = evaluate_month(patient, month="2026-03")
    # Then both periods ending in March are judged
    assert [r.period_end for r in evaluation.codes if r.code == "99454"] == [date(2026, 3, 1), date(2026, 3, 31)]


def test_device_later_period_is_back_to_back() -> None:
    # Given monitoring from 2026-03-01 and readings in April
    patient = facts(reading_days=days(date(2026, 4, 1), 3))
    # When evaluated on 2026-04-05
    result = code(evaluate(patient, as_of=date(2026, 4, 5)), "99445")
    # Then the second period is 2026-03-31..2026-04-29
    assert (result.period_start, result.period_end, result.days_with_data) == (date(2026, 3, 31), date(2026, 4, 29), 3)


def test_device_anchor_is_first_day_without_monitoring_start() -> None:
    # Given no monitoring start and data from 2026-03-05
    patient = facts(monitoring_start=None, reading_days=days(date(2026, 3, 5), 2))
    # When evaluated live
    result = code(evaluate(patient, as_of=date(2026, 3, 10)), "99445")
    # Then the period starts on the first day with data
    assert result.period_start == date(2026, 3, 5)


def test_device_without_any_data_is_pending_from_as_of() -> None:
    # Given no data and no monitoring start
    patient = facts(monitoring_start=None)
    # When evaluated live
    result = code(evaluate(patient, as_of=date(2026, 3, 10)), "99454")
    # Then the period runs from the evaluation date and all 16 days are missing
    assert (result.period_start, result.status, result.days_missing) == (date(2026, 3, 10), Status.PENDING, 16)


def test_device_as_of_before_monitoring_start_is_pending() -> None:
    # Given monitoring that starts after the evaluation date
    patient = facts(monitoring_start=date(2026, 3, 20))
    # When evaluated on 2026-03-10
    result = code(evaluate(patient, as_of=date(2026, 3, 10)), "99454")
    # Then the first period is pending with every day still open
    assert (result.period_start, result.status) == (date(2026, 3, 20), Status.PENDING)


def test_device_practice_day_clock_uses_practice_zone() -> None:
    # Given a reading at 2026-03-31 03:00 UTC (March 30 in Chicago, March 31 in Berlin)
    reading = ReadingFact(at=datetime(2026, 3, 31, 3, tzinfo=UTC), source="device")
    patient = facts(patient_time_zone="America/Chicago", practice_time_zone="Europe/Berlin", readings=(reading,))
    # When closing March with the practice's clock
    result = code(evaluate_month(patient, month="2026-03", policy=BillingPolicy(day_clock="practice")), "99445")
    # Then the reading falls on March 31, outside the period
    assert result.days_with_data == 0


def test_device_manual_reading_instants_do_not_count_for_rpm() -> None:
    # Given a manual reading instant for an RPM patient
    reading = ReadingFact(at=datetime(2026, 3, 3, 15, tzinfo=UTC), source="manual")
    # When closing March
    result = code(evaluate_month(facts(readings=(reading,)), month="2026-03"), "99445")
    # Then it does not count
    assert result.days_with_data == 0


def test_device_month_close_without_anchor_has_no_device_codes() -> None:
    # Given no monitoring start and no data
    patient = facts(monitoring_start=None)
    # When closing March
    evaluation = evaluate_month(patient, month="2026-03")
    # Then no device period ends in March
    assert [r.code for r in evaluation.codes if r.kind == "device"] == []
