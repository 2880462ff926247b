"""Billing repository: the patient window read, worklist partitions, billing records and evaluation runs.

Request budgets (architecture §4):

- ``read_patient_window``: one ``BatchGetItem`` (PROFILE, ENROLLMENT and the MONTH aggregates asked for);
  unprocessed keys, which DynamoDB returns under throttling, are retried with backoff (extra requests only then).
- ``write_patient_month``: one ``TransactWriteItems`` (conditional Put of each billing record, ``closed`` on the
  month, ``setup_billed`` and ``periods_billed`` on the enrollment). On a re-run the record Puts fail their
  ``attribute_not_exists`` condition; the cancellation reasons say which, and one more transaction writes the rest.
- Worklist reads query GSI1 partitions page by page (ENROLLED, enrolled PATIENTS, MONTH).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rpm_billing import clock
from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, from_item, query_page, to_item, to_value
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

#: BatchGetItem retries of unprocessed keys before giving up (exponential backoff from 50 ms).
UNPROCESSED_RETRIES = 5

GSI1 = "GSI1"


# Month arithmetic -----------------------------------------------------------------------------------------


def month_of(day: date) -> str:
    """The ``YYYY-MM`` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def add_months(month: str, count: int) -> str:
    """``month`` shifted by ``count`` months."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` month."""
    first = date(int(month[:4]), int(month[5:7]), 1)
    nxt = add_months(month, 1)
    last = date.fromordinal(date(int(nxt[:4]), int(nxt[5:7]), 1).toordinal() - 1)
    return first, last


# Patient window -------------------------------------------------------------------------------------------


@dataclass
class PatientWindow:
    """A patient's profile, enrollment and MONTH aggregates as plain dicts (``None``/absent when missing)."""

    profile: dict[str, Any] | None
    enrollment: dict[str, Any] | None
    months: dict[str, dict[str, Any]] = field(default_factory=dict)

    def month_items(self) -> list[dict[str, Any]]:
        """The MONTH aggregates found, oldest first."""
        return [self.months[m] for m in sorted(self.months)]


def read_patient_window(org_id: str, patient_id: str, months: Sequence[str]) -> PatientWindow:
    """Read PROFILE, ENROLLMENT and ``MONTH#{m}`` for each month in one ``BatchGetItem``.

    Args:
        org_id: The caller's organisation (part of every key: another tenant's patient is simply missing).
        patient_id: The patient.
        months: ``YYYY-MM`` months whose aggregates to read (at most 98).

    Returns:
        The items found.
    """
    table = get_settings().table_name
    pk = keys.patient_pk(org_id, patient_id)
    wanted = [keys.key(pk, keys.PROFILE_SK), keys.key(pk, keys.ENROLLMENT_SK)]
    wanted += [keys.key(pk, keys.month_sk(m)) for m in dict.fromkeys(months)]
    request: dict[str, Any] = {table: {"Keys": wanted, "ConsistentRead": True}}
    found: list[dict[str, Any]] = []
    for attempt in range(UNPROCESSED_RETRIES + 1):
        response = dynamodb().batch_get_item(RequestItems=request)
        found.extend(response.get("Responses", {}).get(table, []))
        request = dict(response.get("UnprocessedKeys") or {})
        if not request:
            break
        if attempt == UNPROCESSED_RETRIES:
            logger.warning("batch get left unprocessed keys", attempts=attempt + 1)
            from rpm_billing.errors import Unavailable

            raise Unavailable("the service is busy; retry shortly")
        time.sleep(min(0.05 * 2**attempt, 1.0))
    window = PatientWindow(profile=None, enrollment=None)
    for raw in found:
        item = from_item(raw)
        sk = str(item["SK"])
        if sk == keys.PROFILE_SK:
            window.profile = item
        elif sk == keys.ENROLLMENT_SK:
            window.enrollment = item
        elif sk.startswith("MONTH#"):
            window.months[sk[len("MONTH#") :]] = item
    return window


# GSI partitions -------------------------------------------------------------------------------------------


def query_pages(
    pk: str,
    *,
    index: str | None = GSI1,
    sk_prefix: str | None = None,
    projection: Sequence[str] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Query one partition page by page (1 request per page of up to 1 MB), yielding plain dicts."""
    pk_attr, sk_attr = ("GSI1PK", "GSI1SK") if index else ("PK", "SK")
    params: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "KeyConditionExpression": "#pk = :pk" + (" AND begins_with(#sk, :prefix)" if sk_prefix else ""),
        "ExpressionAttributeNames": {"#pk": pk_attr, **({"#sk": sk_attr} if sk_prefix else {})},
        "ExpressionAttributeValues": {":pk": {"S": pk}, **({":prefix": {"S": sk_prefix}} if sk_prefix else {})},
    }
    if index:
        params["IndexName"] = index
    if projection:
        names = {f"#p{i}": name for i, name in enumerate(projection)}
        params["ProjectionExpression"] = ", ".join(names)
        params["ExpressionAttributeNames"].update(names)
    while True:
        response = dynamodb().query(**params)
        yield [from_item(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


def iter_enrollments(org_id: str, deployment_id: str) -> Iterator[dict[str, Any]]:
    """The active enrollments of a deployment (GSI1 ``ENROLLED`` partition), in patient id order."""
    for page in query_pages(keys.enrolled_gsi(org_id, deployment_id)):
        yield from page


def iter_enrolled_patient_ids(org_id: str, deployment_id: str) -> Iterator[str]:
    """The ids of the deployment's enrolled patients (GSI1 ``ENROLLED``, keys only projected out)."""
    for page in query_pages(keys.enrolled_gsi(org_id, deployment_id), projection=("GSI1SK",)):
        for item in page:
            yield str(item["GSI1SK"])


def enrolled_time_zones(org_id: str, deployment_id: str) -> dict[str, str | None]:
    """Patient id -> the profile's time zone, for the deployment's enrolled patients (GSI1 ``PATIENTS``).

    Only ``patient_id`` and ``time_zone`` are projected out of the profiles: no PHI leaves the table.
    """
    zones: dict[str, str | None] = {}
    pk = keys.patients_gsi(org_id, deployment_id)
    for page in query_pages(pk, sk_prefix="enrolled#", projection=("patient_id", "time_zone", "GSI1SK")):
        for item in page:
            patient_id = str(item.get("patient_id") or str(item["GSI1SK"]).split("#", 1)[1])
            zones[patient_id] = item.get("time_zone")
    return zones


def month_aggregates(org_id: str, deployment_id: str, months: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Patient id -> month -> MONTH aggregate, for the deployment's month partitions (GSI1 ``MONTH``)."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for month in months:
        for page in query_pages(keys.month_gsi(org_id, deployment_id, month)):
            for item in page:
                result.setdefault(str(item["GSI1SK"]), {})[month] = item
    return result


# Billing records ------------------------------------------------------------------------------------------


def record_item(
    *,
    org_id: str,
    deployment_id: str,
    patient_id: str,
    month: str,
    record: Mapping[str, Any],
) -> dict[str, Any]:
    """The RECORD item (plain dict) for one billed code and period; ``record`` holds its attributes."""
    code, period_start = str(record["code"]), str(record["period_start"])
    return {
        "PK": keys.patient_pk(org_id, patient_id),
        "SK": keys.record_sk(month, code, period_start),
        "GSI1PK": keys.records_gsi(org_id, deployment_id, month),
        "GSI1SK": f"{patient_id}#{code}#{period_start}",
        "type": "billing_record",
        "org_id": org_id,
        "deployment_id": deployment_id,
        "patient_id": patient_id,
        "month": month,
        **record,
    }


@dataclass(frozen=True)
class MonthWrite:
    """What one patient-month evaluation writes.

    Attributes:
        records: The RECORD items.
        close_month: Set ``closed`` on the month (a month that is over).
        setup_billed: ``{code, date_of_service, episode_id}`` of a set-up record among ``records``.
        setup_record_sk: Its SK (no ``setup_billed`` when that record existed already).
        periods_billed: ``{code, period_start, episode_id}`` when ``records`` hold a code judged in 30-day periods
            (set-up, device supply, 99091): the enrollment keeps the first one, and from then on readings no longer
            move its ``first_reading_day`` (the periods are fixed; ``rpm_billing.db.readings``).
    """

    records: tuple[dict[str, Any], ...]
    close_month: bool
    setup_billed: dict[str, Any] | None = None
    setup_record_sk: str | None = None
    periods_billed: dict[str, Any] | None = None


def _actions(org_id: str, patient_id: str, month: str, write: MonthWrite, skip: set[str]) -> list[dict[str, Any]]:
    table = get_settings().table_name
    pk = keys.patient_pk(org_id, patient_id)
    actions: list[dict[str, Any]] = []
    for record in write.records:
        if record["SK"] in skip:
            continue
        actions.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": to_item(record),
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "NONE",
                }
            }
        )
    if write.close_month:
        actions.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": keys.key(pk, keys.month_sk(month)),
                    "UpdateExpression": "SET #closed = :t, #month = if_not_exists(#month, :m)",
                    "ExpressionAttributeNames": {"#closed": "closed", "#month": "month"},
                    "ExpressionAttributeValues": {":t": {"BOOL": True}, ":m": {"S": month}},
                }
            }
        )
    # One action per item in a transaction: both enrollment flags go in one update. ``periods_billed`` is sent
    # even when its records exist already (a re-run), so that episodes billed before the flag existed get it.
    sets: list[str] = []
    values: dict[str, Any] = {}
    if write.setup_billed is not None and write.setup_record_sk not in skip:
        sets.append("setup_billed = :s")
        values[":s"] = to_value(write.setup_billed)
    if write.periods_billed is not None:
        sets.append("periods_billed = if_not_exists(periods_billed, :p)")
        values[":p"] = to_value(write.periods_billed)
    if sets:
        actions.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": keys.key(pk, keys.ENROLLMENT_SK),
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return actions


def write_patient_month(org_id: str, patient_id: str, month: str, write: MonthWrite) -> int:
    """Write a patient-month's billing records, close the month and mark set-up billed, atomically.

    A record that exists already (a re-run) is left as it is: its conditional Put fails, the cancellation
    reasons name it, and the remaining actions are written in one more transaction.

    Returns:
        The number of records newly written.
    """
    skip: set[str] = set()
    for _ in range(3):
        actions = _actions(org_id, patient_id, month, write, skip)
        if not actions:
            return 0
        try:
            dynamodb().transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except dynamodb().exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            puts = [a["Put"]["Item"]["SK"]["S"] for a in actions if "Put" in a]
            existing = {
                puts[i] for i, r in enumerate(reasons[: len(puts)]) if r.get("Code") == "ConditionalCheckFailed"
            }
            others = [r.get("Code") for r in reasons if r.get("Code") not in (None, "None", "ConditionalCheckFailed")]
            if not existing or others:
                raise
            skip |= existing
            continue
        return sum(1 for record in write.records if record["SK"] not in skip)
    raise RuntimeError("billing records could not be written")  # pragma: no cover - every put exists after 2 rounds


def list_records(org_id: str, patient_id: str, month: str) -> list[dict[str, Any]]:
    """A patient's billing records of a month (Query pages on the patient partition, ``RECORD#{month}#``)."""
    items: list[dict[str, Any]] = []
    prefix = keys.record_prefix(month)
    for page in query_pages(keys.patient_pk(org_id, patient_id), index=None, sk_prefix=prefix):
        items.extend(page)
    return items


def records_page(
    org_id: str, patient_id: str, month: str, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a patient's billing records of a month, in code and period order (one Query).

    Args:
        org_id: The patient's organisation.
        patient_id: The patient.
        month: ``YYYY-MM``.
        limit: The most records to return.
        after: The ``SK`` the previous page ended at (``None``: the first page).

    Returns:
        The records (plain dicts) and the ``SK`` to continue after, ``None`` when DynamoDB saw no more.
    """
    items, last = query_page(keys.patient_pk(org_id, patient_id), keys.record_prefix(month), limit, after)
    return [from_item(raw) for raw in items], last


# Evaluation runs ------------------------------------------------------------------------------------------


def evaluation_id_for(deployment_id: str, month: str, run: int) -> str:
    """The evaluation id, also the Step Functions execution name: ``cpt-{deployment}-{YYYY-MM}-r{n}``."""
    return f"cpt-{deployment_id}-{month}-r{run}"


def next_run(org_id: str, deployment_id: str, month: str) -> int:
    """Take the next run number of a deployment-month (an atomic counter: concurrent callers get distinct runs)."""
    response = dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.deployment_pk(org_id, deployment_id), keys.evaluation_runs_sk(month)),
        UpdateExpression="ADD runs :one SET #type = :type",
        ExpressionAttributeNames={"#type": "type"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":type": {"S": "evaluation_runs"}},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["runs"]["N"])


def claim_first_run(org_id: str, deployment_id: str, month: str) -> bool:
    """Claim run 1 of a deployment-month for the scheduled trigger; ``False`` if any run exists already."""
    try:
        dynamodb().put_item(
            TableName=get_settings().table_name,
            Item=to_item(
                {
                    "PK": keys.deployment_pk(org_id, deployment_id),
                    "SK": keys.evaluation_runs_sk(month),
                    "type": "evaluation_runs",
                    "runs": 1,
                }
            ),
            ConditionExpression="attribute_not_exists(PK)",
        )
    except dynamodb().exceptions.ConditionalCheckFailedException:
        return False
    return True


def put_evaluation(
    *,
    org_id: str,
    deployment_id: str,
    evaluation_id: str,
    month: str,
    run: int,
    through: str | None,
) -> dict[str, Any]:
    """Create the EVAL item of a run (``running``); it never overwrites an existing run."""
    item = {
        "PK": keys.deployment_pk(org_id, deployment_id),
        "SK": keys.evaluation_sk(evaluation_id),
        "type": "evaluation",
        "org_id": org_id,
        "deployment_id": deployment_id,
        "evaluation_id": evaluation_id,
        "month": month,
        "run": run,
        "through": through,
        "status": "running",
        "patients_evaluated": 0,
        "records_written": 0,
        "failures": [],
        "started_at": clock.now().isoformat(),
    }
    dynamodb().put_item(
        TableName=get_settings().table_name, Item=to_item(item), ConditionExpression="attribute_not_exists(PK)"
    )
    return item


def set_execution_arn(org_id: str, deployment_id: str, evaluation_id: str, execution_arn: str) -> None:
    """Remember the execution of a run."""
    dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.deployment_pk(org_id, deployment_id), keys.evaluation_sk(evaluation_id)),
        UpdateExpression="SET execution_arn = :arn",
        ExpressionAttributeValues={":arn": {"S": execution_arn}},
    )


def finish_evaluation(
    *,
    org_id: str,
    deployment_id: str,
    evaluation_id: str,
    status: str,
    patients_evaluated: int,
    records_written: int,
    failures: list[dict[str, str]],
    failure_count: int,
) -> None:
    """Write a run's outcome onto its EVAL item."""
    dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.deployment_pk(org_id, deployment_id), keys.evaluation_sk(evaluation_id)),
        UpdateExpression=(
            "SET #status = :status, patients_evaluated = :pe, records_written = :rw, failures = :f, "
            "failure_count = :fc, finished_at = :at"
        ),
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": status},
            ":pe": {"N": str(patients_evaluated)},
            ":rw": {"N": str(records_written)},
            ":f": to_value(failures),
            ":fc": {"N": str(failure_count)},
            ":at": {"S": clock.now().isoformat()},
        },
    )


def get_evaluation(org_id: str, deployment_id: str, evaluation_id: str) -> dict[str, Any] | None:
    """The EVAL item of a run, or ``None``."""
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.deployment_pk(org_id, deployment_id), keys.evaluation_sk(evaluation_id)),
        ConsistentRead=True,
    )
    raw = response.get("Item")
    return from_item(raw) if raw else None


# Billing-enabled deployments ------------------------------------------------------------------------------


def register_deployment(org_id: str, deployment_id: str, *, enabled: bool = True) -> None:
    """Add (or, with ``enabled=False``, remove) a deployment in the registry the monthly trigger reads."""
    key = keys.key(keys.ALL_DEPLOYMENTS_PK, keys.deployment_registry_sk(org_id, deployment_id))
    table = get_settings().table_name
    if not enabled:
        dynamodb().delete_item(TableName=table, Key=key)
        return
    item = {"type": "billing_deployment", "org_id": org_id, "deployment_id": deployment_id}
    dynamodb().put_item(TableName=table, Item={**key, **to_item(item)})


def iter_registered_deployments() -> Iterator[tuple[str, str]]:
    """Every billing-enabled deployment as ``(org_id, deployment_id)``, page by page."""
    for page in query_pages(keys.ALL_DEPLOYMENTS_PK, index=None):
        for item in page:
            yield str(item["org_id"]), str(item["deployment_id"])


# Deployment configuration ---------------------------------------------------------------------------------


def load_config(org_id: str, deployment_id: str) -> Any:
    """The deployment's billing configuration from the warm-container cache (``get_config_cached``).

    A cold container reads it once (one GetItem); later calls within ``config_cache_seconds`` cost nothing,
    which is how the status read stays at one request.
    """
    try:
        from rpm_billing.db.enrollment import get_config_cached
    except ImportError:  # pragma: no cover - the enrollment repository ships with the layer
        return _config_item(org_id, deployment_id)
    return get_config_cached(org_id, deployment_id)


def _config_item(org_id: str, deployment_id: str) -> dict[str, Any] | None:
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.deployment_pk(org_id, deployment_id), keys.CONFIG_SK),
    )
    raw = response.get("Item")
    return from_item(raw) if raw else None
