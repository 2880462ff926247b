"""What an export reads, page by page: the patients to include and, per page of patients, the items it needs.

Every key starts with the organisation, so another tenant's patient can never be read. Patients come in pages
of ``PAGE`` ids (the enrolled partition of GSI1 for "all", the stored list otherwise) and their items in
``BatchGetItem`` calls of at most 100 keys or in per-patient range queries; nothing is held across pages.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, from_item
from rpm_billing.errors import Unavailable
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

#: Patients per page.
PAGE = 100
#: Keys per BatchGetItem (the DynamoDB maximum).
BATCH_KEYS = 100
UNPROCESSED_RETRIES = 5


def read_config(org_id: str, deployment_id: str) -> dict[str, Any] | None:
    """The deployment's billing configuration item."""
    response = dynamodb().get_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.deployment_pk(org_id, deployment_id), keys.CONFIG_SK),
        ConsistentRead=True,
    )
    raw = response.get("Item")
    return from_item(raw) if raw else None


def enrolled_pages(org_id: str, deployment_id: str, page: int = PAGE) -> Iterator[list[str]]:
    """The deployment's enrolled patient ids (GSI1 ``ENROLLED``, active episodes only), ``page`` at a time."""
    params: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.enrolled_gsi(org_id, deployment_id)}},
        "ProjectionExpression": "GSI1SK",
        "Limit": page,
    }
    while True:
        response = dynamodb().query(**params)
        ids = [str(item["GSI1SK"]["S"]) for item in response.get("Items", [])]
        if ids:
            yield ids
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


def list_pages(ids: Iterable[str], page: int = PAGE) -> Iterator[list[str]]:
    """A stored list of ids, ``page`` at a time."""
    chunk: list[str] = []
    for patient_id in ids:
        chunk.append(patient_id)
        if len(chunk) == page:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def count_enrolled(org_id: str, deployment_id: str) -> int:
    """How many patients the deployment has enrolled (``Select=COUNT`` pages: no items travel)."""
    params: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.enrolled_gsi(org_id, deployment_id)}},
        "Select": "COUNT",
    }
    total = 0
    while True:
        response = dynamodb().query(**params)
        total += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if not last:
            return total
        params["ExclusiveStartKey"] = last


def batch_get(wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Read items by (PK, SK) in ``BatchGetItem`` calls of at most 100 keys, retrying unprocessed keys."""
    table = get_settings().table_name
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(wanted), BATCH_KEYS):
        chunk = list(dict.fromkeys(wanted[start : start + BATCH_KEYS]))
        request: dict[str, Any] = {table: {"Keys": [keys.key(pk, sk) for pk, sk in chunk], "ConsistentRead": True}}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = dynamodb().batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = from_item(raw)
                found[(str(item["PK"]), str(item["SK"]))] = item
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
            if attempt == UNPROCESSED_RETRIES:
                logger.warning("batch get left unprocessed keys", attempts=attempt + 1)
                raise Unavailable("the service is busy; retry shortly")
            time.sleep(min(0.05 * 2**attempt, 1.0))
    return found


def patient_items(org_id: str, patient_ids: list[str], sort_keys: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """For each patient, the items found among ``sort_keys`` (e.g. PROFILE, ENROLLMENT, MONTH#...), by SK."""
    wanted = [(keys.patient_pk(org_id, pid), sk) for pid in patient_ids for sk in sort_keys]
    found = batch_get(wanted)
    result: dict[str, dict[str, dict[str, Any]]] = {pid: {} for pid in patient_ids}
    prefix = len(keys.patient_pk(org_id, ""))
    for (pk, sk), item in found.items():
        result[pk[prefix:]][sk] = item
    return result


def query_patient(org_id: str, patient_id: str, low: str, high: str | None = None) -> Iterator[dict[str, Any]]:
    """A patient's items with ``low <= SK <= high`` (or ``begins_with(SK, low)`` without ``high``), paged."""
    condition = "PK = :pk AND " + ("SK BETWEEN :low AND :high" if high is not None else "begins_with(SK, :low)")
    values: dict[str, Any] = {":pk": {"S": keys.patient_pk(org_id, patient_id)}, ":low": {"S": low}}
    if high is not None:
        values[":high"] = {"S": high}
    params: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    while True:
        response = dynamodb().query(**params)
        for raw in response.get("Items", []):
            yield from_item(raw)
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last
