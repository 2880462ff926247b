"""Names, sizes and the per-function permission matrix of the stack (the constructs only read these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

STACK_NAME = "RpmBilling"
SERVICE_NAME = "rpm-billing"
METRICS_NAMESPACE = "RpmBilling"

# Storage ----------------------------------------------------------------------------------------------------------
TABLE_NAME = "rpm-billing"
EXPORTS_EXPIRATION_DAYS = 7
NONCURRENT_EXPIRATION_DAYS = 1
ABORT_MULTIPART_DAYS = 1
#: Physician orders are medical records: kept for the usual US retention period.
ORDERS_RETENTION_DAYS = 7 * 365
ACCESS_LOGS_RETENTION_DAYS = 365
ORDERS_PREFIX = "orders/"
EXPORTS_PREFIX = "exports/"
RUNS_PREFIX = "runs/"
#: Allowed origins for the browser's presigned POST and CORS preflights; override with ``-c corsOrigins=a,b``.
DEFAULT_CORS_ORIGINS = ("https://portal.example.org",)
BACKUP_RETENTION_DAYS = 35

# Logs -------------------------------------------------------------------------------------------------------------
LOG_RETENTION_DAYS = 365

# Functions --------------------------------------------------------------------------------------------------------
PRESIGN_TTL_SECONDS = 300
EXPORT_DAILY_QUOTA = 20
EXPORT_MAX_PATIENTS = 20_000
CONFIG_CACHE_SECONDS = 60
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 3600

#: Folders under functions/ that hold function code (each becomes the root package of its own asset).
FUNCTION_PACKAGES = ("enroll", "track_time", "evaluate", "export")

#: Modules whose ``app`` (an ApiApp) serves the REST API, by function id.
API_MODULES = {
    "Enroll": "enroll.app",
    "TrackTime": "track_time.app",
    "Evaluate": "evaluate.app",
    "Export": "export.app",
}

Resource = Literal[
    "table",
    "audit_items",
    "orders_objects",
    "exports_objects",
    "runs_objects",
    "key",
    "state_machine",
    "executions",
    "export_worker",
    "dlq",
    "log_group",
    "xray",
]

#: Env vars set on every function (the values of the TABLE/bucket names are filled in by the functions construct).
ENV_KEYS = (
    "TABLE_NAME",
    "DOCUMENTS_BUCKET",
    "EXPORTS_BUCKET",
    "WORK_BUCKET",
    "PRESIGN_TTL_SECONDS",
    "EXPORT_DAILY_QUOTA",
    "EXPORT_MAX_PATIENTS",
    "CONFIG_CACHE_SECONDS",
    "CORS_ORIGINS",
)


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: where its code is, how it is sized and what it may do.

    Attributes:
        handler: Handler path inside the function's asset (``package.module.function``).
        memory_mb: Memory size.
        timeout_s: Timeout in seconds.
        concurrency: Reserved concurrent executions.
        grants: Allowed actions per resource (exact IAM action names, never wildcards).
        asynchronous: Invoked asynchronously (gets a DLQ, explicit retry attempts and maximum event age).
        extra_env: Environment variables beyond the common ones (values resolved by the functions construct).
    """

    handler: str
    memory_mb: int
    timeout_s: int
    concurrency: int
    grants: dict[Resource, tuple[str, ...]]
    asynchronous: bool = False
    extra_env: tuple[str, ...] = field(default_factory=tuple)

    @property
    def package(self) -> str:
        """The folder under functions/ holding the handler."""
        return self.handler.split(".", 1)[0]


_READ = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")
#: Transactions need the per-item actions (there is no TransactWriteItems IAM action); never DeleteItem.
_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem")
_KMS_RW = ("kms:Decrypt", "kms:GenerateDataKey")
_LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
_XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_BASE: dict[Resource, tuple[str, ...]] = {"log_group": _LOGS, "xray": _XRAY}

FUNCTIONS: dict[str, FunctionSpec] = {
    "Enroll": FunctionSpec(
        handler="enroll.app.lambda_handler",
        memory_mb=1024,
        timeout_s=10,
        concurrency=20,
        grants={
            **_BASE,
            "table": _READ + _WRITE,
            "orders_objects": ("s3:PutObject", "s3:GetObject"),
            "key": _KMS_RW,
        },
    ),
    "TrackTime": FunctionSpec(
        handler="track_time.app.lambda_handler",
        memory_mb=1024,
        timeout_s=10,
        concurrency=30,
        grants={**_BASE, "table": _READ + _WRITE, "key": _KMS_RW},
    ),
    "Evaluate": FunctionSpec(
        handler="evaluate.app.lambda_handler",
        memory_mb=1024,
        timeout_s=15,
        concurrency=20,
        grants={
            **_BASE,
            "table": _READ + _WRITE,
            "key": _KMS_RW,
            "state_machine": ("states:StartExecution",),
            "executions": ("states:DescribeExecution",),
        },
        extra_env=("STATE_MACHINE_ARN",),
    ),
    "Export": FunctionSpec(
        handler="export.app.lambda_handler",
        memory_mb=1024,
        timeout_s=10,
        concurrency=10,
        grants={
            **_BASE,
            "table": _READ + _WRITE,
            "exports_objects": ("s3:GetObject",),
            "key": _KMS_RW,
            "export_worker": ("lambda:InvokeFunction",),
        },
        extra_env=("EXPORT_WORKER_FUNCTION",),
    ),
    "ExportWorker": FunctionSpec(
        handler="export.worker.lambda_handler",
        memory_mb=1769,
        timeout_s=900,
        concurrency=5,
        grants={
            **_BASE,
            "table": (*_READ, "dynamodb:PutItem", "dynamodb:UpdateItem"),
            "exports_objects": ("s3:PutObject", "s3:AbortMultipartUpload"),
            "key": _KMS_RW,
            "dlq": ("sqs:SendMessage",),
        },
        asynchronous=True,
    ),
    "ListPatients": FunctionSpec(
        handler="evaluate.steps.list_patients_handler",
        memory_mb=512,
        timeout_s=120,
        concurrency=10,
        grants={**_BASE, "table": _READ, "runs_objects": ("s3:PutObject",), "key": _KMS_RW},
    ),
    "EvaluateBatch": FunctionSpec(
        handler="evaluate.steps.evaluate_batch_handler",
        memory_mb=1024,
        timeout_s=300,
        concurrency=20,
        grants={**_BASE, "table": _READ + _WRITE, "key": _KMS_RW},
    ),
    "SummariseRun": FunctionSpec(
        handler="evaluate.steps.summarise_run_handler",
        memory_mb=512,
        timeout_s=60,
        concurrency=5,
        grants={**_BASE, "table": _READ + _WRITE, "key": _KMS_RW},
    ),
    "MonthlyTrigger": FunctionSpec(
        handler="evaluate.steps.monthly_trigger_handler",
        memory_mb=512,
        timeout_s=300,
        concurrency=1,
        grants={
            **_BASE,
            "table": _READ + _WRITE,
            "key": _KMS_RW,
            "state_machine": ("states:StartExecution",),
            "executions": ("states:DescribeExecution",),
            "dlq": ("sqs:SendMessage",),
        },
        asynchronous=True,
        extra_env=("STATE_MACHINE_ARN",),
    ),
}

#: Denied to every function: audit records are append-only.
AUDIT_DENIED_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:DeleteItem")
AUDIT_KEY_PATTERN = "AUDIT#*"
#: Never granted to any function on the table.
FORBIDDEN_TABLE_ACTIONS = ("dynamodb:DeleteItem",)

# Evaluation workflow ----------------------------------------------------------------------------------------------
STATE_MACHINE_NAME = "rpm-billing-monthly-evaluation"
WORKFLOW_FILE = "infra/workflows/monthly_evaluation.asl.json"
#: 12:00 UTC on the 1st: the month has ended in every US zone (Hawaii and American Samoa included).
MONTHLY_SCHEDULE = {"minute": "0", "hour": "12", "day": "1", "month": "*", "year": "*"}
SCHEDULE_RETRY_ATTEMPTS = 3
SCHEDULE_MAX_EVENT_AGE_SECONDS = 6 * 3600
DLQ_RETENTION_DAYS = 14

# API --------------------------------------------------------------------------------------------------------------
STAGE_NAME = "v1"
THROTTLE_RATE = 50
THROTTLE_BURST = 100
WRITE_THROTTLE_RATE = 20
WRITE_THROTTLE_BURST = 40
EXPORT_THROTTLE_RATE = 2
EXPORT_THROTTLE_BURST = 5
WAF_RATE_LIMIT_PER_5_MIN = 1000
USER_GROUPS = ("Admin", "AccessController", "DeploymentStaff", "Contributor", "OrganisationStaff")
TOKEN_VALIDITY_MINUTES = 60
REFRESH_TOKEN_VALIDITY_HOURS = 12
PASSWORD_MIN_LENGTH = 12

# Monitoring -------------------------------------------------------------------------------------------------------
ALARM_PERIOD_MINUTES = 5
