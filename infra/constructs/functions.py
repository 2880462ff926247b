"""Functions: one Lambda per handler, each with its own log group, role and customer-managed policy."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.bytecode import compiled_code
from infra.constants import FunctionSpec, Resource
from infra.constructs.storage import Storage
from rpm_billing.db import schema

ROOT = Path(__file__).resolve().parents[2]


def function_name(function_id: str) -> str:
    """The deployed name of a function (``rpm-billing-export-worker`` for ``ExportWorker``)."""
    kebab = "".join(f"-{ch.lower()}" if ch.isupper() else ch for ch in function_id).lstrip("-")
    return f"{c.SERVICE_NAME}-{kebab}"


def encrypted_log_group(scope: Construct, construct_id: str, key: kms.IKey, name: str | None = None) -> logs.LogGroup:
    """A log group encrypted with the stack's key, with the project's retention, kept on stack deletion."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=logs.RetentionDays.ONE_YEAR,
        removal_policy=RemovalPolicy.RETAIN,
    )


def encrypted_queue(scope: Construct, construct_id: str, key: kms.IKey) -> sqs.Queue:
    """A dead-letter queue: CMK-encrypted, TLS only, two weeks of retention."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(c.DLQ_RETENTION_DAYS),
    )


class Functions(Construct):
    """Every Lambda of the product, built from ``constants.FUNCTIONS``.

    Args:
        scope: Parent construct.
        construct_id: Id of this construct.
        storage: The key, table and buckets the functions use.
        dependency_layer: Asset folder of the third-party dependency layer (``python/...`` inside).
        cors_origins: Origins the API answers with CORS headers.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, storage: Storage, dependency_layer: Path, cors_origins: list[str]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.storage = storage
        common = lambda_.LayerVersion(
            self,
            "CommonLayer",
            code=compiled_code(ROOT / "layers" / "common", ["python"]),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="rpm_billing: the shared package of the billing functions",
        )
        deps = lambda_.LayerVersion(
            self,
            "DependencyLayer",
            code=compiled_code(dependency_layer, ["python"], exclude=[".complete"]),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Powertools and pydantic for arm64 / Python 3.14",
        )
        self.state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=c.STATE_MACHINE_NAME,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.executions_arn = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{c.STATE_MACHINE_NAME}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        self.policies: dict[str, iam.ManagedPolicy] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.dlqs: dict[str, sqs.Queue] = {}
        env = {
            "TABLE_NAME": storage.table.table_name,
            "DOCUMENTS_BUCKET": storage.orders.bucket_name,
            "EXPORTS_BUCKET": storage.exports.bucket_name,
            "WORK_BUCKET": storage.exports.bucket_name,
            "PRESIGN_TTL_SECONDS": str(c.PRESIGN_TTL_SECONDS),
            "EXPORT_DAILY_QUOTA": str(c.EXPORT_DAILY_QUOTA),
            "EXPORT_MAX_PATIENTS": str(c.EXPORT_MAX_PATIENTS),
            "CONFIG_CACHE_SECONDS": str(c.CONFIG_CACHE_SECONDS),
            "CORS_ORIGINS": ",".join(cors_origins),
            "POWERTOOLS_SERVICE_NAME": c.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "false",
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
        }
        extra = {
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "EXPORT_WORKER_FUNCTION": function_name("ExportWorker"),
        }
        for function_id, spec in c.FUNCTIONS.items():
            self._add(function_id, spec, {**env, **{k: extra[k] for k in spec.extra_env}}, [common, deps])

    def _add(
        self, function_id: str, spec: FunctionSpec, env: dict[str, str], layers: list[lambda_.ILayerVersion]
    ) -> None:
        scope = Construct(self, function_id)
        key = self.storage.key
        log_group = encrypted_log_group(scope, "Logs", key, f"/aws/lambda/{function_name(function_id)}")
        dlq = encrypted_queue(scope, "DeadLetters", key) if spec.asynchronous else None
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {function_name(function_id)} function",
        )
        policy = iam.ManagedPolicy(
            scope,
            "Policy",
            description=f"Least privilege of the {function_name(function_id)} function",
            statements=self._statements(spec, log_group, dlq),
            roles=[role],
        )
        others = [p for p in c.FUNCTION_PACKAGES if p != spec.package]
        fn = lambda_.Function(
            scope,
            "Function",
            function_name=function_name(function_id),
            description=f"Handler {spec.handler}",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=compiled_code(
                ROOT / "functions",
                [spec.package],
                exclude=[*others, "tests", "**/tests"],
                prune=("__pycache__", "tests"),
            ),
            layers=layers,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            reserved_concurrent_executions=spec.concurrency,
            environment=env,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            role=role.without_policy_updates(),
            dead_letter_queue=dlq,
        )
        fn.node.add_dependency(policy)
        self.functions[function_id] = fn
        self.roles[function_id] = role
        self.policies[function_id] = policy
        self.log_groups[function_id] = log_group
        if dlq is not None:
            self.dlqs[function_id] = dlq

    def _resources(self, resource: Resource, log_group: logs.LogGroup, dlq: sqs.Queue | None) -> list[str]:
        storage = self.storage
        table = storage.table.table_arn
        worker = Stack.of(self).format_arn(
            service="lambda",
            resource="function",
            resource_name=function_name("ExportWorker"),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        arns: dict[str, list[str]] = {
            "table": [table, *(f"{table}/index/{name}" for name in sorted(schema.GSIS))],
            "orders_objects": [storage.orders.arn_for_objects(f"{c.ORDERS_PREFIX}*")],
            "exports_objects": [storage.exports.arn_for_objects(f"{c.EXPORTS_PREFIX}*")],
            "runs_objects": [storage.exports.arn_for_objects(f"{c.RUNS_PREFIX}*")],
            "key": [storage.key.key_arn],
            "state_machine": [self.state_machine_arn],
            "executions": [self.executions_arn],
            "export_worker": [worker],
            "log_group": [log_group.log_group_arn],
            "xray": ["*"],
        }
        if dlq is not None:
            arns["dlq"] = [dlq.queue_arn]
        if resource not in arns:
            raise ValueError(f"no ARN for {resource} (only asynchronous functions have a dead-letter queue)")
        return arns[resource]

    def _statements(
        self, spec: FunctionSpec, log_group: logs.LogGroup, dlq: sqs.Queue | None
    ) -> list[iam.PolicyStatement]:
        statements = [
            iam.PolicyStatement(actions=list(actions), resources=self._resources(resource, log_group, dlq))
            for resource, actions in spec.grants.items()
        ]
        statements.append(
            iam.PolicyStatement(
                sid="AuditRecordsAreAppendOnly",
                effect=iam.Effect.DENY,
                actions=list(c.AUDIT_DENIED_ACTIONS),
                resources=[self.storage.table.table_arn],
                conditions={"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": [c.AUDIT_KEY_PATTERN]}},
            )
        )
        return statements
