"""HTTP API of the export function: request an export, follow it, fetch it through a short-lived link.

Routes (api.md "Exports"):

- ``POST /v1/deployments/{deployment_id}/exports``: 202 ``{"export_id", "status", "patient_count"}``; one
  transaction writes the job, counts it against the caller's daily quota (429 once used up) and audits it.
  ``Idempotency-Key`` is accepted: a replay answers the first response, another body with the same key is 409.
- ``GET /v1/exports/{export_id}``: the job as its requester sees it; once ``succeeded`` also ``download_url``
  (SigV4, at most 900 s, minted and audited at each read) and ``expires_at``. Another user's or tenant's export
  answers 404 like a missing one.

The worker runs asynchronously (``EXPORT_WORKER_FUNCTION`` set: Lambda ``Event`` invoke) or, when that setting
is empty (tests, the local stack), in-process right after the response is built, before it is returned.
"""

# Powertools resolves the Annotated Body parameters at runtime: no ``from __future__ import annotations`` here.

import json
import re
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from export import report, source, worker
from rpm_billing import clock, coldstart
from rpm_billing.api import SECURITY_HEADERS, ApiApp, current_principal, header, request_id
from rpm_billing.auth import Action, Principal
from rpm_billing.db import exports, keys
from rpm_billing.db.client import lambda_
from rpm_billing.errors import Conflict, FieldProblem, Invalid, NotFound, invalid_field
from rpm_billing.ids import ID_RE, body_fingerprint, new_ulid
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

app = ApiApp("rpm-billing export", "Billing report exports: ZIP files of CSV or JSON, fetched by presigned link")

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
#: Longest range of months one export may cover.
MAX_MONTHS = 13
#: Most ids an explicit patient list may hold (the list is stored on the job item); larger exports use "all".
MAX_LISTED_PATIENTS = 1000
#: Invalid list entries named in one 422 answer.
MAX_REPORTED_FIELDS = 20
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

Kind = Literal["billing_status", "enrollment", "time_entries", "appointments", "readings"]

#: Jobs to build in-process once the response is ready (no worker function configured).
_inline: list[tuple[str, str]] = []


class ExportRequest(BaseModel):
    """What to export: patients, months, which data and in which format."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    patients: Literal["all"] | list[str] = Field(description='"all" (the enrolled patients) or a list of patient ids')
    month: str | None = Field(default=None, pattern=MONTH_PATTERN, description="YYYY-MM (or give from and to)")
    from_: str | None = Field(default=None, alias="from", pattern=MONTH_PATTERN, description="first month, YYYY-MM")
    to: str | None = Field(default=None, pattern=MONTH_PATTERN, description="last month, YYYY-MM (13 at most)")
    include: list[Kind] = Field(min_length=1, description="billing_status plus any of the clinical data kinds")
    format: Literal["csv", "json"] = "csv"


class ExportAccepted(BaseModel):
    """The answer to an accepted export request."""

    export_id: str
    status: str
    patient_count: int


def _months(request: ExportRequest) -> tuple[str, str]:
    if request.month and (request.from_ or request.to):
        raise invalid_field("body.month", "give either month or from and to, not both")
    if request.month:
        first = last = request.month
    elif request.from_ and request.to:
        first, last = request.from_, request.to
    else:
        path = "body.to" if request.from_ else "body.from" if request.to else "body.month"
        raise invalid_field(path, "month, or from and to, is required")
    if last < first:
        raise invalid_field("body.to", "must not be before from")
    if len(report.months_between(first, last)) > MAX_MONTHS:
        raise invalid_field("body.to", f"the range may cover at most {MAX_MONTHS} months")
    now = clock.now()
    if last > f"{now.year:04d}-{now.month:02d}":
        raise invalid_field("body.to" if request.to else "body.month", "must not be in the future")
    return first, last


def _include(request: ExportRequest) -> list[str]:
    if "billing_status" not in request.include:
        raise invalid_field("body.include", "must contain billing_status")
    if len(set(request.include)) != len(request.include):
        raise invalid_field("body.include", "must not repeat a kind")
    return [kind for kind in report.KINDS if kind in request.include]


def _listed(principal: Principal, deployment_id: str, ids: list[str]) -> list[str]:
    cap = min(get_settings().export_max_patients, MAX_LISTED_PATIENTS)
    if not ids:
        raise invalid_field("body.patients", "must not be empty")
    if len(ids) > cap:
        raise invalid_field("body.patients", f'may list at most {cap} patients; use "all" for more')
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    valid = [i for i, pid in enumerate(ids) if ID_RE.match(pid)]
    profiles = source.patient_items(principal.org_id, [ids[i] for i in valid], [keys.PROFILE_SK])
    for index, pid in enumerate(ids):
        profile = profiles.get(pid, {}).get(keys.PROFILE_SK) if ID_RE.match(pid) else None
        if pid in seen:
            problems.append(FieldProblem(f"body.patients.{index}", "listed twice"))
        elif profile is None or profile.get("deployment_id") != deployment_id:
            problems.append(FieldProblem(f"body.patients.{index}", "unknown patient, or not in this deployment"))
        seen.add(pid)
    if problems:
        raise Invalid("some listed patients cannot be exported; see fields", problems[:MAX_REPORTED_FIELDS])
    return sorted(seen)


def _count_all(principal: Principal, deployment_id: str) -> int:
    count = source.count_enrolled(principal.org_id, deployment_id)
    if count > get_settings().export_max_patients:
        raise invalid_field(
            "body.patients", f"the deployment has more than {get_settings().export_max_patients} enrolled patients"
        )
    return count


def dispatch(org_id: str, export_id: str) -> str:
    """Start the worker for a job; returns the job's status as the answer should show it."""
    function = get_settings().export_worker_function
    if not function:
        _inline.append((org_id, export_id))
        return "pending"
    payload = json.dumps({"org_id": org_id, "export_id": export_id}).encode()
    try:
        lambda_().invoke(FunctionName=function, InvocationType="Event", Payload=payload)
    except Exception as exc:
        logger.error("export dispatch failed", error=type(exc).__name__)
        exports.finish_job(org_id, export_id, status="failed", error="dispatch_failed")
        return "failed"
    return "pending"


@app.post(
    "/v1/deployments/<deployment_id>/exports",
    allow=Action.EXPORT,
    summary="Request a billing report export (ZIP of CSV or JSON files)",
    responses={202: {"description": "Accepted; follow GET /v1/exports/{export_id}"}},
)
def create_export(deployment_id: str, body: Annotated[ExportRequest, Body()]) -> Response[ExportAccepted]:
    principal = current_principal()
    first, last = _months(body)
    include = _include(body)
    if source.read_config(principal.org_id, deployment_id) is None:
        raise Conflict("billing is not configured for this deployment")
    if body.patients == "all":
        patients: str | list[str] = "all"
        count = _count_all(principal, deployment_id)
    else:
        patients = _listed(principal, deployment_id, body.patients)
        count = len(patients)
    stored = {"patients": patients, "from": first, "to": last, "include": include, "format": body.format}
    key = header("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 128:
        raise invalid_field("header.Idempotency-Key", "must be 1 to 128 characters")
    created = exports.create_export(
        principal,
        export_id=new_ulid(),
        deployment_id=deployment_id,
        request=stored,
        patient_count=count,
        request_id=request_id(),
        idempotency_key=key,
        body_sha256=body_fingerprint(json.dumps({"deployment_id": deployment_id, **stored}, sort_keys=True)),
    )
    answer = dict(created.body)
    if not created.replayed:
        answer["status"] = dispatch(principal.org_id, created.export_id)
        logger.info("export requested", export_id=created.export_id, patient_count=count, months=[first, last])
    return Response(
        status_code=202,
        content_type="application/json",
        body=ExportAccepted.model_validate(answer),
        headers={**SECURITY_HEADERS, "Location": f"/v1/exports/{created.export_id}"},
    )


@app.get(
    "/v1/exports/<export_id>",
    allow=Action.EXPORT,
    summary="An export's state; when succeeded, a short-lived download link",
)
def get_export(export_id: str) -> dict[str, Any]:
    principal = current_principal()
    job = exports.get_export(principal.org_id, export_id) if ULID_RE.match(export_id) else None
    if (
        job is None
        or job.get("requested_by") != principal.user_id
        or not principal.sees_deployment(str(job.get("deployment_id")))
    ):
        raise NotFound("export not found")
    count = int(job.get("patient_count") or 0)
    written = int(job.get("patients_written") or 0)
    answer: dict[str, Any] = {
        "export_id": export_id,
        "deployment_id": job.get("deployment_id"),
        "status": job.get("status"),
        "patient_count": count,
        "progress": {"patients_written": written, "fraction": round(written / count, 3) if count else 0.0},
        "files": [{"name": f["name"], "rows": int(f["rows"]), "sha256": f["sha256"]} for f in job.get("files") or []],
        "request": job.get("request"),
        "created_at": job.get("created_at"),
        "finished_at": job.get("finished_at"),
    }
    if job.get("status") == "failed":
        answer["error"] = job.get("error")
    if job.get("status") == "succeeded":
        url, expires = exports.presign_download(principal, job, request_id=request_id())
        answer["download_url"] = url
        answer["expires_at"] = expires.isoformat()
        logger.info("export link issued", export_id=export_id, expires_in=int((expires - clock.now()).total_seconds()))
    return answer


@coldstart.ends_initialisation
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway entry point; in-process workers (no worker function configured) run before returning."""
    _inline.clear()
    try:
        response = app.handle(event, context)
        while _inline:
            org_id, export_id = _inline.pop(0)
            worker.run(org_id, export_id)
    finally:
        _inline.clear()
    return response
