"""Exports: asynchronous invocation of the export worker (and the monthly trigger) with bounded retries and no loss."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c


def configure_async(function: lambda_.Function, dead_letters: sqs.IQueue) -> None:
    """Set the async retry attempts and maximum event age explicitly, failures going to ``dead_letters``."""
    function.configure_async_invoke(
        retry_attempts=c.ASYNC_RETRY_ATTEMPTS,
        max_event_age=Duration.seconds(c.ASYNC_MAX_EVENT_AGE_SECONDS),
        on_failure=destinations.SqsDestination(dead_letters),
    )


class Exports(Construct):
    """The export worker's asynchronous path: the export API invokes it with ``InvocationType=Event``.

    Args:
        scope: Parent construct.
        construct_id: Id of this construct.
        worker: The export worker function.
        dead_letters: Its dead-letter queue (also its on-failure destination).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, worker: lambda_.Function, dead_letters: sqs.IQueue
    ) -> None:
        super().__init__(scope, construct_id)
        configure_async(worker, dead_letters)
        self.worker = worker
        self.dead_letters = dead_letters
