"""POST/GET evaluations and GET records through the HTTP handler, with the workflow executing on moto."""

from __future__ import annotations

from typing import Any

from evaluate.app import lambda_handler
from local.events import claims_for

from .conftest import Tenant, Workflow


def _post(call_api: Any, tenant: Tenant, body: Any, role: str = "DeploymentStaff") -> Any:
    path = f"/v1/deployments/{tenant.deployment_id}/billing/evaluations"
    return call_api(lambda_handler, "POST", path, body=body, claims=tenant.claims(role))


def _get(call_api: Any, tenant: Tenant, evaluation_id: str) -> Any:
    path = f"/v1/deployments/{tenant.deployment_id}/billing/evaluations/{evaluation_id}"
    return call_api(lambda_handler, "GET", path, claims=tenant.claims("Contributor"))


def test_post_evaluation_is_202_and_get_reports_the_outcome(
    call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant
) -> None:
    # Given: a billable patient in November
    flow_tenant.billable_november()
    # When
    status, _, started = _post(call_api, flow_tenant, {"month": "2026-11"})
    workflow_aws.wait(workflow_aws.executions()[0]["executionArn"])
    code, _, run = _get(call_api, flow_tenant, started["evaluation_id"])
    # Then
    assert status == 202
    assert started["evaluation_id"] == f"cpt-{flow_tenant.deployment_id}-2026-11-r1"
    assert code == 200
    assert run["status"] == "succeeded"
    assert run["patients_evaluated"] == 1
    assert run["records_written"] >= 3


def test_post_evaluation_twice_numbers_runs(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: a deployment with no patient
    # When
    first = _post(call_api, flow_tenant, {"month": "2026-10"})[2]["evaluation_id"]
    second = _post(call_api, flow_tenant, {"month": "2026-10"})[2]["evaluation_id"]
    # Then
    assert (first[-3:], second[-3:]) == ("-r1", "-r2")
    for execution in workflow_aws.executions():
        workflow_aws.wait(execution["executionArn"])


def test_post_evaluation_by_contributor_is_403(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: a Contributor (may read, may not evaluate) sending an invalid body
    # When
    status, _, _ = _post(call_api, flow_tenant, {"month": 7}, role="Contributor")
    # Then
    assert status == 403
    assert workflow_aws.executions() == []


def test_post_evaluation_of_future_month_is_422(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: today is 2026-12-04
    # When
    status, _, body = _post(call_api, flow_tenant, {"month": "2027-01"})
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.month"


def test_post_evaluation_with_malformed_month_is_422(
    call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant
) -> None:
    # Given: a month that is not YYYY-MM
    # When
    status, _, body = _post(call_api, flow_tenant, {"month": "ZQX-11"})
    # Then
    assert status == 422
    assert "body.month" in [f["path"] for f in body["error"]["fields"]]
    assert "ZQX" not in str(body)


def test_get_unknown_evaluation_is_404(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: no run
    # When
    status, _, _ = _get(call_api, flow_tenant, "cpt-nothing-2026-11-r1")
    # Then
    assert status == 404


def test_get_records_lists_the_months_records(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: an evaluated November
    pid = flow_tenant.billable_november()
    _post(call_api, flow_tenant, {"month": "2026-11"})
    workflow_aws.wait(workflow_aws.executions()[0]["executionArn"])
    # When
    status, _, body = call_api(
        lambda_handler,
        "GET",
        f"/v1/patients/{pid}/billing/records",
        query={"month": "2026-11"},
        claims=flow_tenant.claims("Contributor"),
    )
    # Then
    assert status == 200
    device = next(item for item in body["items"] if item["code"] == "99454")
    assert set(device) >= {
        "code",
        "units",
        "period_start",
        "period_end",
        "date_of_service",
        "evidence",
        "rules_version",
    }
    assert device["units"] == 1
    assert device["evidence"]["days_with_data"] == 20


def test_get_records_of_another_tenants_patient_is_404(
    call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant
) -> None:
    # Given: a patient of this tenant and an Admin of another organisation
    pid = flow_tenant.billable_november()
    # When
    status, _, _ = call_api(
        lambda_handler,
        "GET",
        f"/v1/patients/{pid}/billing/records",
        query={"month": "2026-11"},
        claims=claims_for("Admin", "org-elsewhere"),
    )
    # Then
    assert status == 404


def test_get_records_without_month_is_422(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: an enrolled patient
    pid = flow_tenant.billable_november()
    # When
    status, _, body = call_api(
        lambda_handler, "GET", f"/v1/patients/{pid}/billing/records", claims=flow_tenant.claims("Contributor")
    )
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "query.month"


def _records(call_api: Any, tenant: Tenant, pid: str, **query: str) -> Any:
    return call_api(
        lambda_handler,
        "GET",
        f"/v1/patients/{pid}/billing/records",
        query={"month": "2026-11", **query},
        claims=tenant.claims("Contributor"),
    )


def test_get_records_pages_with_limit_and_cursor(call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant) -> None:
    # Given: an evaluated November with several records, and the whole month in one page
    pid = flow_tenant.billable_november()
    _post(call_api, flow_tenant, {"month": "2026-11"})
    workflow_aws.wait(workflow_aws.executions()[0]["executionArn"])
    whole = _records(call_api, flow_tenant, pid, limit="200")[2]
    # When: the month is read one record per page, following next_cursor
    pages, cursor = [], None
    while True:
        status, _, body = _records(call_api, flow_tenant, pid, limit="1", **({"cursor": cursor} if cursor else {}))
        assert status == 200
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Then: every page holds at most one record, and together they are the month's records in the same order
    assert len(whole["items"]) >= 3
    assert whole["next_cursor"] is None
    assert all(len(page) <= 1 for page in pages)
    assert [item for page in pages for item in page] == whole["items"]


def test_get_records_refuses_a_cursor_of_another_list_or_a_bad_limit(
    call_api: Any, workflow_aws: Workflow, flow_tenant: Tenant
) -> None:
    # Given: an enrolled patient, a cursor of October's records, one of time entries and a garbled one
    from rpm_billing.db import keys
    from rpm_billing.paging import encode_cursor

    pid = flow_tenant.billable_november()
    foreign = [
        encode_cursor(keys.record_sk("2026-10", "99454", "2026-10-01")),
        encode_cursor(keys.entry_sk("2026-11", "X")),
        "%%%not-base64",
    ]
    # When
    replies = [_records(call_api, flow_tenant, pid, cursor=str(cursor)) for cursor in foreign]
    zero = _records(call_api, flow_tenant, pid, limit="0")
    # Then: each is a 422 naming the parameter
    for status, _, body in replies:
        assert status == 422
        assert body["error"]["fields"][0]["path"] == "query.cursor"
    assert zero[0] == 422
    assert zero[2]["error"]["fields"][0]["path"] == "query.limit"
