"""Data at rest: the table, the PHI buckets and the customer-managed key."""

from __future__ import annotations

from typing import Any

import pytest

from infra import constants as c
from rpm_billing.db import schema

pytestmark = pytest.mark.infra

PHI_BUCKETS = ("exports", "orders")


def _key_arn(synth: Any) -> Any:
    return synth.resolve(synth.stack.storage.key.key_arn)


def _table(synth: Any) -> dict[str, Any]:
    return synth.resource(synth.stack.storage.table)


def _bucket(synth: Any, name: str) -> Any:
    return getattr(synth.stack.storage, name)


def _bucket_policy_statements(synth: Any, name: str) -> list[dict[str, Any]]:
    ref = {"Ref": synth.logical_id(_bucket(synth, name))}
    (policy,) = [r for r in synth.of_type("AWS::S3::BucketPolicy").values() if r["Properties"]["Bucket"] == ref]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def test_table_is_encrypted_with_the_customer_managed_key(synth: Any) -> None:
    # Given the billing table
    # When its server-side encryption is read
    sse = _table(synth)["Properties"]["SSESpecification"]

    # Then it uses KMS with the stack's own key (not the AWS-owned or AWS-managed key)
    assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": _key_arn(synth)}


def test_table_has_point_in_time_recovery_and_deletion_protection(synth: Any) -> None:
    # Given the billing table
    # When its recovery settings are read
    table = _table(synth)
    properties = table["Properties"]

    # Then PITR and deletion protection are on and the table outlives the stack
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_table_indexes_are_the_shared_schema_indexes(synth: Any) -> None:
    # Given the indexes of the shared schema
    expected = [
        {
            "IndexName": name,
            "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
        for name, (pk, sk) in schema.GSIS.items()
    ]

    # When the table's global secondary indexes are read
    indexes = _table(synth)["Properties"]["GlobalSecondaryIndexes"]

    # Then they are the same, with the same keys and projections
    assert indexes == expected


def test_table_is_selected_by_the_backup_plan(synth: Any) -> None:
    # Given the billing table's ARN
    table_arn = synth.resolve(synth.stack.storage.table.table_arn)

    # When the backup selections are read
    selected = [
        resource
        for r in synth.of_type("AWS::Backup::BackupSelection").values()
        for resource in r["Properties"]["BackupSelection"].get("Resources", [])
    ]

    # Then the table is in a backup plan
    assert table_arn in selected


@pytest.mark.parametrize("bucket", PHI_BUCKETS)
def test_bucket_blocks_all_public_access(synth: Any, bucket: str) -> None:
    # Given a bucket that holds PHI
    # When its public access block and ownership are read
    properties = synth.resource(_bucket(synth, bucket))["Properties"]

    # Then all four blocks are on and ACLs are disabled
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


@pytest.mark.parametrize("bucket", PHI_BUCKETS)
def test_bucket_policy_denies_every_request_without_tls(synth: Any, bucket: str) -> None:
    # Given the bucket's ARN
    arn = _bucket(synth, bucket).bucket_arn
    resources = synth.resolve([arn, f"{arn}/*"])

    # When its policy is read
    statements = _bucket_policy_statements(synth, bucket)

    # Then any request to the bucket or its objects over plain HTTP is denied
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": resources,
    } in statements


@pytest.mark.parametrize("bucket", PHI_BUCKETS)
def test_bucket_is_encrypted_with_the_customer_managed_key(synth: Any, bucket: str) -> None:
    # Given a bucket that holds PHI
    # When its default encryption and policy are read
    encryption = synth.resource(_bucket(synth, bucket))["Properties"]["BucketEncryption"]
    statements = _bucket_policy_statements(synth, bucket)
    denied_puts = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == "s3:PutObject"]

    # Then objects default to SSE-KMS with the stack key (bucket key on) and puts asking for another SSE are denied
    assert encryption == {
        "ServerSideEncryptionConfiguration": [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {"KMSMasterKeyID": _key_arn(synth), "SSEAlgorithm": "aws:kms"},
            }
        ]
    }
    assert [s["Condition"]["StringNotEquals"] for s in denied_puts] == [{"s3:x-amz-server-side-encryption": "aws:kms"}]


def test_export_bucket_lifecycle_expires_objects_old_versions_and_incomplete_uploads(synth: Any) -> None:
    # Given the export bucket
    # When its lifecycle rules are read
    rules = synth.resource(synth.stack.storage.exports)["Properties"]["LifecycleConfiguration"]["Rules"]

    # Then one bucket-wide rule expires exports, their noncurrent versions and abandoned multipart uploads
    assert [{k: v for k, v in rule.items() if k != "Id"} for rule in rules] == [
        {
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": c.ABORT_MULTIPART_DAYS},
            "ExpirationInDays": c.EXPORTS_EXPIRATION_DAYS,
            "NoncurrentVersionExpiration": {"NoncurrentDays": c.NONCURRENT_EXPIRATION_DAYS},
            "Status": "Enabled",
        }
    ]


@pytest.mark.parametrize("bucket", PHI_BUCKETS)
def test_bucket_is_versioned_logged_and_retained(synth: Any, bucket: str) -> None:
    # Given a bucket that holds PHI
    # When its versioning, access logging and deletion policy are read
    resource = synth.resource(_bucket(synth, bucket))
    properties = resource["Properties"]

    # Then versions are kept, server access logs go to the access-log bucket, and the bucket outlives the stack
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": synth.logical_id(synth.stack.storage.access_logs)
    }
    assert resource["DeletionPolicy"] == "Retain"


def test_kms_keys_rotate_and_are_retained(synth: Any) -> None:
    # Given every KMS key of the stack
    keys = synth.of_type("AWS::KMS::Key")

    # When their rotation, deletion window and policy are read
    settings = {
        lid: (r["Properties"].get("EnableKeyRotation"), r["Properties"].get("PendingWindowInDays"), r["DeletionPolicy"])
        for lid, r in keys.items()
    }

    # Then every key rotates, waits 30 days before deletion and outlives the stack
    assert settings == dict.fromkeys(keys, (True, 30, "Retain"))
    assert len(keys) >= 1
