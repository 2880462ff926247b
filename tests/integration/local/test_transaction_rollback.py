"""The emulator's cheap transaction rollback keeps moto's all-or-nothing behaviour."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from rpm_billing.db.client import dynamodb
from rpm_billing.settings import get_settings


def _item(pk: str, sk: str) -> dict | None:
    response = dynamodb().get_item(
        TableName=get_settings().table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    )
    return response.get("Item")


def test_cancelled_transaction_leaves_every_named_item_as_it_was(aws: None) -> None:
    # Given: one existing item (counter 1) and one absent item
    table = get_settings().table_name
    dynamodb().put_item(TableName=table, Item={"PK": {"S": "P"}, "SK": {"S": "A"}, "n": {"N": "1"}})

    # When: a transaction updates A, creates B, deletes nothing, then fails a condition on C
    with pytest.raises(ClientError) as raised:
        dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": "P"}, "SK": {"S": "A"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"PK": {"S": "P"}, "SK": {"S": "B"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"PK": {"S": "P"}, "SK": {"S": "C"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )

    # Then: the transaction was cancelled and neither A nor B changed
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item("P", "A") == {"PK": {"S": "P"}, "SK": {"S": "A"}, "n": {"N": "1"}}
    assert _item("P", "B") is None


def test_committed_transaction_applies_every_action(aws: None) -> None:
    # Given: an empty partition
    table = get_settings().table_name

    # When: a transaction creates two items
    dynamodb().transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"PK": {"S": "Q"}, "SK": {"S": "A"}}}},
            {"Put": {"TableName": table, "Item": {"PK": {"S": "Q"}, "SK": {"S": "B"}}}},
        ]
    )

    # Then: both exist
    assert _item("Q", "A") is not None
    assert _item("Q", "B") is not None
