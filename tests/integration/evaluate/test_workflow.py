"""The monthly workflow really executed on moto: the ASL, the distributed map and the real step handlers."""

from __future__ import annotations

import json
from typing import Any

import boto3

from evaluate import service, steps
from rpm_billing.db import billing

from .conftest import Tenant, Workflow, records_of


def _run(workflow: Workflow, tenant: Tenant, month: str = "2026-11") -> tuple[dict[str, Any], dict[str, Any]]:
    started = service.start_run(tenant.org_id, tenant.deployment_id, month)
    item = billing.get_evaluation(tenant.org_id, tenant.deployment_id, started["evaluation_id"])
    assert item is not None
    described = workflow.wait(str(item["execution_arn"]))
    run = service.read_run(tenant.org_id, tenant.deployment_id, started["evaluation_id"])
    return described, run


def test_workflow_writes_records_and_summary(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: two patients whose November supports set-up, device supply and management time
    first = flow_tenant.billable_november()
    second = flow_tenant.billable_november()
    # When
    described, run = _run(workflow_aws, flow_tenant)
    # Then
    assert described["status"] == "SUCCEEDED"
    assert run["status"] == "succeeded"
    assert run["patients_evaluated"] == 2
    codes = {pid: sorted(r["code"] for r in records_of(flow_tenant, pid, "2026-11")) for pid in (first, second)}
    assert codes[first] == codes[second]
    assert {"99453", "99454", "99457"} <= set(codes[first])
    assert run["records_written"] == 2 * len(codes[first])
    assert run["failures"] == []


def test_workflow_closes_the_month_and_marks_setup_billed(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: a billable patient
    pid = flow_tenant.billable_november()
    # When
    _run(workflow_aws, flow_tenant)
    # Then
    window = billing.read_patient_window(flow_tenant.org_id, pid, ["2026-11"])
    assert window.months["2026-11"]["closed"] is True
    assert window.enrollment is not None
    assert window.enrollment["setup_billed"]["code"] == "99453"


def test_workflow_failing_patient_is_listed_and_month_succeeds(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: one good patient and one whose month aggregate holds a malformed time-entry fact
    good = flow_tenant.billable_november()
    bad = flow_tenant.patient()
    flow_tenant.month(bad, "2026-11", raw_entries={"E#broken": {"activity": "call"}})
    # When
    described, run = _run(workflow_aws, flow_tenant)
    # Then
    assert described["status"] == "SUCCEEDED"
    assert run["status"] == "succeeded"
    assert run["patients_evaluated"] == 1
    assert run["failures"] == [{"patient_id": bad, "error": "KeyError"}]
    assert records_of(flow_tenant, good, "2026-11")


def test_workflow_rerun_writes_no_duplicate_records(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: a month already evaluated once
    pid = flow_tenant.billable_november()
    _, first = _run(workflow_aws, flow_tenant)
    before = records_of(flow_tenant, pid, "2026-11")
    # When: a deliberate re-run
    described, second = _run(workflow_aws, flow_tenant)
    # Then
    assert described["status"] == "SUCCEEDED"
    assert (first["run"], second["run"]) == (1, 2)
    assert second["patients_evaluated"] == 1
    assert second["records_written"] == 0
    after = records_of(flow_tenant, pid, "2026-11")
    assert [(r["SK"], r["evaluation_id"]) for r in after] == [(r["SK"], r["evaluation_id"]) for r in before]


def test_monthly_trigger_twice_starts_one_execution(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: a billing-enabled deployment and the clock in early December
    flow_tenant.billable_november()
    # When: the schedule fires twice
    first = steps.monthly_trigger_handler({}, None)
    second = steps.monthly_trigger_handler({}, None)
    # Then
    assert (first["month"], first["started"]) == ("2026-11", 1)
    assert (second["started"], second["absorbed"]) == (0, 1)
    names = [e["name"] for e in workflow_aws.executions()]
    assert names == [f"cpt-{flow_tenant.deployment_id}-2026-11-r1"]
    workflow_aws.wait(workflow_aws.executions()[0]["executionArn"])


def test_run_after_trigger_is_numbered_r2(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: the scheduled run 1 of November
    flow_tenant.billable_november()
    steps.monthly_trigger_handler({"month": "2026-11"}, None)
    workflow_aws.wait(workflow_aws.executions()[0]["executionArn"])
    # When: an on-demand run of the same month
    started = service.start_run(flow_tenant.org_id, flow_tenant.deployment_id, "2026-11")
    # Then
    assert started["evaluation_id"] == f"cpt-{flow_tenant.deployment_id}-2026-11-r2"
    item = billing.get_evaluation(flow_tenant.org_id, flow_tenant.deployment_id, started["evaluation_id"])
    assert item is not None
    workflow_aws.wait(str(item["execution_arn"]))


def test_list_patients_writes_batches_manifest(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: 120 enrolled patients
    for _ in range(120):
        flow_tenant.patient()
    event = {"org_id": flow_tenant.org_id, "deployment_id": flow_tenant.deployment_id, "evaluation_id": "cpt-x-r1"}
    # When
    result = steps.list_patients_handler(event, None)
    # Then
    body = boto3.client("s3").get_object(Bucket=result["bucket"], Key=result["key"])["Body"].read()
    batches = json.loads(body)
    assert result["key"] == "runs/cpt-x-r1/batches.json"
    assert result["count"] == len(batches) == 3
    assert sum(len(b["patient_ids"]) for b in batches) == 120
    assert max(len(b["patient_ids"]) for b in batches) == steps.BATCH_SIZE


def test_monthly_trigger_absorbs_execution_already_exists(workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: run 1's execution exists (another trigger started it) but its EVAL item was never written
    name = f"cpt-{flow_tenant.deployment_id}-2026-11-r1"
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=workflow_aws.state_machine_arn, name=name, input='{"other": 1}')
    workflow_aws.wait(arn["executionArn"])
    # When
    result = steps.monthly_trigger_handler({"month": "2026-11"}, None)
    # Then
    assert (result["started"], result["absorbed"], result["failed"]) == (0, 1, 0)
    assert [e["name"] for e in workflow_aws.executions()] == [name]
