"""The rules engine: pure functions from ``PatientFacts`` to an ``Evaluation`` (billing-rules §1-§7).

No I/O, clock, environment or mutable state: the same facts, date and policy give the same answer. Local dates
are computed once per call; ``ZoneInfo`` objects are cached (the cache cannot change results).
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rpm_billing.rules.catalogue import Catalogue, CodeSpec, catalogue_for, latest
from rpm_billing.rules.model import (
    CodeResult,
    Evaluation,
    PatientFacts,
    PriorClaim,
    Status,
    TimeEntryFact,
    Warning,
)
from rpm_billing.rules.policy import DEFAULT_POLICY, BillingPolicy

RULES_VERSION = "2026.1"
PERIOD_DAYS = 30
ACCEPTED_MODALITIES = frozenset({"audio", "video"})
ACCEPTED_WITH_TEXT = frozenset({"audio", "video", "text"})


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA name (cached).

    Raises:
        ValueError: ``name`` is not a known IANA zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("time zone is not a known IANA zone") from None


def codes_for(program: str, rtm_category: str | None) -> tuple[str, ...]:
    """The codes of a program in display order (RTM device codes follow ``rtm_category``)."""
    return latest().codes_for(program, rtm_category)


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First and last day of a calendar month."""
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _parse_month(month: str) -> tuple[int, int]:
    try:
        year_text, month_text = month.split("-")
        if len(year_text) != 4 or len(month_text) != 2:
            raise ValueError
        year, number = int(year_text), int(month_text)
        date(year, number, 1)
    except ValueError:
        raise ValueError("month must be YYYY-MM") from None
    return year, number


@dataclass(frozen=True, slots=True)
class _Entry:
    day: date  # practice-local date of started_at
    seconds: int
    time_ok: bool  # counts toward the time codes
    interpretation_ok: bool  # counts toward 99091
    call_ok: bool  # a qualifying interactive communication
    interactive: bool  # any interaction (including messaging that does not qualify)


@dataclass(frozen=True, slots=True)
class _MonthTime:
    total_seconds: int
    qualifying_seconds: int
    calls: int
    interactions: int


class _Context:
    """Facts prepared once per evaluation: sorted qualifying days, entries with local dates."""

    __slots__ = ("_month", "all_days", "anchor", "days", "entries", "entry_days", "facts", "manual_only", "policy")

    def __init__(self, facts: PatientFacts, policy: BillingPolicy) -> None:
        self.facts = facts
        self.policy = policy
        counts_manual = facts.program == "RTM"  # R-E3: manual readings count for RTM only
        day_zone = zone(facts.patient_time_zone if policy.day_clock == "patient" else facts.practice_time_zone)
        days: set[date] = set()
        manual: set[date] = set()
        for reading in facts.readings:
            if reading.at.tzinfo is None:
                raise ValueError("reading time must carry a time zone")
            local = reading.at.astimezone(day_zone).date()
            if reading.source == "device" or counts_manual:
                days.add(local)
            else:
                manual.add(local)
        for fact in facts.reading_days:
            if fact.source == "device" or counts_manual:
                days.add(fact.day)
            else:
                manual.add(fact.day)
        self.days = tuple(sorted(days))
        self.manual_only = bool(manual) and not days
        self.anchor = facts.monitoring_start or (self.days[0] if self.days else None)
        practice = zone(facts.practice_time_zone)
        self.entries = tuple(
            sorted(_entries(_unique(facts.time_entries), practice, policy, facts.em_visit_dates), key=_entry_day)
        )
        self.entry_days = tuple(e.day for e in self.entries)
        self._month: dict[tuple[int, int, date], _MonthTime] = {}
        self.all_days = frozenset(days)

    def count_days(self, start: date, end: date) -> int:
        """Days with qualifying data in ``[start, end]``."""
        if end < start:
            return 0
        return bisect_right(self.days, end) - bisect_left(self.days, start)

    def nth_day(self, start: date, n: int) -> date:
        """The ``n``-th day with data on or after ``start`` (1-based; caller checks it exists)."""
        return self.days[bisect_left(self.days, start) + n - 1]

    def entries_between(self, start: date, end: date) -> tuple[_Entry, ...]:
        """Entries on practice-local dates in ``[start, end]``."""
        return self.entries[bisect_left(self.entry_days, start) : bisect_right(self.entry_days, end)]

    def month_time(self, year: int, month: int, cutoff: date, excluded: frozenset[int] = frozenset()) -> _MonthTime:
        """Logged and qualifying time of a practice month, entries up to ``cutoff``."""
        first, last = month_bounds(year, month)
        key = (year, month, cutoff)
        if not excluded and key in self._month:
            return self._month[key]
        total = qualifying = calls = interactions = 0
        lo = bisect_left(self.entry_days, first)
        hi = bisect_right(self.entry_days, min(last, cutoff))
        for index in range(lo, hi):
            entry = self.entries[index]
            total += entry.seconds
            if entry.time_ok and index not in excluded:
                qualifying += entry.seconds
            if entry.call_ok:
                calls += 1
            if entry.interactive:
                interactions += 1
        result = _MonthTime(total, qualifying, calls, interactions)
        if not excluded:
            self._month[key] = result
        return result


def _entry_day(entry: _Entry) -> date:
    return entry.day


def _entry_key(entry: TimeEntryFact) -> tuple[object, ...]:
    return (
        entry.started_at,
        entry.duration_seconds,
        entry.activity,
        entry.clinician_id,
        entry.clinical_role,
        entry.interactive,
        entry.modality or "",
        entry.counted_elsewhere,
    )


def _unique(entries: Iterable[TimeEntryFact]) -> list[TimeEntryFact]:
    """One entry per id; when two differ, the same one wins whatever the input order."""
    by_id: dict[str, TimeEntryFact] = {}
    for entry in entries:
        seen = by_id.get(entry.entry_id)
        if seen is None or (seen != entry and _entry_key(entry) > _entry_key(seen)):
            by_id[entry.entry_id] = entry
    return list(by_id.values())


def _entries(
    entries: Iterable[TimeEntryFact], practice: ZoneInfo, policy: BillingPolicy, em_dates: frozenset[date]
) -> Iterable[_Entry]:
    modalities = ACCEPTED_WITH_TEXT if policy.accept_synchronous_text else ACCEPTED_MODALITIES
    activities = policy.qualifying_activities
    roles = policy.time_roles
    for entry in entries:
        if entry.started_at.tzinfo is None:
            raise ValueError("time entry start must carry a time zone")
        day = entry.started_at.astimezone(practice).date()
        seconds = max(entry.duration_seconds, 0)
        on_em_day = day in em_dates
        clinical = entry.clinical_role in roles
        time_ok = (
            clinical
            and not entry.counted_elsewhere
            and entry.activity in activities
            and not (policy.exclude_em_day_time and on_em_day)
        )
        interpretation_ok = (
            entry.clinical_role in policy.interpretation_roles
            and entry.activity in policy.interpretation_activities
            and not entry.counted_elsewhere
            and not on_em_day  # R-P1: always part of the E/M visit
        )
        call_ok = entry.interactive and clinical and entry.modality in modalities
        yield _Entry(day, seconds, time_ok, interpretation_ok, call_ok, entry.interactive)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _more_days(count: int, end: date) -> str:
    return f"{_plural(count, 'more day', 'more days')} with readings by {end.isoformat()}"


def _result(
    spec: CodeSpec,
    start: date,
    end: date,
    status: Status,
    *,
    days: int | None = None,
    minutes: int | None = None,
    calls: int | None = None,
    units: int = 0,
    dos: date | None = None,
    pending: tuple[str, ...] = (),
    days_missing: int | None = None,
    notes: tuple[str, ...] = (),
) -> CodeResult:
    if spec.contractor_priced:
        notes = (*notes, "contractor-priced: the MAC sets the amount")
    return CodeResult(
        code=spec.code,
        description=spec.description,
        kind=spec.kind,
        period_start=start,
        period_end=end,
        status=status,
        days_with_data=days,
        minutes=minutes,
        interactive_calls=calls,
        units=units if status == Status.MET else 0,
        date_of_service=(dos or end) if status == Status.MET else None,
        pending=pending if status == Status.PENDING else (),
        days_missing=days_missing,
        notes=notes,
    )


def _period_index(anchor: date, day: date) -> int:
    return max((day - anchor).days // PERIOD_DAYS, 0)


def _period(anchor: date, index: int) -> tuple[date, date]:
    start = anchor + timedelta(days=PERIOD_DAYS * index)
    return start, start + timedelta(days=PERIOD_DAYS - 1)


def _open_days(ctx: _Context, start: date, end: date, cutoff: date) -> int:
    """Days of an open period still able to get a first reading: from ``cutoff`` (if it has none yet) to ``end``."""
    if cutoff < start:
        return (end - start).days + 1
    return (end - cutoff).days + (0 if cutoff in ctx.all_days else 1)


def _threshold(
    ctx: _Context, spec: CodeSpec, need: int, start: date, end: date, cutoff: date, final: bool
) -> CodeResult:
    """Status of a 'need days of data in the period' code (set-up and the long device band)."""
    have = ctx.count_days(start, min(end, cutoff))
    missing = max(need - have, 0)
    if have >= need:
        dos = ctx.nth_day(start, need) if ctx.policy.date_of_service == "threshold_met" else end
        return _result(spec, start, end, Status.MET, days=have, units=1, dos=dos, days_missing=0)
    if final:
        return _result(spec, start, end, Status.NOT_MET, days=have, days_missing=missing)
    open_days = _open_days(ctx, start, end, cutoff)
    if have + open_days >= need:
        return _result(
            spec, start, end, Status.PENDING, days=have, days_missing=missing, pending=(_more_days(missing, end),)
        )
    return _result(
        spec,
        start,
        end,
        Status.UNREACHABLE,
        days=have,
        days_missing=missing,
        notes=(f"only {_plural(open_days, 'day is', 'days are')} left in the period",),
    )


def _device(
    ctx: _Context, short: CodeSpec, long: CodeSpec, start: date, end: date, cutoff: date, final: bool
) -> list[CodeResult]:
    """Both bands of a 30-day period (R-D1, R-D3, R-D5)."""
    long_need = long.min_days or 16
    short_need = short.min_days or 2
    long_result = _threshold(ctx, long, long_need, start, end, cutoff, final)
    have = long_result.days_with_data or 0
    if long_result.status == Status.MET:
        short_result = _result(
            short, start, end, Status.SUPERSEDED, days=have, days_missing=0, notes=(f"{long.code} is met instead",)
        )
    elif have >= short_need:
        reachable = long_result.status == Status.PENDING
        if reachable:
            short_result = _result(
                short,
                start,
                end,
                Status.PENDING,
                days=have,
                days_missing=0,
                pending=(f"final on {end.isoformat()} unless {long_need} days with readings are reached",),
            )
        else:
            short_result = _result(short, start, end, Status.MET, days=have, units=1, days_missing=0)
    else:
        short_result = _threshold(ctx, short, short_need, start, end, cutoff, final)
    return [short_result, long_result]


def _time(
    ctx: _Context,
    specs: tuple[CodeSpec, CodeSpec, CodeSpec],
    year: int,
    month: int,
    cutoff: date,
    final: bool,
    excluded: frozenset[int],
    warnings: list[Warning],
) -> list[CodeResult]:
    """The month's time codes: short (10-19), base (20+) and add-on (R-T1, R-T2, R-T6, R-U2, R-U3)."""
    short, base, add_on = specs
    policy = ctx.policy
    first, last = month_bounds(year, month)
    stats = ctx.month_time(year, month, cutoff, excluded)
    minutes = stats.qualifying_seconds // 60
    calls = stats.calls
    days = ctx.count_days(first, min(last, cutoff))
    data_ok = days >= policy.time_code_min_data_days
    common = {"days": days, "minutes": minutes, "calls": calls}
    need_call = () if calls else ("an interactive call this month",)
    need_data = () if data_ok else (_more_days(policy.time_code_min_data_days - days, last),)
    base_need = base.min_minutes or 20
    short_need = short.min_minutes or 10

    def judge(spec: CodeSpec, need: int, met: bool, units: int = 1, extra: tuple[str, ...] = ()) -> CodeResult:
        if met:
            return _result(spec, first, last, Status.MET, units=units, **common)  # type: ignore[arg-type]
        if final:
            return _result(spec, first, last, Status.NOT_MET, **common)  # type: ignore[arg-type]
        more = (f"{_plural(need - minutes, 'more minute', 'more minutes')}",) if minutes < need else ()
        return _result(
            spec,
            first,
            last,
            Status.PENDING,
            pending=(*more, *need_call, *extra, *need_data),
            **common,  # type: ignore[arg-type]
        )

    base_met = minutes >= base_need and calls >= 1 and data_ok
    base_result = judge(base, base_need, base_met)
    if base_met:
        short_result = _result(short, first, last, Status.SUPERSEDED, notes=(f"{base.code} is met instead",), **common)  # type: ignore[arg-type]
    else:
        short_result = judge(short, short_need, minutes >= short_need and calls >= 1 and data_ok)
    step = policy.add_on_increment_minutes
    raw_units = max((minutes - base_need) // step, 0)
    units = raw_units
    extra: tuple[str, ...] = ()
    if policy.interaction_per_add_on:
        units = min(units, max(calls - 1, 0))
        if raw_units and units < raw_units:
            extra = ("another interactive call this month",)
    cap = policy.add_on_unit_cap
    if cap is not None and units > cap:
        warnings.append(
            Warning("add_on_units_over_cap", f"{add_on.code}: {raw_units} units by time, more than the cap of {cap}")
        )
        units = cap
    add_on_result = judge(add_on, base_need + step, base_met and units >= 1, units, extra if base_met else ())
    return [short_result, base_result, add_on_result]


def _interpretation(
    ctx: _Context, spec: CodeSpec, start: date, end: date, cutoff: date, final: bool, time_met: bool
) -> CodeResult:
    """99091: physician/QHP minutes in the 30-day period (R-P1, R-P2)."""
    seconds = sum(e.seconds for e in ctx.entries_between(start, min(end, cutoff)) if e.interpretation_ok)
    minutes = seconds // 60
    need = spec.min_minutes or 30
    if time_met and not ctx.policy.allow_99091_with_time_codes:
        return _result(
            spec,
            start,
            end,
            Status.SUPERSEDED,
            minutes=minutes,
            notes=("not billed with the month's management time codes (policy)",),
        )
    if minutes >= need:
        return _result(spec, start, end, Status.MET, minutes=minutes, units=1)
    if final:
        return _result(spec, start, end, Status.NOT_MET, minutes=minutes)
    return _result(
        spec,
        start,
        end,
        Status.PENDING,
        minutes=minutes,
        pending=(f"{_plural(need - minutes, 'more physician minute', 'more physician minutes')} by {end.isoformat()}",),
    )


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months: list[tuple[int, int]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


class _Run:
    """One evaluation: the codes of the program for the asked periods, then the blocks and warnings."""

    def __init__(self, facts: PatientFacts, policy: BillingPolicy, as_of: date) -> None:
        self.ctx = _Context(facts, policy)
        self.facts = facts
        self.policy = policy
        self.as_of = as_of
        self.catalogue: Catalogue = latest()
        self.warnings: list[Warning] = []

    def spec(self, code: str, dos: date) -> CodeSpec:
        return catalogue_for(dos).codes[code]

    def codes(self) -> dict[str, str]:
        """Code of each role (setup, short, long, t_short, t_base, t_add, interp) for the facts' program."""
        listed = self.catalogue.codes_for(self.facts.program, self.facts.rtm_category)
        roles: dict[str, str] = {}
        for code in listed:
            spec = self.catalogue.codes[code]
            if spec.kind == "device":
                roles["short" if spec.superseded_by else "long"] = code
            elif spec.kind == "time":
                roles["t_add" if spec.add_on_of else ("t_short" if spec.superseded_by else "t_base")] = code
            else:
                roles[spec.kind] = code
        return roles

    def setup(self, roles: dict[str, str], final_month: tuple[date, date] | None) -> list[CodeResult]:
        ctx = self.ctx
        if "setup" not in roles:  # pragma: no cover - every program has a set-up code
            return []
        anchor = ctx.anchor or self.as_of
        start, end = _period(anchor, 0)
        if final_month is not None and not final_month[0] <= end <= final_month[1]:
            return []
        spec = self.spec(roles["setup"], end)
        final = final_month is not None or self.as_of > end
        return [_threshold(ctx, spec, self.policy.setup_min_days, start, end, min(self.as_of, end), final)]

    def device(self, roles: dict[str, str], indexes: Iterable[int], final: bool) -> list[CodeResult]:
        if "long" not in roles:
            return []
        out: list[CodeResult] = []
        anchor = self.ctx.anchor or self.as_of
        for index in indexes:
            start, end = _period(anchor, index)
            short, long = self.spec(roles["short"], end), self.spec(roles["long"], end)
            out += _device(self.ctx, short, long, start, end, min(self.as_of, end), final)
        return out

    def time(self, roles: dict[str, str], year: int, month: int, cutoff: date, final: bool) -> list[CodeResult]:
        last = month_bounds(year, month)[1]
        specs = (self.spec(roles["t_short"], last), self.spec(roles["t_base"], last), self.spec(roles["t_add"], last))
        return _time(self.ctx, specs, year, month, cutoff, final, self.excluded_for_99091(roles), self.warnings)

    def excluded_for_99091(self, roles: dict[str, str]) -> frozenset[int]:
        """R-T3e: entries used for a met 99091 (only when both may be billed) leave the time codes."""
        ctx = self.ctx
        if "interpretation" not in roles or not self.policy.allow_99091_with_time_codes or ctx.anchor is None:
            return frozenset()
        per_period: dict[int, list[int]] = {}
        seconds: dict[int, int] = {}
        for index, entry in enumerate(ctx.entries):
            if entry.interpretation_ok and entry.day >= ctx.anchor and entry.day <= self.as_of:
                period = _period_index(ctx.anchor, entry.day)
                per_period.setdefault(period, []).append(index)
                seconds[period] = seconds.get(period, 0) + entry.seconds
        need = self.catalogue.codes[roles["interpretation"]].min_minutes or 30
        return frozenset(i for p, ids in per_period.items() if seconds[p] // 60 >= need for i in ids)

    def interpretation(self, roles: dict[str, str], indexes: Iterable[int], final: bool) -> list[CodeResult]:
        if "interpretation" not in roles:
            return []
        out: list[CodeResult] = []
        anchor = self.ctx.anchor or self.as_of
        for index in indexes:
            start, end = _period(anchor, index)
            cutoff = min(self.as_of, end)
            time_met = False
            for year, month in _months(start, end):
                if month_bounds(year, month)[0] > cutoff:
                    break
                month_final = final or month_bounds(year, month)[1] < self.as_of
                results = _time(
                    self.ctx,
                    (self.spec(roles["t_short"], end), self.spec(roles["t_base"], end), self.spec(roles["t_add"], end)),
                    year,
                    month,
                    cutoff if not month_final else month_bounds(year, month)[1],
                    month_final,
                    frozenset(),
                    [],
                )
                time_met = time_met or any(r.status == Status.MET for r in results)
            spec = self.spec(roles["interpretation"], end)
            out.append(_interpretation(self.ctx, spec, start, end, cutoff, final, time_met))
        return out

    def finish(self, results: list[CodeResult], year: int, month: int, cutoff: date) -> Evaluation:
        results = [self.block(r) for r in results]
        self.warn(results, year, month, cutoff)
        stats = self.ctx.month_time(year, month, cutoff)
        seen: set[str] = set()
        warnings = []
        for item in self.warnings:
            if item.code not in seen:
                seen.add(item.code)
                warnings.append(item)
        return Evaluation(
            rules_version=RULES_VERSION,
            as_of=self.as_of,
            month=f"{year:04d}-{month:02d}",
            patient_time_zone=self.facts.patient_time_zone,
            practice_time_zone=self.facts.practice_time_zone,
            month_total_seconds=stats.total_seconds,
            qualifying_seconds=stats.qualifying_seconds,
            interactive_calls=stats.calls,
            codes=tuple(results),
            warnings=tuple(warnings),
        )

    def block(self, result: CodeResult) -> CodeResult:
        """Eligibility, consent, once-per-episode and claims elsewhere turn a result into ``not_applicable``."""
        facts, policy = self.facts, self.policy
        reason: str | None = None
        if facts.program == "RPM" and not facts.established_patient and policy.require_established_patient:
            reason = "RPM needs an established patient (a prior visit with the billing practice)"
        elif policy.require_consent and facts.consent_date is None:
            reason = "no documented consent on file"
        elif policy.require_consent and facts.consent_date is not None and facts.consent_date > result.period_end:
            reason = "consent is dated after the period"
        elif result.kind == "setup" and self.setup_billed_elsewhere(result):
            reason = "set-up already billed in this episode"
        else:
            reason = self.claim_conflict(result)
        if reason is None:
            return result
        return replace(
            result,
            status=Status.NOT_APPLICABLE,
            units=0,
            date_of_service=None,
            pending=(),
            notes=(*result.notes, reason),
        )

    def setup_billed_elsewhere(self, result: CodeResult) -> bool:
        """Whether the episode's set-up was billed outside ``result``'s period (in it, it is that very claim)."""

        def inside(day: date | None) -> bool:
            return day is not None and result.period_start <= day <= result.period_end

        facts = self.facts
        if facts.setup_billed and not inside(facts.setup_billed_on):
            return True
        return any(c.code == result.code and not inside(c.date_of_service) for c in facts.prior_claims)

    def claim_conflict(self, result: CodeResult) -> str | None:
        """R-D2/R-X1: a claim of the same kind by another practitioner or the other program overlaps the period."""
        for claim in self.facts.prior_claims:
            spec = _any_spec(claim.code)
            if spec is None or spec.kind != result.kind:
                continue
            start = claim.period_start or claim.date_of_service
            end = claim.period_end or claim.date_of_service
            if end < result.period_start or start > result.period_end:
                continue
            if claim.other_practitioner:
                self.warnings.append(Warning("billed_by_two_practices", "another practice billed this patient"))
                return f"{claim.code} was billed by another practitioner for an overlapping period"
            if spec.program != self.facts.program:
                self.warnings.append(Warning("rpm_and_rtm_overlap", "RPM and RTM codes overlap for this patient"))
                return f"{claim.code} ({spec.program}) was billed for an overlapping period"
            if result.kind == "device" and claim.period_start is not None and claim.period_start != result.period_start:
                self.warnings.append(
                    Warning("device_periods_overlap", "two device-supply claims overlap one 30-day period")
                )
                return f"{claim.code} was billed for an overlapping 30-day period"
        return None

    def warn(self, results: list[CodeResult], year: int, month: int, cutoff: date) -> None:
        """Audit-risk signals of billing-rules §9 that the facts allow."""
        facts, add = self.facts, self.warnings.append
        met = [r for r in results if r.status == Status.MET]
        time_met = [r for r in met if r.kind == "time"]
        device_met = [r for r in met if r.kind == "device"]
        stats = self.ctx.month_time(year, month, cutoff)
        if facts.consent_date is None:
            add(Warning("consent_missing", "no documented consent is on file"))
        if facts.program == "RPM" and not facts.established_patient:
            add(Warning("no_prior_visit", "RPM for a patient without a prior visit with the practice"))
        if facts.program == "RTM" and facts.rtm_category not in ("respiratory", "musculoskeletal", "cbt"):
            add(Warning("rtm_category_missing", "the RTM category is not set, so no device code applies"))
        if self.ctx.manual_only:
            add(Warning("manual_readings_not_counted", "only manual readings: they do not count for RPM"))
        if facts.days_before_start:
            add(
                Warning(
                    "readings_before_monitoring_start",
                    f"{_plural(facts.days_before_start, 'day', 'days')} with readings synced late, before a "
                    "monitoring start that billing had already fixed: they count in no 30-day period",
                )
            )
        if any(r.days_with_data == 0 for r in time_met):
            add(Warning("no_data_with_time_code", "management time billed in a month without any readings"))
        if stats.interactions and not stats.calls:
            add(Warning("messaging_only_interactions", "the month's interactions are messages, not live calls"))
        if device_met and stats.total_seconds == 0:
            add(Warning("device_without_management", "device supply is met but no management time is logged"))
        for result in results:
            if result.period_start.year != result.period_end.year and result.status in (Status.MET, Status.PENDING):
                add(
                    Warning(
                        "new_fee_schedule_year",
                        f"a period starting in {result.period_start.year} is billed under the "
                        f"{result.period_end.year} fee schedule",
                    )
                )
            if result.period_end > catalogue_for(result.period_end).verified_through:
                add(Warning("rules_not_verified", f"rules for {result.period_end.year} are not verified"))


@lru_cache(maxsize=256)
def _any_spec(code: str) -> CodeSpec | None:
    for catalogue in reversed(_all_catalogues()):
        if code in catalogue.codes:
            return catalogue.codes[code]
    return None


def _all_catalogues() -> tuple[Catalogue, ...]:
    from rpm_billing.rules.catalogue import CATALOGUES

    return CATALOGUES


def evaluate(facts: PatientFacts, *, as_of: date, policy: BillingPolicy | None = None) -> Evaluation:
    """Live status on ``as_of``: every code of the program for the period containing ``as_of``.

    Device codes and 99091: the 30-day period (patient-local days) containing ``as_of``; set-up: the first 30-day
    period; time codes: the practice calendar month of ``as_of``. Only data up to ``as_of`` counts; a period whose
    deadline has not passed is pending rather than not met.

    Args:
        facts: The patient's facts for one program.
        as_of: The evaluation date.
        policy: The billing policy; the defaults when ``None``.

    Returns:
        The evaluation, codes in display order.

    Raises:
        ValueError: A time zone is unknown or an instant is naive.
    """
    run = _Run(facts, policy or DEFAULT_POLICY, as_of)
    roles = run.codes()
    anchor = run.ctx.anchor or as_of
    index = _period_index(anchor, as_of)
    results = run.setup(roles, None)
    results += run.device(roles, (index,), False)
    results += run.time(roles, as_of.year, as_of.month, as_of, False)
    results += run.interpretation(roles, (index,), False)
    return run.finish(
        _ordered(results, run.catalogue.codes_for(facts.program, facts.rtm_category)), as_of.year, as_of.month, as_of
    )


def evaluate_month(facts: PatientFacts, *, month: str, policy: BillingPolicy | None = None) -> Evaluation:
    """Closing a practice month: every code whose date of service falls in ``month``, judged final.

    Device codes and 99091 for the 30-day periods ending in the month, the set-up code when its first period ends
    in it, and the month's time codes.

    Args:
        facts: The patient's facts for one program.
        month: ``YYYY-MM``.
        policy: The billing policy; the defaults when ``None``.

    Returns:
        The evaluation with ``as_of`` the month's last day.

    Raises:
        ValueError: ``month`` is not ``YYYY-MM``, a time zone is unknown or an instant is naive.
    """
    year, number = _parse_month(month)
    first, last = month_bounds(year, number)
    run = _Run(facts, policy or DEFAULT_POLICY, last)
    roles = run.codes()
    results = run.setup(roles, (first, last))
    indexes: list[int] = []
    if run.ctx.anchor is not None:
        anchor = run.ctx.anchor
        index = max((first - anchor).days // PERIOD_DAYS - 1, 0)
        while True:
            start, end = _period(anchor, index)
            if start > last:
                break
            if first <= end <= last:
                indexes.append(index)
            index += 1
    results += run.device(roles, indexes, True)
    results += run.time(roles, year, number, last, True)
    results += run.interpretation(roles, indexes, True)
    return run.finish(_ordered(results, run.catalogue.codes_for(facts.program, facts.rtm_category)), year, number, last)


def _ordered(results: list[CodeResult], order: tuple[str, ...]) -> list[CodeResult]:
    rank = {code: position for position, code in enumerate(order)}
    return sorted(results, key=lambda r: (rank.get(r.code, len(rank)), r.period_start))


__all__ = ["RULES_VERSION", "PriorClaim", "codes_for", "evaluate", "evaluate_month", "month_bounds", "zone"]
