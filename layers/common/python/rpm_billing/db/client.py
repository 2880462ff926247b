"""AWS clients, created lazily and once per container, with explicit, bounded retries.

``AWS_ENDPOINT_URL`` (or a per-service variant) points every client at an emulator unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

#: Standard retry mode, 3 attempts: with short timeouts the worst case stays far below the 29 s API limit.
RETRIES = {"mode": "standard", "max_attempts": 3}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _config(**extra: Any) -> Any:
    from botocore.config import Config

    return Config(retries=RETRIES, connect_timeout=2, read_timeout=5, **extra)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client of this container."""
    import boto3

    return boto3.client("dynamodb", config=_config())


@lru_cache(maxsize=1)
def s3() -> S3Client:
    """The S3 client of this container; it signs with SigV4 (boto3 presigns with SigV2 by default)."""
    import boto3

    return boto3.client("s3", config=_config(signature_version="s3v4"))


@lru_cache(maxsize=1)
def stepfunctions() -> SFNClient:
    """The Step Functions client of this container."""
    import boto3

    return boto3.client("stepfunctions", config=_config())


@lru_cache(maxsize=1)
def lambda_() -> Any:
    """The Lambda client of this container (asynchronous invokes of workers)."""
    import boto3

    return boto3.client("lambda", config=_config())


def reset_clients() -> None:
    """Forget every client (tests and the local stack change endpoints and credentials)."""
    for factory in (dynamodb, s3, stepfunctions, lambda_):
        factory.cache_clear()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Serialise a plain dict to DynamoDB JSON, dropping ``None`` values."""
    return {key: _serializer.serialize(value) for key, value in data.items() if value is not None}


def to_value(value: Any) -> dict[str, Any]:
    """Serialise one value to DynamoDB JSON."""
    return dict(_serializer.serialize(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Deserialise a DynamoDB JSON item (numbers arrive as ``Decimal``)."""
    return {key: _deserializer.deserialize(value) for key, value in item.items()}
