"""HTTP API of the evaluation function: live billing status, worklist, on-demand runs and billing records.

Routes (api.md "Billing status, worklist, evaluation"):

- ``GET /v1/patients/{patient_id}/billing/status?as_of=YYYY-MM-DD``: one BatchGetItem; 409 ``not_enrolled``
  when the patient has no active enrollment.
- ``GET /v1/deployments/{deployment_id}/billing/worklist?code=&month=&limit=&cursor=``
- ``POST /v1/deployments/{deployment_id}/billing/evaluations`` ``{"month"}``: 202 ``{"evaluation_id"}``
- ``GET /v1/deployments/{deployment_id}/billing/evaluations/{evaluation_id}``
- ``GET /v1/patients/{patient_id}/billing/records?month=YYYY-MM``
"""

# Powertools resolves the Annotated Body parameters at runtime: no ``from __future__ import annotations`` here.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, ConfigDict, Field

from evaluate import service
from rpm_billing import coldstart, paging
from rpm_billing.api import ApiApp, current_principal
from rpm_billing.auth import Action
from rpm_billing.db import billing, keys
from rpm_billing.errors import NotFound

app = ApiApp("rpm-billing evaluate", "Live billing status, worklist, monthly evaluation runs and billing records")

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class EvaluationRequest(BaseModel):
    """An on-demand evaluation of one month."""

    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=MONTH_PATTERN, description="YYYY-MM; the current month records only passed dates")


class EvaluationStarted(BaseModel):
    """A run that was started: its id (also the execution name) and number."""

    evaluation_id: str
    month: str
    run: int
    status: str


#: Query parameters are documented here and validated by the service, whose 422s name the parameter.
AsOf = Annotated[str | None, Query(description="YYYY-MM-DD; default: today in the deployment's time zone")]
Code = Annotated[str | None, Query(description="A CPT code of the deployment's program; default: its first code")]
Month = Annotated[str | None, Query(description="YYYY-MM")]
Limit = Annotated[str | None, Query(description="Page size, 1 to 200")]
Cursor = Annotated[str | None, Query(description="The next_cursor of the previous page")]


@app.get("/v1/patients/<patient_id>/billing/status", allow=Action.READ, summary="Live billing status of a patient")
def get_status(patient_id: str, as_of: AsOf = None) -> dict[str, Any]:
    return service.patient_status(current_principal(), patient_id, as_of or None)


@app.get(
    "/v1/deployments/<deployment_id>/billing/worklist",
    allow=Action.READ,
    summary="Enrolled patients by urgency and deadline for a code",
)
def get_worklist(
    deployment_id: str, code: Code = None, month: Month = None, limit: Limit = None, cursor: Cursor = None
) -> dict[str, Any]:
    params = {"code": code or None, "month": month or None, "limit": limit or None, "cursor": cursor or None}
    return service.worklist(current_principal().org_id, deployment_id, params)


@app.post(
    "/v1/deployments/<deployment_id>/billing/evaluations",
    allow=Action.EVALUATE,
    summary="Run the monthly evaluation now",
    status_code=202,
)
def post_evaluation(deployment_id: str, request: Annotated[EvaluationRequest, Body()]) -> Response[EvaluationStarted]:
    started = service.start_run(current_principal().org_id, deployment_id, request.month)
    return Response(status_code=202, content_type="application/json", body=EvaluationStarted(**started))


@app.get(
    "/v1/deployments/<deployment_id>/billing/evaluations/<evaluation_id>",
    allow=Action.READ,
    summary="State of an evaluation run",
)
def get_evaluation(deployment_id: str, evaluation_id: str) -> dict[str, Any]:
    return service.read_run(current_principal().org_id, deployment_id, evaluation_id)


@app.get("/v1/patients/<patient_id>/billing/records", allow=Action.READ, summary="Billing records of a month")
def get_records(
    patient_id: str,
    month: Annotated[str | None, Query(description="YYYY-MM (required)")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1 to 200")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="The next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    principal = current_principal()
    month = service.parse_month(month or None)
    after = paging.decode_cursor(cursor, keys.record_prefix(month))
    window = billing.read_patient_window(principal.org_id, patient_id, [])
    if window.profile is None or not principal.sees_deployment(str(window.profile.get("deployment_id") or "")):
        raise NotFound("patient not found")
    items, last = billing.records_page(principal.org_id, patient_id, month, limit, after)
    return {
        "patient_id": patient_id,
        "month": month,
        "items": [service.record_json(i) for i in items],
        "next_cursor": paging.encode_cursor(last),
    }


@coldstart.ends_initialisation
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return app.handle(event, context)
