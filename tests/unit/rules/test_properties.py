"""Properties: order and duplicates do not matter, more data never lowers a status, same input same output."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rpm_billing.rules import Evaluation, PatientFacts, ReadingDayFact, ReadingFact, Status, evaluate, evaluate_month
from tests.unit.rules.builders import entry, facts

START = date(2026, 3, 1)
RANK = {
    Status.NOT_MET: 0,
    Status.UNREACHABLE: 0,
    Status.PENDING: 1,
    Status.MET: 2,
    Status.SUPERSEDED: 3,
    Status.NOT_APPLICABLE: 4,
}
"""Progress order: adding data may only move a code right (a met code may become superseded by a better one)."""

SETTINGS = settings(max_examples=40, deadline=None)

reading_days = st.lists(
    st.builds(
        ReadingDayFact,
        day=st.integers(0, 59).map(lambda n: START + timedelta(days=n)),
        source=st.sampled_from(["device", "device", "manual"]),
    ),
    max_size=40,
)
readings = st.lists(
    st.builds(
        ReadingFact,
        at=st.integers(0, 59 * 24 * 60).map(lambda m: datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=m)),
        source=st.sampled_from(["device", "manual"]),
    ),
    max_size=10,
)
entries = st.lists(
    st.builds(
        lambda minutes, offset, role, activity, interactive, modality: entry(
            minutes,
            datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(hours=offset),
            role=role,
            activity=activity,
            interactive=interactive,
            modality=modality,
        ),
        st.integers(1, 40),
        st.integers(0, 59 * 24),
        st.sampled_from(["clinical_staff", "physician", "non_clinical"]),
        st.sampled_from(["call", "data_review", "note", "other"]),
        st.booleans(),
        st.sampled_from([None, "audio", "text"]),
    ),
    max_size=12,
)
programs = st.sampled_from([("RPM", None), ("RTM", "respiratory")])
as_of_days = st.integers(0, 59).map(lambda n: START + timedelta(days=n))


@st.composite
def patients(draw: st.DrawFn) -> PatientFacts:
    program, category = draw(programs)
    return facts(
        program=program,
        rtm_category=category,
        patient_time_zone=draw(st.sampled_from(["Pacific/Honolulu", "America/New_York", "America/Adak"])),
        practice_time_zone=draw(st.sampled_from(["America/Chicago", "America/Los_Angeles"])),
        readings=tuple(draw(readings)),
        reading_days=tuple(draw(reading_days)),
        time_entries=tuple(draw(entries)),
    )


def statuses(evaluation: Evaluation) -> dict[tuple[str, date], Status]:
    return {(r.code, r.period_start): r.status for r in evaluation.codes}


def not_lower(before: Evaluation, after: Evaluation, *, skip: frozenset[str] = frozenset()) -> bool:
    old, new = statuses(before), statuses(after)
    return old.keys() == new.keys() and all(RANK[new[k]] >= RANK[old[k]] for k in old if k[0] not in skip)


@SETTINGS
@given(patients(), as_of_days)
def test_property_order_and_duplicates_do_not_matter(patient: PatientFacts, as_of: date) -> None:
    # Given the same facts shuffled backwards and duplicated
    shuffled = replace(
        patient,
        readings=patient.readings[::-1] + patient.readings,
        reading_days=patient.reading_days[::-1] + patient.reading_days,
        time_entries=patient.time_entries[::-1] + patient.time_entries,
    )
    # When both are evaluated live and at month close
    # Then the answers are equal
    assert evaluate(shuffled, as_of=as_of) == evaluate(patient, as_of=as_of)
    assert evaluate_month(shuffled, month="2026-04") == evaluate_month(patient, month="2026-04")


@SETTINGS
@given(patients(), as_of_days)
def test_property_same_input_same_output(patient: PatientFacts, as_of: date) -> None:
    # Given one patient
    # When evaluated twice
    # Then the answers are equal
    assert evaluate(patient, as_of=as_of) == evaluate(patient, as_of=as_of)


@SETTINGS
@given(patients(), st.integers(0, 59), as_of_days)
def test_property_adding_a_reading_day_never_lowers_a_status(patient: PatientFacts, offset: int, as_of: date) -> None:
    # Given a patient and one more device day
    more = replace(
        patient, reading_days=(*patient.reading_days, ReadingDayFact(START + timedelta(days=offset), "device"))
    )
    # When evaluated before and after, at month close and live
    # Then no status moves down (live, the short device band may wait for 16 days by R-D5 and is left out)
    for month in ("2026-03", "2026-04"):
        assert not_lower(evaluate_month(patient, month=month), evaluate_month(more, month=month))
    live_skip = frozenset({"99445", "98984"})
    assert not_lower(evaluate(patient, as_of=as_of), evaluate(more, as_of=as_of), skip=live_skip)


@SETTINGS
@given(
    patients(),
    st.integers(1, 30),
    st.integers(0, 59 * 24),
    st.sampled_from(["clinical_staff", "physician"]),
    as_of_days,
)
def test_property_adding_minutes_never_lowers_a_status(
    patient: PatientFacts, minutes: int, offset: int, role: str, as_of: date
) -> None:
    # Given a patient and one more qualifying time entry
    extra = entry(minutes, datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(hours=offset), role=role)
    more = replace(patient, time_entries=(*patient.time_entries, extra))
    # When evaluated before and after
    # Then no status moves down
    for month in ("2026-03", "2026-04"):
        assert not_lower(evaluate_month(patient, month=month), evaluate_month(more, month=month))
    assert not_lower(evaluate(patient, as_of=as_of), evaluate(more, as_of=as_of))
