"""Monitoring: alarms on function errors and throttles, dead letters and failed executions, to an encrypted topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import constants as c


class Monitoring(Construct):
    """Alarms that page the operators through one SNS topic.

    Args:
        scope: Parent construct.
        construct_id: Id of this construct.
        key: The stack's key (the topic is encrypted with it).
        functions: Every function by id.
        dead_letter_queues: Every dead-letter queue by id.
        state_machine: The monthly evaluation workflow.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        functions: dict[str, lambda_.IFunction],
        dead_letter_queues: dict[str, sqs.IQueue],
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", display_name="RPM billing alarms", master_key=key, enforce_ssl=True)
        action = actions.SnsAction(self.topic)
        period = Duration.minutes(c.ALARM_PERIOD_MINUTES)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, description: str) -> None:
            created = cloudwatch.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)

        for function_id, fn in functions.items():
            alarm(f"{function_id}Errors", fn.metric_errors(period=period, statistic="Sum"), f"{function_id} errors")
            alarm(
                f"{function_id}Throttles",
                fn.metric_throttles(period=period, statistic="Sum"),
                f"{function_id} throttled",
            )
        for queue_id, queue in dead_letter_queues.items():
            alarm(
                f"{queue_id}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                f"{queue_id} has dead letters",
            )
        alarm(
            "ExecutionsFailed",
            state_machine.metric_failed(period=period, statistic="Sum"),
            "monthly evaluation executions failed",
        )
        alarm(
            "ExecutionsTimedOut",
            state_machine.metric_timed_out(period=period, statistic="Sum"),
            "monthly evaluation executions timed out",
        )
