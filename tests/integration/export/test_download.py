"""GET /v1/exports/{export_id}: state, scope, the presigned link (SigV4, short-lived, audited, never logged)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import CANARY, Caller, Tenant, read_export, request_export

BODY: dict[str, Any] = {"patients": "all", "month": "2026-11", "include": ["billing_status"], "format": "csv"}


def _succeeded(call_api: Caller, tenant: Tenant) -> tuple[str, dict[str, Any]]:
    tenant.billable_november()
    status, answer = request_export(call_api, tenant, BODY)
    assert status == 202
    status, job = read_export(call_api, answer["export_id"], tenant.claims())
    assert status == 200 and job["status"] == "succeeded", job
    return answer["export_id"], job


def test_get_export_link_is_sigv4_and_short_lived(call_api: Caller, tenant: Tenant) -> None:
    # Given / When
    _, job = _succeeded(call_api, tenant)
    # Then
    query = parse_qs(urlparse(job["download_url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert int(query["X-Amz-Expires"][0]) <= 900
    assert "Signature" not in query and "AWSAccessKeyId" not in query
    assert query["response-content-disposition"] == ['attachment; filename="billing-export.zip"']


def test_get_export_link_expiry_follows_setting_under_cap(
    call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: the longest lifetime the settings allow
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("PRESIGN_TTL_SECONDS", "900")
    reset_settings()
    # When
    _, job = _succeeded(call_api, tenant)
    # Then
    query = parse_qs(urlparse(job["download_url"]).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert job["expires_at"].startswith("2026-12-04T15:15:00")


def test_get_export_link_is_opaque(call_api: Caller, tenant: Tenant) -> None:
    # Given / When
    export_id, job = _succeeded(call_api, tenant)
    # Then: the key is the org and the export id only, no PHI
    parsed = urlparse(job["download_url"])
    assert parsed.path.endswith(f"exports/{tenant.org_id}/{export_id}.zip")
    assert CANARY not in job["download_url"]


def test_get_export_reports_state_and_files(call_api: Caller, tenant: Tenant) -> None:
    # Given / When
    _, job = _succeeded(call_api, tenant)
    # Then
    assert job["patient_count"] == 1
    assert job["progress"] == {"patients_written": 1, "fraction": 1.0}
    assert [f["name"] for f in job["files"]] == ["billing_status.csv"]


def test_get_export_audits_each_link(call_api: Caller, tenant: Tenant) -> None:
    # Given
    from rpm_billing.db.client import dynamodb, from_item
    from rpm_billing.settings import get_settings

    export_id, _ = _succeeded(call_api, tenant)
    # When: a second read hands out a second link
    read_export(call_api, export_id, tenant.claims())
    # Then
    items = [from_item(i) for i in dynamodb().scan(TableName=get_settings().table_name)["Items"]]
    presigns = [i for i in items if i.get("type") == "audit" and i["action"] == "export.presign"]
    assert len(presigns) == 2
    assert {p["target_id"] for p in presigns} == {export_id}


def test_get_export_link_never_logged(
    call_api: Caller, tenant: Tenant, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given / When
    _, job = _succeeded(call_api, tenant)
    # Then
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "export link issued" in logged
    assert job["download_url"] not in logged
    assert urlparse(job["download_url"]).query not in logged
    assert CANARY not in logged


def test_get_export_of_another_user_is_404(call_api: Caller, tenant: Tenant) -> None:
    # Given
    export_id, _ = _succeeded(call_api, tenant)
    # When
    status, answer = read_export(call_api, export_id, tenant.claims("Admin", user_id="user-2"))
    # Then
    assert status == 404
    assert "download_url" not in str(answer)


def test_get_export_of_another_tenant_is_404(call_api: Caller, tenant: Tenant) -> None:
    # Given
    export_id, _ = _succeeded(call_api, tenant)
    other = Tenant()
    # When: same user id, other organisation
    status, _ = read_export(call_api, export_id, other.claims("Admin"))
    # Then
    assert status == 404


def test_get_export_outside_deployment_scope_is_404(call_api: Caller, tenant: Tenant) -> None:
    # Given: the same user, no longer staff of the deployment
    from local.events import claims_for

    export_id, _ = _succeeded(call_api, tenant)
    claims = claims_for("DeploymentStaff", tenant.org_id, "dep-other")
    # When
    status, _ = read_export(call_api, export_id, claims)
    # Then
    assert status == 404


def test_get_export_unknown_id_is_404(call_api: Caller, tenant: Tenant) -> None:
    # Given / When
    status, answer = read_export(call_api, "01JZZZZZZZZZZZZZZZZZZZZZZZ", tenant.claims())
    # Then
    assert status == 404
    assert answer["error"]["code"] == "not_found"


def test_get_export_contributor_is_403(call_api: Caller, tenant: Tenant) -> None:
    # Given
    export_id, _ = _succeeded(call_api, tenant)
    # When
    status, _ = read_export(call_api, export_id, tenant.claims("Contributor"))
    # Then
    assert status == 403


def test_get_export_pending_has_no_link(call_api: Caller, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: a job whose worker has not run (asynchronous dispatch recorded, not executed)
    from export import app as export_app
    from rpm_billing.settings import reset_settings

    monkeypatch.setenv("EXPORT_WORKER_FUNCTION", "export-worker")
    reset_settings()

    class Recorder:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            return {"StatusCode": 202}

    monkeypatch.setattr(export_app, "lambda_", Recorder)
    _, answer = request_export(call_api, tenant, BODY)
    # When
    status, job = read_export(call_api, answer["export_id"], tenant.claims())
    # Then
    assert status == 200
    assert job["status"] == "pending"
    assert "download_url" not in job
