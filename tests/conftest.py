"""Fixtures shared by every suite: fake AWS credentials, moto with the real table, request counting."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.emulator import cheap_transaction_snapshots

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "RpmBillingTest"
os.environ["POWERTOOLS_DEV"] = "false"
for _var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)

TABLE_NAME = "rpm-billing-test"
DOCUMENTS_BUCKET = "rpm-billing-documents-test"
EXPORTS_BUCKET = "rpm-billing-exports-test"


def _serialise_moto() -> None:
    """moto does not make conditional writes atomic across threads; serialise its request handler.

    Without this a correct optimistic-locking workload loses updates under moto (security.md, finding 1).
    """
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber.__call__, "_serialised", False):
        return
    original, lock = BotocoreStubber.__call__, threading.RLock()

    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    serialised._serialised = True  # type: ignore[attr-defined]
    BotocoreStubber.__call__ = serialised  # type: ignore[method-assign]


_serialise_moto()
# moto deep-copies the whole table for every item of a transaction (its rollback copy), which makes a test that
# writes a few hundred entries quadratic; the local stack's snapshot copies only the items a transaction names.
cheap_transaction_snapshots()


@dataclass
class FakeLambdaContext:
    """The parts of the Lambda context the handlers and Powertools read."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture(autouse=True)
def _cyclic_gc_on() -> None:
    """Importing a function package pauses the cyclic collector until a handler runs; tests run with it on."""
    from rpm_billing import coldstart

    coldstart.resume()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process with the product's table (from the shared schema) and buckets; fresh clients."""
    from moto import mock_aws

    from rpm_billing.db import client
    from rpm_billing.db.schema import create_table_request
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("DOCUMENTS_BUCKET", DOCUMENTS_BUCKET)
    monkeypatch.setenv("EXPORTS_BUCKET", EXPORTS_BUCKET)
    reset_settings()
    client.reset_clients()
    with mock_aws():
        import boto3

        boto3.client("dynamodb").create_table(**create_table_request(TABLE_NAME))
        s3 = boto3.client("s3")
        for bucket in (DOCUMENTS_BUCKET, EXPORTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        yield
    client.reset_clients()
    reset_settings()


class RequestCounter:
    """Counts DynamoDB API calls made through the product's client, by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def ddb_requests(aws: None) -> Iterator[RequestCounter]:
    """Count every DynamoDB request the product's client sends (idempotency and audit included)."""
    from rpm_billing.db import client

    counter = RequestCounter()
    events = client.dynamodb().meta.events
    events.register("before-call.dynamodb", counter)
    yield counter
    events.unregister("before-call.dynamodb", counter)


@pytest.fixture
def call_api(lambda_context: FakeLambdaContext) -> Callable[..., tuple[int, dict[str, Any], Any]]:
    """Call a function's ``lambda_handler`` with a REST proxy event; returns (status, headers, json body)."""
    from local.events import rest_event

    def call(handler: Callable[..., dict[str, Any]], method: str, path: str, **kwargs: Any) -> Any:
        response = handler(rest_event(method, path, **kwargs), lambda_context)
        body = response.get("body")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body
        return response["statusCode"], response.get("headers") or {}, parsed

    return call
