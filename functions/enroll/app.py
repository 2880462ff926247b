"""Enrollment function: deployment billing configuration, patients, enrollment episodes and order documents.

Routes are thin: validate at the edge, call one use case in ``enroll.service``, return a typed response.
"""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from enroll import service
from enroll.models import (
    BillingConfigIn,
    BillingConfigOut,
    DocumentIn,
    DocumentLinkOut,
    DocumentList,
    DocumentOut,
    DocumentUploadOut,
    EndIn,
    EnrollmentIn,
    EnrollmentOut,
    EnrollmentPatch,
    PatientIn,
    PatientOut,
    PatientPage,
)
from rpm_billing import coldstart
from rpm_billing.api import ApiApp, current_event, current_principal, header, raw_body, request_id
from rpm_billing.auth import Action
from rpm_billing.db.enrollment import DeploymentConfig, DocumentRecord, PatientRecord
from rpm_billing.errors import UnsupportedMediaType, invalid_field
from rpm_billing.ids import ID_RE

app = ApiApp("rpm-billing enrollment", "Deployment billing configuration, patients, enrollment and order documents")

MAX_CSV_BYTES = 2 * 1024 * 1024


def _id(name: str, value: str) -> str:
    if not ID_RE.match(value):
        raise invalid_field(f"path.{name}", "is not a valid id")
    return value


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=payload, headers=headers)


def _config_out(config: DeploymentConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    return BillingConfigOut.model_validate(
        {k: v for k, v in data.items() if k in BillingConfigOut.model_fields}
    ).model_dump(mode="json")


def _patient_out(patient: PatientRecord) -> dict[str, Any]:
    data = patient.model_dump(mode="json")
    return PatientOut.model_validate({k: v for k, v in data.items() if k in PatientOut.model_fields}).model_dump(
        mode="json"
    )


def _document_out(record: DocumentRecord) -> dict[str, Any]:
    return DocumentOut(
        document_id=record.document_id,
        content_type=record.content_type,
        size=record.size,
        status=record.status,
        created_at=record.created_at,
    ).model_dump(mode="json")


def _enrollment_response(status: int, payload: dict[str, Any]) -> Response:
    return _json(status, payload, {"ETag": f'"{payload["version"]}"'})


def _fingerprint() -> str:
    event = current_event()
    return service.request_fingerprint(event.http_method, event.path, raw_body())


# Configuration --------------------------------------------------------------------------------------------


@app.put(
    "/v1/deployments/<deployment_id>/billing-config",
    allow=Action.CONFIGURE,
    summary="Enable billing for a deployment and set its configuration",
)
def put_config(deployment_id: str, body: Annotated[BillingConfigIn, Body()]) -> Response[BillingConfigOut]:
    config = service.put_config(current_principal(), _id("deployment_id", deployment_id), body, request_id())
    return _json(200, _config_out(config))


@app.get(
    "/v1/deployments/<deployment_id>/billing-config",
    allow=Action.READ_CONFIG,
    summary="Read a deployment's billing configuration",
)
def get_config(deployment_id: str) -> Response[BillingConfigOut]:
    config = service.read_config(current_principal(), _id("deployment_id", deployment_id))
    return _json(200, _config_out(config))


@app.put(
    "/v1/deployments/<deployment_id>/billing-config/<list_name>",
    allow=Action.CONFIGURE,
    summary="Replace one configuration list from CSV (insurance-carriers, billing-providers, icd10-codes)",
)
def put_config_list(deployment_id: str, list_name: str) -> Response[BillingConfigOut]:
    deployment_id = _id("deployment_id", deployment_id)
    content_type = (header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise UnsupportedMediaType("the body must be text/csv")
    data = raw_body()
    if len(data) > MAX_CSV_BYTES:
        from rpm_billing.errors import PayloadTooLarge

        raise PayloadTooLarge("the CSV is larger than 2 MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_field("body", "is not UTF-8 text") from None
    config = service.put_list(current_principal(), deployment_id, list_name, text, request_id())
    return _json(200, _config_out(config))


# Patients -------------------------------------------------------------------------------------------------


@app.put(
    "/v1/deployments/<deployment_id>/patients/<patient_id>",
    allow=Action.ENROLL,
    summary="Register or update a patient",
    responses={200: {"description": "Updated"}, 201: {"description": "Registered"}},
)
def put_patient(deployment_id: str, patient_id: str, body: Annotated[PatientIn, Body()]) -> Response[PatientOut]:
    patient, created = service.put_patient(
        current_principal(), _id("deployment_id", deployment_id), _id("patient_id", patient_id), body, request_id()
    )
    return _json(201 if created else 200, _patient_out(patient))


@app.get(
    "/v1/deployments/<deployment_id>/patients",
    allow=Action.READ,
    summary="List a deployment's patients: awaiting onboarding, enrolled or all",
)
def list_patients(
    deployment_id: str,
    billing: Annotated[Literal["awaiting", "enrolled", "all"], Query()] = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[PatientPage]:
    patients, next_cursor = service.list_patients(
        current_principal(), _id("deployment_id", deployment_id), billing, limit, cursor
    )
    page = PatientPage.model_validate({"items": [_patient_out(p) for p in patients], "next_cursor": next_cursor})
    return _json(200, page.model_dump(mode="json"))


# Enrollment -----------------------------------------------------------------------------------------------

ENROLLMENT = "/v1/patients/<patient_id>/billing/enrollment"


@app.post(
    ENROLLMENT,
    allow=Action.ENROLL,
    summary="Enroll a patient for billing (starts a billing episode)",
    status_code=201,
)
def post_enrollment(patient_id: str, body: Annotated[EnrollmentIn, Body()]) -> Response[EnrollmentOut]:
    principal = current_principal()
    idem = service.Idempotency(principal, "enrollment", header("Idempotency-Key"), _fingerprint())
    payload, _ = service.enroll(principal, _id("patient_id", patient_id), body, idem, request_id())
    return _enrollment_response(201, payload)


@app.get(ENROLLMENT, allow=Action.READ, summary="Read a patient's billing episode (version also in ETag)")
def get_enrollment(patient_id: str) -> Response[EnrollmentOut]:
    record = service.read_enrollment(current_principal(), _id("patient_id", patient_id))
    return _enrollment_response(200, service.enrollment_out(record))


@app.patch(ENROLLMENT, allow=Action.ENROLL, summary="Edit a billing episode (If-Match: <version>)")
def patch_enrollment(patient_id: str, body: Annotated[EnrollmentPatch, Body()]) -> Response[EnrollmentOut]:
    record = service.patch_enrollment(
        current_principal(), _id("patient_id", patient_id), body, header("If-Match"), request_id()
    )
    return _enrollment_response(200, service.enrollment_out(record))


@app.delete(ENROLLMENT, allow=Action.ENROLL, summary="End the billing episode (optional reason)")
def delete_enrollment(patient_id: str) -> Response[EnrollmentOut]:
    data = raw_body()
    reason = None
    if data.strip():
        from pydantic import ValidationError

        from rpm_billing.api import validation_fields
        from rpm_billing.errors import Invalid

        try:
            reason = EndIn.model_validate_json(data).reason
        except ValidationError as exc:
            fields = validation_fields([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)])
            raise Invalid("the request is invalid; see fields", fields) from None
    record = service.end_enrollment(
        current_principal(), _id("patient_id", patient_id), reason, header("If-Match"), request_id()
    )
    return _enrollment_response(200, service.enrollment_out(record))


# Documents ------------------------------------------------------------------------------------------------

DOCUMENTS = "/v1/patients/<patient_id>/billing/documents"


@app.post(DOCUMENTS, allow=Action.ENROLL, summary="Ask to upload a physician order (presigned POST)", status_code=201)
def post_document(patient_id: str, body: Annotated[DocumentIn, Body()]) -> Response[DocumentUploadOut]:
    principal = current_principal()
    idem = service.Idempotency(principal, "document", header("Idempotency-Key"), _fingerprint())
    payload, _ = service.request_upload(principal, _id("patient_id", patient_id), body, idem, request_id())
    return _json(201, DocumentUploadOut.model_validate(payload).model_dump(mode="json"))


@app.get(DOCUMENTS, allow=Action.READ, summary="List a patient's order documents")
def get_documents(
    patient_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[DocumentList]:
    records, next_cursor = service.documents_of(current_principal(), _id("patient_id", patient_id), limit, cursor)
    page = DocumentList(items=[DocumentOut(**_document_out(r)) for r in records], next_cursor=next_cursor)
    return _json(200, page.model_dump(mode="json"))


@app.get(DOCUMENTS + "/<document_id>", allow=Action.READ, summary="A presigned download link of one order document")
def get_document(patient_id: str, document_id: str) -> Response[DocumentLinkOut]:
    record, url, ttl = service.download_link(
        current_principal(), _id("patient_id", patient_id), _id("document_id", document_id)
    )
    link = DocumentLinkOut(**_document_out(record), url=url, expires_in=ttl)
    return _json(200, link.model_dump(mode="json"))


@coldstart.ends_initialisation
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    response = app.handle(event, context)
    # REST v1 responses carry headers in multiValueHeaders; mirror single values so every client sees ETag.
    headers = response.setdefault("headers", {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if isinstance(values, list) and len(values) == 1:
            headers.setdefault(name, values[0])
    return response
