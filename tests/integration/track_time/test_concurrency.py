"""Concurrent writers and ambiguous failures: no lost update, no duplicate, no lost entry."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb
from rpm_billing.settings import get_settings

from .conftest import ENTRIES, PAT, entry_body, month_item

THREADS, PER_THREAD = 8, 40


def _started(slot: int) -> str:
    """Whole hours from 2026-03-03T00:00Z (March 2, 18:00 in the practice's zone): all in the practice's March."""
    day, hour = 3 + slot // 20, slot % 20
    return f"2026-03-{day:02d}T{hour:02d}:00:00+00:00"


def test_post_entry_concurrent_writers_lose_nothing(seeded: None, api: Any) -> None:
    # Given: 8 clinicians, 40 entries each, all on one patient-month
    def work(thread: int) -> list[int]:
        return [
            api("POST", ENTRIES, entry_body(_started(j), 60 + thread), key=f"t{thread}-{j}", user=f"clin-{thread}")[0]
            for j in range(PER_THREAD)
        ]

    # When
    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [status for batch in pool.map(work, range(THREADS)) for status in batch]

    # Then
    assert statuses.count(201) == THREADS * PER_THREAD
    month = month_item("2026-03")
    assert month["entry_count"] == THREADS * PER_THREAD
    assert month["total_seconds"] == sum((60 + t) * PER_THREAD for t in range(THREADS))
    assert sum(1 for name in month if name.startswith("E#")) == THREADS * PER_THREAD


def test_naive_read_modify_write_control_loses_updates(aws: None) -> None:
    # Given: the same moto (serialised handler) and a naive counter: read, add one, write back
    table, key = get_settings().table_name, keys.key("CONTROL", "COUNTER")
    dynamodb().put_item(TableName=table, Item={**key, "total": {"N": "0"}})

    def work(_: int) -> None:
        for _ in range(PER_THREAD):
            item = dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
            total = int(item["total"]["N"]) + 1
            dynamodb().put_item(TableName=table, Item={**key, "total": {"N": str(total)}})

    # When
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))

    # Then: the control detects lost updates, so the test above can tell good code from bad
    final = int(dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["total"]["N"])
    assert final < THREADS * PER_THREAD


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@pytest.fixture
def lost_responses(aws: None) -> Iterator[dict[str, int]]:
    """On a seeded share of DynamoDB calls, moto applies the request but the caller gets a 500."""
    from botocore.awsrequest import AWSResponse

    rng, seen = random.Random(20260320), {"faked": 0}

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        if rng.random() >= 0.3:
            return None
        seen["faked"] += 1
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"}'
        return AWSResponse(request.url, 500, {"x-amzn-ErrorType": "InternalServerError"}, _Raw(body))

    events = dynamodb().meta.events
    events.register_first("before-send.dynamodb", hook)
    yield seen
    events.unregister("before-send.dynamodb", hook)


def test_post_entry_lost_responses_leave_no_duplicate_and_no_gap(seeded: None, api: Any, lost_responses: Any) -> None:
    # Given: 30 entries, each retried by the client on a 5xx with its Idempotency-Key
    replies = {}

    # When
    for j in range(30):
        for _ in range(6):
            status, body = api("POST", ENTRIES, entry_body(_started(j), 120), key=f"k{j}")
            if status < 500:
                break
        replies[j] = (status, body)

    # Then
    assert lost_responses["faked"] > 10
    assert all(status == 201 for status, _ in replies.values())
    assert len({body["entry"]["entry_id"] for _, body in replies.values()}) == 30
    month = month_item("2026-03")
    assert month["entry_count"] == 30
    assert month["total_seconds"] == 30 * 120
    entries = dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :p)",
        ExpressionAttributeValues={":pk": {"S": keys.patient_pk("org1", PAT)}, ":p": {"S": "ENTRY#"}},
    )["Items"]
    assert len(entries) == 30
