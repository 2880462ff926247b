"""DynamoDB attribute values to and from plain Python values, without importing boto3.

The mapping is boto3's (``boto3.dynamodb.types``): ``None`` ↔ NULL, ``bool`` ↔ BOOL, ``int``/``Decimal`` → N
(read back as ``Decimal``), ``str`` ↔ S, bytes ↔ B, sets ↔ SS/NS/BS, lists and tuples → L, mappings ↔ M.
Importing ``boto3`` to reach its serializer also loads its session and s3transfer, tens of milliseconds of every
cold start; reading reuses Powertools' deserializer. Errors name the Python type only, never the value (items
carry PHI).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import DYNAMODB_CONTEXT, TypeDeserializer

_deserializer = TypeDeserializer()


def _number(value: int | Decimal) -> str:
    text = str(DYNAMODB_CONTEXT.create_decimal(value))
    if text in ("Infinity", "-Infinity", "NaN", "sNaN"):
        raise TypeError("infinity and NaN cannot be stored")
    return text


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("float cannot be stored exactly; use Decimal")
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _set_type(values: Set[Any]) -> str:
    if all(_is_number(v) for v in values):
        return "NS"
    if all(isinstance(v, str) for v in values):
        return "SS"
    if all(isinstance(v, (bytes, bytearray)) for v in values):
        return "BS"
    raise TypeError("a set must hold only numbers, only strings or only bytes")


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value.

    Args:
        value: ``None``, ``bool``, ``int``, ``Decimal``, ``str``, bytes, a set of one of those scalar kinds,
            a list or tuple, or a mapping with string keys, nested freely.

    Returns:
        The attribute value, e.g. ``{"N": "3"}`` or ``{"M": {"a": {"S": "b"}}}``.

    Raises:
        TypeError: For floats, NaN or infinity, numbers DynamoDB cannot hold exactly, mixed sets and other
            types. The message names the type, never the value.
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        try:
            return {"N": _number(value)}
        except ArithmeticError as exc:  # decimal traps: more than 38 digits, out of range
            raise TypeError("number out of DynamoDB's range or precision") from exc
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        kind = _set_type(value)
        members = [serialize(v)[kind[0]] for v in value]
        return {kind: members}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"unsupported type for DynamoDB: {type(value).__name__}")


def deserialize(value: dict[str, Any]) -> Any:
    """One DynamoDB attribute value as a Python value (numbers as ``Decimal``, binaries as ``bytes``)."""
    return _deserializer.deserialize(value)
