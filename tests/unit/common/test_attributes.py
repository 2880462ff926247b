"""DynamoDB attribute values: the product's serializer gives what boto3's gives, and reads back what it wrote."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from rpm_billing.db.attributes import deserialize, serialize

CANARY = "PHI-CANARY-7f3a"

numbers = st.one_of(
    st.integers(min_value=-(10**37), max_value=10**37),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20), max_value=10**20),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20), st.binary(max_size=8))
values = st.recursive(
    st.one_of(
        scalars,
        st.frozensets(st.text(max_size=5), min_size=1, max_size=4),
        st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _comparable(attribute: Any) -> Any:
    """Attribute values with set members sorted (sets have no order) and boto3's Binary as bytes."""
    if isinstance(attribute, dict):
        out = {}
        for kind, member in attribute.items():
            if kind in ("SS", "NS", "BS"):
                out[kind] = sorted(member)
            else:
                out[kind] = _comparable(member)
        return out
    if isinstance(attribute, list):
        return [_comparable(v) for v in attribute]
    return attribute


@given(values)
def test_serialising_gives_what_boto3_gives(value: Any) -> None:
    # Given any value DynamoDB can hold
    # When both serializers write it
    ours, theirs = serialize(value), TypeSerializer().serialize(value)
    # Then the attribute values are the same
    assert _comparable(ours) == _comparable(theirs)


@given(values)
def test_what_is_written_reads_back(value: Any) -> None:
    # Given any value written as an attribute value
    attribute = serialize(value)
    # When it is read back
    back = deserialize(attribute)
    # Then it serialises to the same attribute (numbers come back as Decimal, tuples as lists)
    assert _comparable(serialize(back)) == _comparable(attribute)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "float"),
        (Decimal("NaN"), "NaN"),
        (Decimal("1e200"), "range"),
        (Decimal("1." + "1" * 40), "precision"),
        ({1, "a"}, "set"),
        (object(), "object"),
    ],
)
def test_values_dynamodb_cannot_hold_are_refused_naming_the_type_only(value: Any, message: str) -> None:
    # Given a value DynamoDB cannot store exactly
    # When it is serialised
    with pytest.raises(TypeError) as raised:
        serialize(value)
    # Then the error says why without quoting the value
    assert message in str(raised.value)


def test_an_error_inside_an_item_never_quotes_its_values() -> None:
    # Given an item holding PHI next to a value that cannot be stored
    item = {"name": CANARY, "weight": 81.5, "notes": [CANARY]}
    # When it is serialised
    with pytest.raises(TypeError) as raised:
        serialize(item)
    # Then the message holds no PHI
    assert CANARY not in str(raised.value)
    assert "81.5" not in str(raised.value)
