"""Seeding helpers and the executing Step Functions emulator for the evaluation tests.

Items are written directly as docs/data-model.md describes them, so these tests do not depend on the other
functions' writers.
"""

from __future__ import annotations

import importlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rpm_billing import clock
from rpm_billing.db import keys

WORK_BUCKET = "rpm-billing-work-test"
TABLE_NAME = "rpm-billing-test"
TODAY = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def put(item: dict[str, Any]) -> None:
    from rpm_billing.db.client import dynamodb, to_item
    from rpm_billing.settings import get_settings

    dynamodb().put_item(TableName=get_settings().table_name, Item=to_item(item))


def days(start: date, count: int) -> list[date]:
    """``count`` consecutive dates from ``start``."""
    return [start + timedelta(days=i) for i in range(count)]


def entry(started_at: str, minutes: int, *, call: bool = False, role: str = "clinical_staff") -> dict[str, Any]:
    """An ``E#`` time-entry fact of a month aggregate."""
    return {
        "started_at": started_at,
        "duration_seconds": minutes * 60,
        "activity": "call" if call else "data_review",
        "clinician_id": "clin-1",
        "clinical_role": role,
        "interactive": call,
        "modality": "audio" if call else None,
    }


@dataclass
class Tenant:
    """One organisation and deployment, with helpers that seed its items."""

    org_id: str = field(default_factory=lambda: f"org-{uuid.uuid4().hex[:8]}")
    deployment_id: str = field(default_factory=lambda: f"dep-{uuid.uuid4().hex[:8]}")
    time_zone: str = "America/New_York"

    def config(self, *, program: str = "RPM", rtm_category: str | None = None, enabled: bool = True) -> None:
        put(
            {
                "PK": keys.deployment_pk(self.org_id, self.deployment_id),
                "SK": keys.CONFIG_SK,
                "GSI1PK": keys.deployments_gsi(self.org_id),
                "GSI1SK": self.deployment_id,
                "type": "billing_config",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "enabled": enabled,
                "program": program,
                "rtm_category": rtm_category,
                "time_zone": self.time_zone,
                "offline_appointments": False,
                "insurance_carriers": [{"name": "Medicare"}],
                "billing_providers": [{"name": "Dr Example", "npi": "1234567893"}],
                "icd10_codes": [{"code": "I10", "description": "Essential hypertension"}],
                "policy": {},
                "version": 1,
                "updated_at": "2026-01-01T00:00:00+00:00",
            }
        )
        from rpm_billing.db.billing import register_deployment

        register_deployment(self.org_id, self.deployment_id, enabled=enabled)

    def patient(
        self,
        patient_id: str | None = None,
        *,
        monitoring_start: date | None = date(2026, 10, 15),
        enrolled: bool = True,
        established: bool = True,
        time_zone: str | None = None,
    ) -> str:
        pid = patient_id or f"pat-{uuid.uuid4().hex[:10]}"
        pk = keys.patient_pk(self.org_id, pid)
        put(
            {
                "PK": pk,
                "SK": keys.PROFILE_SK,
                "GSI1PK": keys.patients_gsi(self.org_id, self.deployment_id),
                "GSI1SK": f"{'enrolled' if enrolled else 'awaiting'}#{pid}",
                "type": "profile",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": pid,
                "given_name": "ZQXGIVEN",
                "family_name": "ZQXFAMILY",
                "birth_date": "1950-01-01",
                "time_zone": time_zone or self.time_zone,
                "billing_state": "enrolled" if enrolled else "awaiting",
                "created_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:00:00+00:00",
            }
        )
        if enrolled:
            put(
                {
                    "PK": pk,
                    "SK": keys.ENROLLMENT_SK,
                    "GSI1PK": keys.enrolled_gsi(self.org_id, self.deployment_id),
                    "GSI1SK": pid,
                    "type": "enrollment",
                    "org_id": self.org_id,
                    "deployment_id": self.deployment_id,
                    "patient_id": pid,
                    "status": "active",
                    "episode_id": f"ep-{pid}",
                    "version": 1,
                    "insurance_carriers": [{"name": "Medicare", "member_id": "M1"}],
                    "billing_provider": {"name": "Dr Example", "npi": "1234567893"},
                    "primary_diagnosis": "I10",
                    "consent_date": "2026-09-01",
                    "monitoring_start": monitoring_start.isoformat() if monitoring_start else None,
                    "established_patient": established,
                    "enrolled_at": "2026-09-01T00:00:00+00:00",
                }
            )
        return pid

    def month(
        self,
        patient_id: str,
        month: str,
        *,
        device_days: Iterable[date] = (),
        entries: Iterable[dict[str, Any]] = (),
        raw_entries: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        facts = {f"E#e{i}-{month}": e for i, e in enumerate(entries)}
        facts.update(raw_entries or {})
        day_set = {d.isoformat() for d in device_days}
        put(
            {
                "PK": keys.patient_pk(self.org_id, patient_id),
                "SK": keys.month_sk(month),
                "GSI1PK": keys.month_gsi(self.org_id, self.deployment_id, month),
                "GSI1SK": patient_id,
                "type": "patient_month",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": patient_id,
                "month": month,
                "total_seconds": sum(int(e.get("duration_seconds", 0)) for e in facts.values()),
                "entry_count": len(facts),
                "interactive_calls": sum(1 for e in facts.values() if e.get("interactive")),
                "device_days": day_set or None,
                **facts,
            }
        )

    def billable_november(self, patient_id: str | None = None) -> str:
        """A patient whose November 2026 supports 99453, 99454 (period 2026-10-15..11-13) and 99457."""
        pid = self.patient(patient_id, monitoring_start=date(2026, 10, 15))
        self.month(pid, "2026-10", device_days=days(date(2026, 10, 15), 10))
        self.month(
            pid,
            "2026-11",
            device_days=days(date(2026, 11, 1), 10),
            entries=[entry("2026-11-10T15:00:00+00:00", 15, call=True), entry("2026-11-12T15:00:00+00:00", 10)],
        )
        return pid

    def claims(self, role: str = "DeploymentStaff") -> dict[str, str]:
        from local.events import claims_for

        return claims_for(role, self.org_id, self.deployment_id)


@pytest.fixture
def pinned() -> Iterator[datetime]:
    clock.pin(TODAY)
    yield TODAY
    clock.pin(None)


@pytest.fixture
def tenant(aws: None, pinned: datetime) -> Tenant:
    import boto3

    boto3.client("s3").create_bucket(Bucket=WORK_BUCKET)
    t = Tenant()
    t.config()
    return t


# Executing workflow ---------------------------------------------------------------------------------------

HANDLERS = {
    "ListPatientsFunctionArn": "evaluate.steps.list_patients_handler",
    "EvaluateBatchFunctionArn": "evaluate.steps.evaluate_batch_handler",
    "SummariseRunFunctionArn": "evaluate.steps.summarise_run_handler",
}


def _invoke_in_process(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any):
    """moto's Lambda invoke, running the real handler in-process (tooling.md §5(c))."""
    fn = self.get_function(function_name, qualifier)
    module_name, func_name = fn.handler.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
        return json.dumps(handler(json.loads(body or "{}"), None)).encode()
    except Exception as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorMessage": type(exc).__name__, "errorType": type(exc).__name__}).encode()


@dataclass
class Workflow:
    """The real state machine on moto, its Lambda tasks running the real step handlers."""

    state_machine_arn: str

    def wait(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        import boto3

        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError("execution did not finish")

    def executions(self) -> list[dict[str, Any]]:
        import boto3

        return boto3.client("stepfunctions").list_executions(stateMachineArn=self.state_machine_arn)["executions"]


@pytest.fixture
def workflow_aws(monkeypatch: pytest.MonkeyPatch, pinned: datetime) -> Iterator[Workflow]:
    """moto with execution on: the table, buckets, three Lambda functions and the rendered state machine."""
    import boto3
    from moto import mock_aws
    from moto.awslambda_simple.models import LambdaSimpleBackend

    from evaluate.workflow import render_definition
    from rpm_billing.db import client
    from rpm_billing.db.schema import create_table_request
    from rpm_billing.settings import reset_settings

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", _invoke_in_process)
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("WORK_BUCKET", WORK_BUCKET)
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        boto3.client("dynamodb").create_table(**create_table_request(TABLE_NAME))
        boto3.client("s3").create_bucket(Bucket=WORK_BUCKET)
        role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("handler.py", "")
        values = {"WorkBucket": WORK_BUCKET}
        for name, handler in HANDLERS.items():
            created = boto3.client("lambda").create_function(
                FunctionName=name.removesuffix("FunctionArn"),
                Runtime="python3.12",
                Role=role,
                Handler=handler,
                Code={"ZipFile": archive.getvalue()},
            )
            values[name] = created["FunctionArn"]
        machine = boto3.client("stepfunctions").create_state_machine(
            name="monthly-evaluation", definition=render_definition(values), roleArn=role, type="STANDARD"
        )
        monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
        reset_settings()
        client.reset_clients()
        yield Workflow(machine["stateMachineArn"])
    client.reset_clients()
    reset_settings()


@pytest.fixture
def flow_tenant(workflow_aws: Workflow) -> Tenant:
    t = Tenant()
    t.config()
    return t


def records_of(tenant: Tenant, patient_id: str, month: str) -> list[dict[str, Any]]:
    from rpm_billing.db.billing import list_records

    return list_records(tenant.org_id, patient_id, month)


Caller = Callable[..., tuple[int, dict[str, Any], Any]]
