"""AWS clients, created lazily and once per container, with explicit, bounded retries.

Clients come from one botocore session: boto3 adds nothing these functions use, and importing it also loads
its resource layer and s3transfer on every cold start. ``AWS_ENDPOINT_URL`` (or a per-service variant) points
every client at an emulator unchanged.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from rpm_billing.db.attributes import deserialize, serialize
from rpm_billing.settings import get_settings

if TYPE_CHECKING:
    from botocore.session import Session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

#: Standard retry mode, 3 attempts in all (botocore's ``max_attempts`` would count retries, i.e. 4): with short
#: timeouts the worst case stays far below the 29 s API limit.
RETRIES = {"mode": "standard", "total_max_attempts": 3}

#: A botocore session may not create clients from two threads at once (the export worker runs threads).
_creating = threading.Lock()


def _config(**extra: Any) -> Any:
    from botocore.config import Config

    return Config(retries=RETRIES, connect_timeout=2, read_timeout=5, **extra)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _session() -> Session:
    """The botocore session of this container (credentials and region from the environment).

    Its data loader knows the product's services only (``rpm_billing.db.loader``): the first client then skips
    botocore's scan of every service folder.
    """
    import botocore.session

    from rpm_billing.db import loader

    session = botocore.session.get_session()
    session.register_component("data_loader", loader.create(session.get_config_variable("data_path")))
    return session


def _client(service: str, **config: Any) -> Any:
    with _creating:
        return _session().create_client(service, config=_config(**config))


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client of this container."""
    return cast("DynamoDBClient", _client("dynamodb"))


@lru_cache(maxsize=1)
def s3() -> S3Client:
    """The S3 client of this container; it signs with SigV4 (botocore presigns S3 with SigV2 by default)."""
    return cast("S3Client", _client("s3", signature_version="s3v4"))


@lru_cache(maxsize=1)
def stepfunctions() -> SFNClient:
    """The Step Functions client of this container."""
    return cast("SFNClient", _client("stepfunctions"))


@lru_cache(maxsize=1)
def lambda_() -> Any:
    """The Lambda client of this container (asynchronous invokes of workers)."""
    return _client("lambda")


def reset_clients() -> None:
    """Forget every client (tests and the local stack change endpoints); the session and its loaded models stay."""
    for factory in (dynamodb, s3, stepfunctions, lambda_):
        factory.cache_clear()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Serialise a plain dict to DynamoDB JSON, dropping ``None`` values."""
    return {key: serialize(value) for key, value in data.items() if value is not None}


def to_value(value: Any) -> dict[str, Any]:
    """Serialise one value to DynamoDB JSON."""
    return dict(serialize(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Deserialise a DynamoDB JSON item (numbers arrive as ``Decimal``)."""
    return {key: deserialize(value) for key, value in item.items()}


def query_page(
    pk: str,
    sk_prefix: str,
    limit: int,
    after: str | None,
    *,
    filter_expression: str | None = None,
    filter_values: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a partition's items whose ``SK`` starts with ``sk_prefix``, in ``SK`` order (one Query).

    Args:
        pk: The partition.
        sk_prefix: The sort-key prefix of the list's items.
        limit: The most items DynamoDB evaluates (a filter may return fewer).
        after: The ``SK`` the previous page ended at (``None``: the first page).
        filter_expression: An optional ``FilterExpression``.
        filter_values: The expression values it uses.

    Returns:
        The raw DynamoDB items and the ``SK`` to continue after, ``None`` when DynamoDB saw no more.
    """
    request: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}, **(filter_values or {})},
        "Limit": limit,
    }
    if filter_expression:
        request["FilterExpression"] = filter_expression
    if after:
        request["ExclusiveStartKey"] = {"PK": {"S": pk}, "SK": {"S": after}}
    response = dynamodb().query(**request)
    last = response.get("LastEvaluatedKey")
    return list(response.get("Items", [])), (last["SK"]["S"] if last else None)
