"""HTTP API of time tracking: time entries, appointments (calls) and device readings."""

import json
import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from rpm_billing import clock, coldstart
from rpm_billing.api import ApiApp, current_principal, header, raw_body, request_id
from rpm_billing.auth import Action
from rpm_billing.errors import FieldProblem, PreconditionRequired, invalid_field
from rpm_billing.ids import body_fingerprint, derived_id
from rpm_billing.observability import logger, metrics
from track_time import appointments, entries, readings
from track_time.context import patient_context
from track_time.entries import Idempotency
from track_time.models import AppointmentIn, CompletionIn, ReadingsIn, TimeEntryDelete, TimeEntryIn, TimeEntryPatch

app = ApiApp("track_time", "Time entries, appointments and device readings of enrolled patients")

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
PATIENT = "/v1/patients/<patient_id>"


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def _required_idempotency(scope: str = "") -> Idempotency:
    """The caller's Idempotency-Key, which this route requires (428 when missing)."""
    _, idem = _idempotency(True, scope)
    if idem is None:
        raise PreconditionRequired(
            "an Idempotency-Key header is required", [FieldProblem("header.Idempotency-Key", "is required")]
        )
    return idem


def _idempotency(required: bool, scope: str = "") -> tuple[str | None, Idempotency | None]:
    """The caller's Idempotency-Key (428 when required and missing) and its marker id and fingerprint."""
    key = header("Idempotency-Key")
    if key is None or not key.strip():
        if required:
            raise PreconditionRequired(
                "an Idempotency-Key header is required", [FieldProblem("header.Idempotency-Key", "is required")]
            )
        return None, None
    key = key.strip()
    if not _KEY_RE.match(key):
        raise invalid_field("header.Idempotency-Key", "must be 1-128 letters, digits or _.:-")
    user = current_principal().user_id
    marker_id = derived_id(user, key) if not scope else derived_id(user, scope, key)
    event = entries_event_path()
    return key, Idempotency(marker_id, body_fingerprint(event.encode() + b"\n" + raw_body()))


def entries_event_path() -> str:
    from rpm_billing.api import current_event

    return f"{current_event().http_method} {current_event().path}"


@app.post(f"{PATIENT}/time-entries", allow=Action.TRACK, summary="Log time spent on a patient", status_code=201)
def post_entry(patient_id: str, body: Annotated[TimeEntryIn, Body()]) -> Response[Any]:
    idem = _required_idempotency()
    principal = current_principal()
    ctx = patient_context(principal, patient_id)
    status, response = entries.record(
        ctx,
        principal,
        entry_id=idem.marker_id,
        activity=body.activity,
        started_at=body.started_at,
        duration_seconds=body.duration_seconds,
        modality=body.modality,
        note=body.note,
        idem=idem,
        request_id=request_id(),
    )
    metrics.add_metric(name="TimeEntriesRecorded", unit=MetricUnit.Count, value=1)
    return _json(status, response)


@app.get(f"{PATIENT}/time-entries", allow=Action.TRACK, summary="List a month's time entries")
def get_entries(
    patient_id: str,
    month: Annotated[str | None, Query(pattern=_MONTH)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response[Any]:
    ctx = patient_context(current_principal(), patient_id)
    wanted = month or entries.month_of(clock.now(), ctx)
    return _json(200, entries.list_month(ctx, wanted, limit, cursor))


@app.patch(f"{PATIENT}/time-entries/<entry_id>", allow=Action.TRACK, summary="Correct a time entry")
def patch_entry(patient_id: str, entry_id: str, body: Annotated[TimeEntryPatch, Body()]) -> Response[Any]:
    principal = current_principal()
    ctx = patient_context(principal, patient_id)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    return _json(200, entries.correct(ctx, principal, entry_id, changes, body.reason, request_id()))


@app.delete(f"{PATIENT}/time-entries/<entry_id>", allow=Action.TRACK, summary="Remove a time entry")
def delete_entry(patient_id: str, entry_id: str, body: Annotated[TimeEntryDelete, Body()]) -> Response[Any]:
    principal = current_principal()
    ctx = patient_context(principal, patient_id)
    return _json(200, entries.remove(ctx, principal, entry_id, body.reason, request_id()))


@app.post(
    f"{PATIENT}/appointments", allow=Action.TRACK, summary="Schedule a call (or log an offline one)", status_code=201
)
def post_appointment(patient_id: str, body: Annotated[AppointmentIn, Body()]) -> Response[Any]:
    principal = current_principal()
    if body.completed is not None:
        required = _required_idempotency()
        ctx = patient_context(principal, patient_id)
        status, response = appointments.log_offline(ctx, principal, body, required, request_id())
        return _json(status, response)
    key, optional = _idempotency(required=False, scope="appointment")
    ctx = patient_context(principal, patient_id)
    sha = optional.body_sha256 if optional else ""
    status, response = appointments.schedule(ctx, principal, body, key, sha, request_id())
    return _json(status, response)


@app.get(f"{PATIENT}/appointments", allow=Action.TRACK, summary="List a patient's appointments")
def get_appointments(
    patient_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response[Any]:
    ctx = patient_context(current_principal(), patient_id)
    return _json(200, appointments.list_page(ctx, limit, cursor))


@app.post(
    f"{PATIENT}/appointments/<appointment_id>/complete",
    allow=Action.TRACK,
    summary="Record the appointment's call",
    status_code=201,
)
def complete_appointment(patient_id: str, appointment_id: str, body: Annotated[CompletionIn, Body()]) -> Response[Any]:
    principal = current_principal()
    _, idem = _idempotency(required=False)
    if idem is None:
        # Without a key, one completion per appointment and user: a retry lands on the same entry.
        fingerprint = body_fingerprint(entries_event_path().encode() + b"\n" + raw_body())
        idem = Idempotency(derived_id(principal.user_id, "complete", patient_id, appointment_id), fingerprint)
    ctx = patient_context(principal, patient_id)
    status, response = appointments.complete(ctx, principal, appointment_id, body, idem, request_id())
    return _json(status, response)


@app.post(f"{PATIENT}/readings", allow=Action.TRACK, summary="Ingest a batch of up to 100 readings")
def post_readings(patient_id: str, body: Annotated[ReadingsIn, Body()]) -> Response[Any]:
    idem = _required_idempotency("readings")
    principal = current_principal()
    ctx = patient_context(principal, patient_id)
    status, response = readings.ingest(ctx, principal, body.readings, idem, request_id())
    metrics.add_metric(name="ReadingsAccepted", unit=MetricUnit.Count, value=response["accepted"])
    return _json(status, response)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@coldstart.ends_initialisation
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context)
