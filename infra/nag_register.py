"""The one register of cdk-nag acknowledgements, applied by code: rule (+ applies_to) -> construct path -> reason.

Paths are construct paths relative to the stack, matched against each CloudFormation resource one segment at a time
(``fnmatch`` patterns per segment, so ``*`` never spans a ``/``: ``Functions/*/Policy/Resource`` is each function's
policy, not the policy of a queue nested deeper under a function).
In ``applies_to``, ``{Some/Path}`` stands for the logical id of the resource at that path (``Some/Path/Resource``),
and ``{partition}``, ``{region}`` and ``{account}`` for the stack's own values as ``Stack.format_arn`` writes them
(``<AWS::Region>`` in an environment-agnostic stack, ``us-east-1`` once the CLI gives the stack an environment), so the
register stays readable while cdk-nag sees the exact finding id.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from aws_cdk import CfnResource, Stack, Token
from cdk_nag import NagPackSuppression, NagSuppressions

LAMBDA_X_RAY = (
    "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; the statement holds only these"
)


@dataclass(frozen=True)
class Acknowledgement:
    """One acknowledged finding on the constructs matching ``path``."""

    rule: str
    path: str
    reason: str
    applies_to: str | None = None


REGISTER: tuple[Acknowledgement, ...] = (
    # Storage -------------------------------------------------------------------------------------------------------
    Acknowledgement(
        "HIPAA.Security-S3BucketReplicationEnabled",
        "Storage/Exports/Resource",
        "Exports expire after 7 days and can be regenerated; replicating them would copy PHI to another region",
    ),
    Acknowledgement(
        "HIPAA.Security-S3BucketReplicationEnabled",
        "Storage/Orders/Resource",
        "Single-region deployment by data-residency decision; versioning, RETAIN and KMS protect the orders",
    ),
    Acknowledgement(
        "HIPAA.Security-S3BucketReplicationEnabled",
        "Storage/AccessLogs/Resource",
        "Server access logs are operational evidence kept versioned in-region; replication adds no protection",
    ),
    Acknowledgement(
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "Storage/AccessLogs/Resource",
        "S3 server access log delivery supports only SSE-S3 on the target bucket; it holds no object contents",
    ),
    Acknowledgement(
        "AwsSolutions-IAM4",
        "Storage/BackupPlan/Table/Role/Resource",
        "AWS Backup's service role uses the AWS-maintained backup policy; it is assumed only by backup.amazonaws.com",
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    ),
    # Functions -----------------------------------------------------------------------------------------------------
    Acknowledgement("AwsSolutions-IAM5", "Functions/*/Policy/Resource", LAMBDA_X_RAY, "Resource::*"),
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Functions/Enroll/Policy/Resource",
        "Order documents live under orders/{org}/{document}.pdf with opaque ids; the grant is that prefix only",
        "Resource::<{Storage/Orders}.Arn>/orders/*",
    ),
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Functions/Export*/Policy/Resource",
        "Export ZIPs live under exports/{org}/{export}.zip with opaque ids; the grant is that prefix only",
        "Resource::<{Storage/Exports}.Arn>/exports/*",
    ),
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Functions/ListPatients/Policy/Resource",
        "Run manifests are written under runs/{evaluation}/ with generated ids; the grant is that prefix only",
        "Resource::<{Storage/Exports}.Arn>/runs/*",
    ),
    *(
        Acknowledgement(
            "AwsSolutions-IAM5",
            f"Functions/{function_id}/Policy/Resource",
            "DescribeExecution on the executions of the one evaluation state machine; execution names are per run",
            "Resource::arn:{partition}:states:{region}:{account}:execution:rpm-billing-monthly-evaluation:*",
        )
        for function_id in ("Evaluate", "MonthlyTrigger")
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/Enroll/Function/Resource",
        "Invoked synchronously by API Gateway: a failure is returned to the caller, there is no event to keep",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/TrackTime/Function/Resource",
        "Invoked synchronously by API Gateway: a failure is returned to the caller, there is no event to keep",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/Evaluate/Function/Resource",
        "Invoked synchronously by API Gateway: a failure is returned to the caller, there is no event to keep",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/Export/Function/Resource",
        "Invoked synchronously by API Gateway: a failure is returned to the caller, there is no event to keep",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/ListPatients/Function/Resource",
        "Invoked synchronously by Step Functions, whose Task retries and catches every failure",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/EvaluateBatch/Function/Resource",
        "Invoked synchronously by Step Functions, whose Task retries and catches every failure",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaDLQ",
        "Functions/SummariseRun/Function/Resource",
        "Invoked synchronously by Step Functions, whose Task retries and catches every failure",
    ),
    Acknowledgement(
        "HIPAA.Security-LambdaInsideVPC",
        "Functions/*/Function/Resource",
        "The functions reach only AWS APIs (DynamoDB, S3, Step Functions, Lambda) over TLS with IAM auth and no "
        "VPC resources; a VPC would add endpoints without narrowing what they can reach",
    ),
    # API -----------------------------------------------------------------------------------------------------------
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Api/CloudWatchPolicy/Resource",
        "API Gateway names its execution log groups API-Gateway-Execution-Logs_{api}/{stage}; only that prefix",
        "Resource::arn:{partition}:logs:{region}:{account}:log-group:API-Gateway-Execution-Logs_*",
    ),
    Acknowledgement(
        "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
        "Api/RestApi/DeploymentStage.v1/Resource",
        "Responses hold per-caller PHI: a stage cache could serve one user's data to another, so caching stays off",
    ),
    # Evaluation ----------------------------------------------------------------------------------------------------
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Evaluation/Policy/Resource",
        "Log delivery and X-Ray actions of Step Functions support no resource-level permissions",
        "Resource::*",
    ),
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Evaluation/Policy/Resource",
        "The distributed map reads the run's batch manifest under runs/ only",
        "Resource::<{Storage/Exports}.Arn>/runs/*",
    ),
    Acknowledgement(
        "AwsSolutions-IAM5",
        "Evaluation/Policy/Resource",
        "The distributed map describes and stops its own child executions (stateMachine/mapRun ids are generated)",
        "Resource::arn:{partition}:states:{region}:{account}:execution:rpm-billing-monthly-evaluation/*",
    ),
    Acknowledgement(
        "AwsSolutions-SQS3",
        "Evaluation/ScheduleDeadLetters/Resource",
        "This queue is the dead-letter queue of the monthly schedule's target (cdk-nag does not see Scheduler DLQs)",
    ),
)

_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
#: Placeholder -> (Stack attribute, pseudo parameter cdk-nag shows while the attribute is unresolved).
_PSEUDO_PARAMETERS = {
    "partition": ("partition", "AWS::Partition"),
    "region": ("region", "AWS::Region"),
    "account": ("account", "AWS::AccountId"),
}


def _relative_path(stack: Stack, resource: CfnResource) -> str:
    return resource.node.path.removeprefix(stack.node.path + "/")


def path_matches(path: str, pattern: str) -> bool:
    """Whether a construct path matches a register path, segment by segment.

    Args:
        path: Construct path relative to the stack, e.g. ``Functions/Enroll/Policy/Resource``.
        pattern: Register path whose ``/``-separated segments are ``fnmatch`` patterns (``Functions/*/Policy``).

    Returns:
        True when both have the same number of segments and each segment matches its pattern.
    """
    segments, patterns = path.split("/"), pattern.split("/")
    return len(segments) == len(patterns) and all(map(fnmatch.fnmatchcase, segments, patterns))


def resolve_applies_to(stack: Stack, applies_to: str) -> str:
    """Replace the placeholders of an ``applies_to`` with what cdk-nag shows in the finding id.

    Args:
        stack: The stack the acknowledgement is applied to.
        applies_to: The register's ``applies_to``: ``{Path}`` is the logical id of the resource at
            ``Path/Resource``; ``{partition}``, ``{region}`` and ``{account}`` are the stack's values.

    Returns:
        The finding id suffix, e.g. ``Resource::<StorageExports62CF1092.Arn>/runs/*``.
    """

    def logical_id(match: re.Match[str]) -> str:
        if match.group(1) in _PSEUDO_PARAMETERS:
            attribute, pseudo = _PSEUDO_PARAMETERS[match.group(1)]
            value = getattr(stack, attribute)
            return f"<{pseudo}>" if Token.is_unresolved(value) else str(value)
        node = stack.node.find_child(match.group(1).split("/")[0])
        for part in [*match.group(1).split("/")[1:], "Resource"]:
            node = node.node.find_child(part)
        return stack.get_logical_id(node)  # type: ignore[arg-type]

    return _PLACEHOLDER.sub(logical_id, applies_to)


def expected(stack: Stack) -> dict[str, set[tuple[str, str | None]]]:
    """``{resource path: {(rule, applies_to)}}`` as the register asks, with placeholders resolved."""
    resources = [r for r in stack.node.find_all() if isinstance(r, CfnResource)]
    wanted: dict[str, set[tuple[str, str | None]]] = {}
    for ack in REGISTER:
        applies_to = resolve_applies_to(stack, ack.applies_to) if ack.applies_to else None
        for resource in resources:
            if path_matches(_relative_path(stack, resource), ack.path):
                wanted.setdefault(resource.node.path, set()).add((ack.rule, applies_to))
    return wanted


def unmatched(stack: Stack) -> list[Acknowledgement]:
    """Register entries whose path matches no resource (stale entries)."""
    paths = [_relative_path(stack, r) for r in stack.node.find_all() if isinstance(r, CfnResource)]
    return [ack for ack in REGISTER if not any(path_matches(p, ack.path) for p in paths)]


def apply(stack: Stack) -> None:
    """Attach every acknowledgement of the register to the resources its path matches."""
    resources = [r for r in stack.node.find_all() if isinstance(r, CfnResource)]
    for ack in REGISTER:
        applies_to = [resolve_applies_to(stack, ack.applies_to)] if ack.applies_to else None
        for resource in resources:
            if path_matches(_relative_path(stack, resource), ack.path):
                NagSuppressions.add_resource_suppressions(
                    resource, [NagPackSuppression(id=ack.rule, reason=ack.reason, applies_to=applies_to)]
                )
