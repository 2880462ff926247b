"""Storage: the customer-managed key, the table (from the shared schema), the buckets and the table's backup plan."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants as c
from rpm_billing.db import schema


class Storage(Construct):
    """The data at rest: one CMK for everything, the table, the order and export buckets, the access-log bucket.

    Args:
        scope: Parent construct.
        construct_id: Id of this construct.
        cors_origins: Origins allowed to POST order documents straight to the orders bucket.
    """

    def __init__(self, scope: Construct, construct_id: str, *, cors_origins: list[str]) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the billing table, buckets, queues, topics, logs and workflow state",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": Stack.of(self).format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )

        self.table = ddb.Table(
            self,
            "Table",
            table_name=c.TABLE_NAME,
            partition_key=ddb.Attribute(name=schema.PARTITION_KEY, type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name=schema.SORT_KEY, type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for name, (pk, sk) in schema.GSIS.items():
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=ddb.Attribute(name=pk, type=ddb.AttributeType.STRING),
                sort_key=ddb.Attribute(name=sk, type=ddb.AttributeType.STRING),
                projection_type=ddb.ProjectionType.ALL,
            )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(c.ACCESS_LOGS_RETENTION_DAYS),
                    noncurrent_version_expiration=Duration.days(c.NONCURRENT_EXPIRATION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(c.ABORT_MULTIPART_DAYS),
                )
            ],
        )
        self.exports = self._private_bucket(
            "Exports",
            "exports/",
            s3.LifecycleRule(
                id="expire-exports",
                expiration=Duration.days(c.EXPORTS_EXPIRATION_DAYS),
                noncurrent_version_expiration=Duration.days(c.NONCURRENT_EXPIRATION_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(c.ABORT_MULTIPART_DAYS),
            ),
        )
        self.orders = self._private_bucket(
            "Orders",
            "orders/",
            s3.LifecycleRule(
                id="expire-orders",
                expiration=Duration.days(c.ORDERS_RETENTION_DAYS),
                noncurrent_version_expiration=Duration.days(30),
                abort_incomplete_multipart_upload_after=Duration.days(c.ABORT_MULTIPART_DAYS),
            ),
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.GET],
                    allowed_origins=cors_origins,
                    allowed_headers=["*"],
                    max_age=300,
                )
            ],
        )

        self.vault = backup.BackupVault(self, "Vault", encryption_key=self.key, removal_policy=RemovalPolicy.RETAIN)
        self.backup_plan = backup.BackupPlan(
            self,
            "BackupPlan",
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="daily",
                    schedule_expression=events.Schedule.cron(minute="0", hour="5"),
                    delete_after=Duration.days(c.BACKUP_RETENTION_DAYS),
                )
            ],
        )
        self.backup_plan.add_selection(
            "Table", resources=[backup.BackupResource.from_dynamo_db_table(self.table)], allow_restores=False
        )

    def _private_bucket(
        self, construct_id: str, log_prefix: str, rule: s3.LifecycleRule, cors: list[s3.CorsRule] | None = None
    ) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[rule],
            cors=cors,
            removal_policy=RemovalPolicy.RETAIN,
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUnencryptedPuts",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects("*")],
                conditions={
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                    "Null": {"s3:x-amz-server-side-encryption": "false"},
                },
            )
        )
        return bucket
