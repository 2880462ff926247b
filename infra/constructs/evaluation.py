"""The monthly evaluation: the Step Functions workflow (ASL file) and the monthly EventBridge Scheduler trigger."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import constants as c
from infra.constructs.functions import ROOT, encrypted_log_group, encrypted_queue

#: Actions Step Functions needs to deliver its logs (they do not support resource-level scoping).
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")


class Evaluation(Construct):
    """The workflow that closes a month for one deployment, and the schedule that starts it for all of them.

    Args:
        scope: Parent construct.
        construct_id: Id of this construct.
        key: The stack's key.
        work_bucket: Bucket of the run manifests (under ``runs/``).
        steps: The step functions: ``ListPatients``, ``EvaluateBatch``, ``SummariseRun``.
        trigger: The monthly trigger function (the schedule's target).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        work_bucket: s3.IBucket,
        steps: dict[str, lambda_.IFunction],
        trigger: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=c.STATE_MACHINE_NAME,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.log_group = encrypted_log_group(self, "Logs", key, f"/aws/vendedlogs/states/{c.STATE_MACHINE_NAME}")
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Runs the monthly evaluation workflow",
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Least privilege of the monthly evaluation workflow",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="InvokeSteps",
                    actions=["lambda:InvokeFunction"],
                    resources=[fn.function_arn for fn in steps.values()],
                ),
                iam.PolicyStatement(
                    sid="StartMapRuns", actions=["states:StartExecution"], resources=[state_machine_arn]
                ),
                iam.PolicyStatement(
                    sid="ManageMapRuns",
                    actions=["states:DescribeExecution", "states:StopExecution"],
                    resources=[
                        stack.format_arn(
                            service="states",
                            resource="execution",
                            resource_name=f"{c.STATE_MACHINE_NAME}/*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
                iam.PolicyStatement(
                    sid="ReadRunManifests",
                    actions=["s3:GetObject"],
                    resources=[work_bucket.arn_for_objects(f"{c.RUNS_PREFIX}*")],
                ),
                iam.PolicyStatement(
                    sid="UseKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
                ),
                iam.PolicyStatement(sid="DeliverLogs", actions=list(LOG_DELIVERY_ACTIONS), resources=["*"]),
                iam.PolicyStatement(sid="Trace", actions=list(XRAY_ACTIONS), resources=["*"]),
            ],
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=c.STATE_MACHINE_NAME,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(ROOT / c.WORKFLOW_FILE)),
            definition_substitutions={
                "ListPatientsFunctionArn": steps["ListPatients"].function_arn,
                "EvaluateBatchFunctionArn": steps["EvaluateBatch"].function_arn,
                "SummariseRunFunctionArn": steps["SummariseRun"].function_arn,
                "WorkBucket": work_bucket.bucket_name,
            },
            role=role.without_policy_updates(),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        )
        self.state_machine.node.add_dependency(self.policy)

        self.dlq = encrypted_queue(self, "ScheduleDeadLetters", key)
        schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Lets the monthly schedule invoke the trigger function",
        )
        self.schedule_policy = iam.ManagedPolicy(
            self,
            "SchedulePolicy",
            description="Least privilege of the monthly schedule",
            roles=[schedule_role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[trigger.function_arn]),
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dlq.queue_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]),
            ],
        )
        self.schedule = scheduler.Schedule(
            self,
            "Monthly",
            description="Closes the month that has just ended for every billing-enabled deployment",
            schedule=scheduler.ScheduleExpression.cron(
                minute=c.MONTHLY_SCHEDULE["minute"],
                hour=c.MONTHLY_SCHEDULE["hour"],
                day=c.MONTHLY_SCHEDULE["day"],
                month=c.MONTHLY_SCHEDULE["month"],
                year=c.MONTHLY_SCHEDULE["year"],
                time_zone=TimeZone.ETC_UTC,
            ),
            target=targets.LambdaInvoke(
                trigger,
                role=schedule_role.without_policy_updates(),
                dead_letter_queue=self.dlq,
                retry_attempts=c.SCHEDULE_RETRY_ATTEMPTS,
                max_event_age=Duration.seconds(c.SCHEDULE_MAX_EVENT_AGE_SECONDS),
            ),
        )
        self.schedule.node.add_dependency(self.schedule_policy)
