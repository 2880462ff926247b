"""The table definition, shared by the CDK stack and the local stack so they cannot drift apart."""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "PK"
SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"

#: Global secondary indexes: name -> (partition key attribute, sort key attribute). All project ALL.
GSIS: dict[str, tuple[str, str]] = {
    "GSI1": ("GSI1PK", "GSI1SK"),
}


def create_table_request(table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request for the table (on-demand), as boto3 keyword arguments."""
    attributes = {PARTITION_KEY, SORT_KEY} | {attr for pair in GSIS.values() for attr in pair}
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, (pk, sk) in GSIS.items()
        ],
    }
