"""The one stack of the billing backend: it only composes the capability constructs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import constants as c
from infra.constructs.api import Api, Route
from infra.constructs.evaluation import Evaluation
from infra.constructs.exports import Exports, configure_async
from infra.constructs.functions import Functions
from infra.constructs.monitoring import Monitoring
from infra.constructs.storage import Storage


class BillingStack(Stack):
    """Storage, functions, API, monthly evaluation, exports and monitoring of the RPM/RTM billing backend.

    Args:
        scope: The app.
        construct_id: Stack id.
        routes: The API routes (from the functions' route tables).
        dependency_layer: Folder of the third-party dependency layer.
        cors_origins: Browser origins of the portal.
        **kwargs: Passed to ``Stack`` (env, description...).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: list[Route],
        dependency_layer: Path,
        cors_origins: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage", cors_origins=cors_origins)
        self.functions = Functions(
            self, "Functions", storage=self.storage, dependency_layer=dependency_layer, cors_origins=cors_origins
        )
        fns = self.functions.functions
        self.api = Api(
            self,
            "Api",
            key=self.storage.key,
            functions={fid: fns[fid] for fid in c.API_MODULES},
            routes=routes,
            cors_origins=cors_origins,
        )
        self.evaluation = Evaluation(
            self,
            "Evaluation",
            key=self.storage.key,
            work_bucket=self.storage.exports,
            steps={fid: fns[fid] for fid in ("ListPatients", "EvaluateBatch", "SummariseRun")},
            trigger=fns["MonthlyTrigger"],
        )
        configure_async(fns["MonthlyTrigger"], self.functions.dlqs["MonthlyTrigger"])
        self.exports = Exports(
            self, "Exports", worker=fns["ExportWorker"], dead_letters=self.functions.dlqs["ExportWorker"]
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            key=self.storage.key,
            functions=dict(fns),
            dead_letter_queues={
                **{f"{fid}Queue": q for fid, q in self.functions.dlqs.items()},
                "ScheduleQueue": self.evaluation.dlq,
            },
            state_machine=self.evaluation.state_machine,
        )
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.api.client.user_pool_client_id)
        CfnOutput(self, "StateMachineArn", value=self.evaluation.state_machine.state_machine_arn)
