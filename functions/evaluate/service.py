"""Use cases of the evaluation function: live status, worklist, patient-month evaluation, runs, records.

Handlers (``app.py``, ``steps.py``) parse and authorise; everything that reads, judges or writes is here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import billing
from rpm_billing.errors import Conflict, NotFound, invalid_field
from rpm_billing.facts import facts_from_items, field, policy_of, practice_time_zone
from rpm_billing.observability import logger
from rpm_billing.rules import RULES_VERSION, CodeResult, Evaluation, Status, codes_for, evaluate, evaluate_month

#: Device-supply codes: the worklist breaks deadline ties on them by the most missing days.
DEVICE_CODES = frozenset({"99445", "99454", "98976", "98977", "98978", "98984", "98985", "98986"})
#: The worklist's default code per program: the long device-supply code.
DEFAULT_WORKLIST_CODE = {"RPM": "99454", "respiratory": "98976", "musculoskeletal": "98977", "cbt": "98978"}

MAX_LIMIT = 200


class NotEnrolled(Conflict):
    """The patient has no active billing enrollment (409)."""

    code = "not_enrolled"


class BillingNotConfigured(Conflict):
    """The patient's deployment has no enabled billing configuration (409)."""

    code = "billing_not_configured"


# Dates ----------------------------------------------------------------------------------------------------


def today_in(time_zone: str) -> date:
    """Today's date in an IANA zone, from the product clock."""
    return clock.now().astimezone(ZoneInfo(time_zone)).date()


def parse_month(value: str | None, path: str = "query.month") -> str:
    """Validate a ``YYYY-MM`` month."""
    if not value:
        raise invalid_field(path, "required, as YYYY-MM")
    try:
        if len(value) != 7 or value[4] != "-":
            raise ValueError
        date(int(value[:4]), int(value[5:7]), 1)
    except ValueError:
        raise invalid_field(path, "must be a month as YYYY-MM") from None
    return value


def parse_date(value: str, path: str) -> date:
    """Validate a ``YYYY-MM-DD`` date."""
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_field(path, "must be a date as YYYY-MM-DD") from None


def enabled_config(org_id: str, deployment_id: str) -> Any:
    """The deployment's billing configuration; 404 when there is none (as for another tenant's), 409 when disabled."""
    config = billing.load_config(org_id, deployment_id)
    if config is None:
        raise NotFound("deployment not found")
    if not field(config, "enabled", True):
        raise BillingNotConfigured("billing is not enabled for this deployment")
    return config


# Serialisation --------------------------------------------------------------------------------------------


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def code_json(result: CodeResult) -> dict[str, Any]:
    """One code of a status answer."""
    return {
        "code": result.code,
        "description": result.description,
        "kind": result.kind,
        "period_start": _iso(result.period_start),
        "period_end": _iso(result.period_end),
        "deadline": _iso(result.period_end),
        "status": str(result.status),
        "evidence": {
            "days_with_data": result.days_with_data,
            "minutes": result.minutes,
            "interactive_calls": result.interactive_calls,
        },
        "units": result.units,
        "date_of_service": _iso(result.date_of_service),
        "pending": list(result.pending),
        "days_missing": result.days_missing,
        "notes": list(result.notes),
    }


def evaluation_json(evaluation: Evaluation, program: str) -> dict[str, Any]:
    """The live status answer (api.md "Billing status")."""
    return {
        "program": program,
        "time_zone": evaluation.practice_time_zone,
        "patient_time_zone": evaluation.patient_time_zone,
        "as_of": evaluation.as_of.isoformat(),
        "month": evaluation.month,
        "month_total_seconds": evaluation.month_total_seconds,
        "qualifying_seconds": evaluation.qualifying_seconds,
        "interactive_calls": evaluation.interactive_calls,
        "rules_version": evaluation.rules_version,
        "codes": [code_json(result) for result in evaluation.codes],
        "warnings": [{"code": w.code, "message": w.message} for w in evaluation.warnings],
    }


# Live status ----------------------------------------------------------------------------------------------


def patient_status(principal: Principal, patient_id: str, as_of_text: str | None) -> dict[str, Any]:
    """A patient's live billing status as of a date (one BatchGetItem; the config comes from the cache).

    The deployment is only known from the profile, so the config is looked up after the read; with a warm
    cache (``config_cache_seconds``) that costs no request.
    """
    today_utc = clock.now().date()
    as_of_given = parse_date(as_of_text, "query.as_of") if as_of_text else None
    anchor = as_of_given or today_utc
    month = billing.month_of(anchor)
    window = billing.read_patient_window(
        principal.org_id, patient_id, [billing.add_months(month, -1), month, billing.add_months(month, 1)]
    )
    profile = window.profile
    deployment_id = str((profile or {}).get("deployment_id") or "")
    if profile is None or not principal.sees_deployment(deployment_id):
        raise NotFound("patient not found")
    config = enabled_config(principal.org_id, deployment_id)
    enrollment = window.enrollment
    if enrollment is None or enrollment.get("status") != "active":
        raise NotEnrolled("the patient is not enrolled for billing")
    today = today_in(practice_time_zone(config))
    as_of = as_of_given or today
    if as_of > today:
        raise invalid_field("query.as_of", "must not be in the future")
    if billing.month_of(as_of) != month:
        # Limitation: the default date is taken in UTC for the read; near midnight the practice's date can
        # fall in the neighbouring month, whose aggregates the window already holds (m-1..m+1).
        month = billing.month_of(as_of)
    facts = facts_from_items(profile, enrollment, config, window.month_items())
    evaluation = evaluate(facts, as_of=as_of, policy=policy_of(config))
    answer = evaluation_json(evaluation, str(facts.program))
    answer["patient_id"] = patient_id
    return answer


# Worklist -------------------------------------------------------------------------------------------------


def urgency(result: CodeResult, as_of: date) -> str:
    """Colour of one code: green (met/superseded), red (unreachable, not met, or no slack left), else amber.

    A device code is at risk (red) when the days left in its period, today included, are no more than the
    days still missing; a time code when its month ends within three days and something is still missing.
    """
    status = result.status
    if status in (Status.MET, Status.SUPERSEDED):
        return "green"
    if status in (Status.UNREACHABLE, Status.NOT_MET):
        return "red"
    if status == Status.PENDING:
        days_left = (result.period_end - as_of).days + 1
        if result.days_missing is not None and result.days_missing >= days_left:
            return "red"
        if result.kind == "time" and days_left <= 3 and result.pending:
            return "red"
    return "amber"


def _cursor_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def encode_cursor(offset: int, query_hash: str) -> str:
    """An opaque cursor: the offset into the sorted worklist and a hash of the query it belongs to."""
    raw = json.dumps({"o": offset, "q": query_hash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, query_hash: str) -> int:
    """The offset of a cursor; 422 when it is malformed or belongs to another query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(data["o"])
        if data["q"] != query_hash or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise invalid_field("query.cursor", "is not a cursor of this query") from None
    return offset


@dataclass(frozen=True)
class WorklistQuery:
    """A validated worklist request."""

    code: str
    month: str
    as_of: date
    limit: int
    offset: int
    query_hash: str


def worklist_query(org_id: str, deployment_id: str, config: Any, params: Mapping[str, str | None]) -> WorklistQuery:
    """Validate the worklist's query parameters against the deployment's program."""
    program = str(field(config, "program", "RPM"))
    category = field(config, "rtm_category")
    codes = codes_for(program, category)
    requested = params.get("code")
    if requested:
        if requested not in codes:
            raise invalid_field("query.code", "is not a code of the deployment's program")
        code = requested
    else:
        default = DEFAULT_WORKLIST_CODE.get(program if program == "RPM" else str(category), "")
        code = default if default in codes else codes[0]
    today = today_in(practice_time_zone(config))
    month = parse_month(params.get("month")) if params.get("month") else billing.month_of(today)
    current = billing.month_of(today)
    if month > current:
        raise invalid_field("query.month", "must not be in the future")
    as_of = today if month == current else billing.month_bounds(month)[1]
    raw_limit = params.get("limit")
    try:
        limit = int(raw_limit) if raw_limit not in (None, "") else 50
    except ValueError:
        raise invalid_field("query.limit", f"must be an integer from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_field("query.limit", f"must be an integer from 1 to {MAX_LIMIT}")
    query_hash = _cursor_hash(org_id, deployment_id, code, month, as_of.isoformat())
    cursor = params.get("cursor")
    offset = decode_cursor(cursor, query_hash) if cursor else 0
    return WorklistQuery(code, month, as_of, limit, offset, query_hash)


def _sort_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    chosen = entry["_chosen"]
    if chosen is None:
        return (1, "9999-12-31", 0, entry["patient_id"])
    missing = chosen.days_missing or 0 if chosen.code in DEVICE_CODES else 0
    return (0, chosen.period_end.isoformat(), -missing, entry["patient_id"])


def worklist(org_id: str, deployment_id: str, params: Mapping[str, str | None]) -> dict[str, Any]:
    """Every enrolled patient with per-code status and urgency, sorted by deadline for the chosen code.

    Reads the GSI1 partitions page by page (ENROLLED, enrolled PATIENTS for the zones, MONTH m-1 and m);
    sorting needs the whole set, so every patient's summary (small) is computed, sorted, then paginated with
    an opaque offset cursor bound to the query.
    """
    config = enabled_config(org_id, deployment_id)
    query = worklist_query(org_id, deployment_id, config, params)
    policy = policy_of(config)
    zones = billing.enrolled_time_zones(org_id, deployment_id)
    months = billing.month_aggregates(org_id, deployment_id, [billing.add_months(query.month, -1), query.month])
    entries: list[dict[str, Any]] = []
    missing_calls = 0
    for enrollment in billing.iter_enrollments(org_id, deployment_id):
        patient_id = str(enrollment.get("patient_id") or enrollment["GSI1SK"])
        patient_months = months.get(patient_id, {})
        profile = {"patient_id": patient_id, "time_zone": zones.get(patient_id)}
        facts = facts_from_items(profile, enrollment, config, [patient_months[m] for m in sorted(patient_months)])
        evaluation = evaluate(facts, as_of=query.as_of, policy=policy)
        if evaluation.interactive_calls == 0:
            missing_calls += 1
        chosen = next((c for c in evaluation.codes if c.code == query.code), None)
        entries.append(_worklist_entry(patient_id, evaluation, chosen, query.as_of))
    entries.sort(key=_sort_key)
    page = entries[query.offset : query.offset + query.limit]
    for entry in page:
        entry.pop("_chosen")
    end = query.offset + len(page)
    return {
        "deployment_id": deployment_id,
        "code": query.code,
        "month": query.month,
        "as_of": query.as_of.isoformat(),
        "rules_version": RULES_VERSION,
        "total": len(entries),
        "missing_calls": missing_calls,
        "patients": page,
        "next_cursor": encode_cursor(end, query.query_hash) if end < len(entries) else None,
    }


def _worklist_entry(patient_id: str, evaluation: Evaluation, chosen: CodeResult | None, as_of: date) -> dict[str, Any]:
    codes = [
        {
            "code": c.code,
            "status": str(c.status),
            "urgency": urgency(c, as_of),
            "period_start": _iso(c.period_start),
            "period_end": _iso(c.period_end),
            "deadline": _iso(c.period_end),
            "days_with_data": c.days_with_data,
            "days_missing": c.days_missing,
            "minutes": c.minutes,
            "units": c.units,
            "pending": list(c.pending),
        }
        for c in evaluation.codes
    ]
    return {
        "patient_id": patient_id,
        "urgency": urgency(chosen, as_of) if chosen is not None else "amber",
        "status": str(chosen.status) if chosen is not None else None,
        "deadline": _iso(chosen.period_end) if chosen is not None else None,
        "days_missing": chosen.days_missing if chosen is not None else None,
        "month_total_seconds": evaluation.month_total_seconds,
        "interactive_calls": evaluation.interactive_calls,
        "codes": codes,
        "_chosen": chosen,
    }


# Monthly evaluation ---------------------------------------------------------------------------------------


def records_through(month: str, config: Any) -> date | None:
    """The last date of service a run of ``month`` may bill: ``None`` when the month is over (all of it, and
    the month is closed), else yesterday in the practice's zone (an on-demand run of the current month)."""
    today = today_in(practice_time_zone(config))
    if month < billing.month_of(today):
        return None
    return today - timedelta(days=1)


def billable(evaluation: Evaluation, month: str, through: date | None) -> list[CodeResult]:
    """The met codes with units whose date of service falls in ``month`` (and not after ``through``)."""
    first, last = billing.month_bounds(month)
    if through is not None:
        last = min(last, through)
    return [
        c
        for c in evaluation.codes
        if c.status == Status.MET
        and c.units > 0
        and c.date_of_service is not None
        and first <= c.date_of_service <= last
    ]


def evaluate_patient_month(
    *,
    org_id: str,
    deployment_id: str,
    patient_id: str,
    month: str,
    evaluation_id: str,
    run: int,
    config: Any,
    through: date | None,
) -> int:
    """Evaluate one patient-month and write its billing records: 1 BatchGetItem + 1 TransactWriteItems.

    Returns:
        The number of records newly written (0 when a re-run finds them all written already).
    """
    window = billing.read_patient_window(org_id, patient_id, [billing.add_months(month, -1), month])
    enrollment = window.enrollment
    if enrollment is None:
        raise NotEnrolled("the patient is not enrolled for billing")
    facts = facts_from_items(window.profile, enrollment, config, window.month_items())
    evaluation = evaluate_month(facts, month=month, policy=policy_of(config))
    results = billable(evaluation, month, through)
    now = clock.now().isoformat()
    records = []
    setup: dict[str, Any] | None = None
    setup_sk: str | None = None
    for result in results:
        record = billing.record_item(
            org_id=org_id,
            deployment_id=deployment_id,
            patient_id=patient_id,
            month=month,
            record={
                "code": result.code,
                "units": result.units,
                "period_start": _iso(result.period_start),
                "period_end": _iso(result.period_end),
                "date_of_service": _iso(result.date_of_service),
                "program": str(facts.program),
                "evidence": {
                    "days_with_data": result.days_with_data,
                    "minutes": result.minutes,
                    "interactive_calls": result.interactive_calls,
                },
                "rules_version": evaluation.rules_version,
                "patient_time_zone": evaluation.patient_time_zone,
                "practice_time_zone": evaluation.practice_time_zone,
                "evaluation_id": evaluation_id,
                "run": run,
                "created_at": now,
            },
        )
        records.append(record)
        if result.kind == "setup":
            setup = {
                "code": result.code,
                "date_of_service": _iso(result.date_of_service),
                "episode_id": enrollment.get("episode_id"),
            }
            setup_sk = record["SK"]
    write = billing.MonthWrite(
        records=tuple(records),
        close_month=through is None,
        setup_billed=setup,
        setup_record_sk=setup_sk,
        periods_billed=_periods_billed(results, enrollment),
    )
    return billing.write_patient_month(org_id, patient_id, month, write)


def _periods_billed(results: list[CodeResult], enrollment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The earliest billed code judged in 30-day periods (set-up, device supply, 99091), for ``periods_billed``."""
    anchored = [result for result in results if result.kind != "time"]
    if not anchored:
        return None
    first = min(anchored, key=lambda result: (result.period_start, result.code))
    return {"code": first.code, "period_start": _iso(first.period_start), "episode_id": enrollment.get("episode_id")}


def evaluate_batch(event: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate a batch of patients; a failing patient is reported by error type and does not stop the rest."""
    org_id, deployment_id, month = str(event["org_id"]), str(event["deployment_id"]), str(event["month"])
    batch = event.get("batch") or {}
    patient_ids = [str(p) for p in batch.get("patient_ids", [])]
    config = enabled_config(org_id, deployment_id)
    through = records_through(month, config)
    evaluated, written, failures = 0, 0, []
    for patient_id in patient_ids:
        try:
            written += evaluate_patient_month(
                org_id=org_id,
                deployment_id=deployment_id,
                patient_id=patient_id,
                month=month,
                evaluation_id=str(event["evaluation_id"]),
                run=int(event.get("run") or 1),
                config=config,
                through=through,
            )
            evaluated += 1
        except Exception as exc:  # one bad patient must not fail the batch
            logger.warning("patient evaluation failed", patient_id=patient_id, error_type=type(exc).__name__)
            failures.append({"patient_id": patient_id, "error": type(exc).__name__})
    logger.info(
        "batch evaluated", batch=batch.get("batch"), patients=evaluated, records=written, failures=len(failures)
    )
    return {
        "batch": batch.get("batch"),
        "patients_evaluated": evaluated,
        "records_written": written,
        "failures": failures,
    }


#: Failures kept on the EVAL item (the count is always exact).
MAX_STORED_FAILURES = 100


def summarise(results: Iterable[Mapping[str, Any]]) -> tuple[int, int, list[dict[str, str]], int]:
    """Totals of the batch results: patients evaluated, records written, failures (capped) and their count."""
    evaluated = written = 0
    failures: list[dict[str, str]] = []
    count = 0
    for result in results:
        evaluated += int(result.get("patients_evaluated") or 0)
        written += int(result.get("records_written") or 0)
        batch_failures = list(result.get("failures") or [])
        if result.get("batch_failed"):
            error = str(result.get("error") or "BatchFailed")
            batch_failures += [{"patient_id": str(p), "error": error} for p in result.get("patient_ids") or []]
        count += len(batch_failures)
        failures.extend(batch_failures[: max(0, MAX_STORED_FAILURES - len(failures))])
    return evaluated, written, failures, count


def evaluation_json_of(item: Mapping[str, Any], execution_status: str | None = None) -> dict[str, Any]:
    """The answer of ``GET .../evaluations/{id}`` from an EVAL item."""
    status = str(item.get("status") or "running")
    if status == "running" and execution_status in {"FAILED", "TIMED_OUT", "ABORTED"}:
        status = "failed"
    return {
        "evaluation_id": item["evaluation_id"],
        "deployment_id": item.get("deployment_id"),
        "month": item.get("month"),
        "run": int(item.get("run") or 1),
        "status": status,
        "through": item.get("through"),
        "patients_evaluated": int(item.get("patients_evaluated") or 0),
        "records_written": int(item.get("records_written") or 0),
        "failure_count": int(item.get("failure_count") or len(item.get("failures") or [])),
        "failures": [{"patient_id": f["patient_id"], "error": f["error"]} for f in item.get("failures") or []],
        "started_at": item.get("started_at"),
        "finished_at": item.get("finished_at"),
    }


def record_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A billing record as the records route answers it."""
    evidence = item.get("evidence") or {}
    return {
        "code": item["code"],
        "units": int(item["units"]),
        "period_start": item["period_start"],
        "period_end": item["period_end"],
        "date_of_service": item["date_of_service"],
        "program": item.get("program"),
        "evidence": {k: (int(v) if v is not None else None) for k, v in evidence.items()},
        "rules_version": item.get("rules_version"),
        "patient_time_zone": item.get("patient_time_zone"),
        "practice_time_zone": item.get("practice_time_zone"),
        "evaluation_id": item.get("evaluation_id"),
        "created_at": item.get("created_at"),
    }


# Runs -----------------------------------------------------------------------------------------------------


def _execution_input(org_id: str, deployment_id: str, month: str, evaluation_id: str, run: int) -> str:
    return json.dumps(
        {"org_id": org_id, "deployment_id": deployment_id, "month": month, "evaluation_id": evaluation_id, "run": run}
    )


def start_run(org_id: str, deployment_id: str, month_text: str | None) -> dict[str, Any]:
    """Start an on-demand evaluation of a deployment-month: the next run number, its EVAL item, the execution.

    A month that is over is evaluated and closed; the current month is allowed but only codes whose date of
    service has passed (up to yesterday in the practice's zone) are recorded, and the month is not closed.
    """
    from rpm_billing.db.client import stepfunctions
    from rpm_billing.settings import get_settings

    month = parse_month(month_text, "body.month")
    config = enabled_config(org_id, deployment_id)
    if month > billing.month_of(today_in(practice_time_zone(config))):
        raise invalid_field("body.month", "must not be in the future")
    run = billing.next_run(org_id, deployment_id, month)
    evaluation_id = billing.evaluation_id_for(deployment_id, month, run)
    through = records_through(month, config)
    item = billing.put_evaluation(
        org_id=org_id,
        deployment_id=deployment_id,
        evaluation_id=evaluation_id,
        month=month,
        run=run,
        through=_iso(through),
    )
    response = stepfunctions().start_execution(
        stateMachineArn=get_settings().state_machine_arn,
        name=evaluation_id,
        input=_execution_input(org_id, deployment_id, month, evaluation_id, run),
    )
    billing.set_execution_arn(org_id, deployment_id, evaluation_id, response["executionArn"])
    logger.info("evaluation started", evaluation_id=evaluation_id, run=run)
    return {"evaluation_id": evaluation_id, "month": month, "run": run, "status": item["status"]}


def read_run(org_id: str, deployment_id: str, evaluation_id: str) -> dict[str, Any]:
    """A run's state from its EVAL item; while running, the execution's state decides a failure."""
    item = billing.get_evaluation(org_id, deployment_id, evaluation_id)
    if item is None:
        raise NotFound("evaluation not found")
    execution_status = None
    if item.get("status") == "running" and item.get("execution_arn"):
        from rpm_billing.db.client import stepfunctions

        execution_status = stepfunctions().describe_execution(executionArn=str(item["execution_arn"]))["status"]
    return evaluation_json_of(item, execution_status)


def previous_month(today: date) -> str:
    """The calendar month before ``today``'s."""
    return billing.add_months(billing.month_of(today), -1)


def trigger_month(event: Mapping[str, Any]) -> str:
    """The month the scheduled trigger closes: ``event["month"]`` or the month before the current UTC month.

    The schedule fires on the 1st after the last zone's month has ended (12:00 UTC covers UTC-12).
    """
    if event.get("month"):
        return parse_month(str(event["month"]), "month")
    return previous_month(clock.now().date())


def trigger_deployment(org_id: str, deployment_id: str, month: str) -> str:
    """Start run 1 of a deployment-month; every step is idempotent, so a duplicate trigger is absorbed.

    Returns:
        ``started`` or ``absorbed`` (the execution of that name exists already).
    """
    from botocore.exceptions import ClientError

    from rpm_billing.db.client import stepfunctions
    from rpm_billing.settings import get_settings

    evaluation_id = billing.evaluation_id_for(deployment_id, month, 1)
    billing.claim_first_run(org_id, deployment_id, month)
    try:
        billing.put_evaluation(
            org_id=org_id, deployment_id=deployment_id, evaluation_id=evaluation_id, month=month, run=1, through=None
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing = billing.get_evaluation(org_id, deployment_id, evaluation_id)
        if existing is not None and existing.get("execution_arn"):
            logger.info("evaluation already started", evaluation_id=evaluation_id)
            return "absorbed"
    try:
        response = stepfunctions().start_execution(
            stateMachineArn=get_settings().state_machine_arn,
            name=evaluation_id,
            input=_execution_input(org_id, deployment_id, month, evaluation_id, 1),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("evaluation already started", evaluation_id=evaluation_id)
        return "absorbed"
    billing.set_execution_arn(org_id, deployment_id, evaluation_id, response["executionArn"])
    logger.info("evaluation started", evaluation_id=evaluation_id, run=1)
    return "started"
