"""Use cases of the enrollment function: deployment configuration, patients, enrollment episodes, documents.

Every write is one ``TransactWriteItems`` holding the change and its audit record; edits are guarded by
``version`` conditions; creating POSTs are idempotent through a marker keyed on (user, Idempotency-Key).
Another tenant's or another deployment's object is reported exactly like a missing one.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from enroll.models import BillingConfigIn, DocumentIn, EnrollmentIn, EnrollmentPatch
from rpm_billing import clock, paging
from rpm_billing.auth import Action, Principal
from rpm_billing.csvlists import LISTS, normalise_icd10, parse_list_csv
from rpm_billing.db import keys
from rpm_billing.db.audit import audit_log, audit_put
from rpm_billing.db.client import dynamodb, from_item, s3, to_item, to_value
from rpm_billing.db.enrollment import (
    DeploymentConfig,
    DocumentRecord,
    EnrollmentRecord,
    PatientRecord,
    config_from_item,
    enrollment_from_item,
    forget_config,
    get_config,
    get_config_cached,
    get_document,
    get_enrollment,
    get_patient,
    list_bucket,
    list_documents,
    list_patients_page,
    patient_from_item,
)
from rpm_billing.errors import (
    Conflict,
    FieldProblem,
    Invalid,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    invalid_field,
)
from rpm_billing.ids import body_fingerprint, derived_id, new_ulid
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

IDEMPOTENCY_TTL = timedelta(hours=48)
DOWNLOAD_NAME = "physician-order.pdf"


def _table() -> str:
    return get_settings().table_name


def _now() -> str:
    return clock.now().isoformat()


class Cancelled(Exception):
    """A transaction was cancelled; ``reasons`` holds one cancellation code per item."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons


def transact(items: list[dict[str, Any]]) -> None:
    """Send one ``TransactWriteItems``; condition failures raise ``Cancelled`` with the per-item codes."""
    try:
        dynamodb().transact_write_items(TransactItems=items)  # type: ignore[arg-type]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" not in reasons:
            raise
        raise Cancelled(reasons) from None


def _failed(reasons: list[str], index: int) -> bool:
    return index < len(reasons) and reasons[index] == "ConditionalCheckFailed"


# Idempotency ----------------------------------------------------------------------------------------------


class Idempotency:
    """The marker of one creating POST: key derived from (org, user, scope, Idempotency-Key), body hash beside it.

    Args:
        principal: The verified caller.
        scope: What is created (``enrollment``, ``document``).
        idempotency_key: The client's ``Idempotency-Key`` header, or ``None``.
        fingerprint: Hash of method, path and body; the same key with another fingerprint is a 409.
    """

    def __init__(self, principal: Principal, scope: str, idempotency_key: str | None, fingerprint: str) -> None:
        self.principal = principal
        self.key = idempotency_key
        self.fingerprint = fingerprint
        self.hash = derived_id(principal.org_id, principal.user_id, scope, idempotency_key or "", length=52)

    @property
    def active(self) -> bool:
        return bool(self.key)

    def derived(self, *parts: str) -> str:
        """A deterministic id for the created object, so a replay lands on the same item."""
        return derived_id(self.hash, *parts)

    def put(self, target: str, response: dict[str, Any], status_code: int) -> dict[str, Any]:
        """The marker's transaction entry (replaces only an expired marker)."""
        now = clock.now()
        item = {
            "PK": keys.idempotency_pk(self.hash),
            "SK": keys.IDEMPOTENCY_SK,
            "type": "idempotency",
            "org_id": self.principal.org_id,
            "user_id": self.principal.user_id,
            "body_sha256": self.fingerprint,
            "target": target,
            "response": json.dumps(response, default=str),
            "status_code": status_code,
            "expires_at": int((now + IDEMPOTENCY_TTL).timestamp()),
        }
        return {
            "Put": {
                "TableName": _table(),
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(PK) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": to_value(int(now.timestamp()))},
            }
        }

    def replay(self) -> dict[str, Any] | None:
        """The first response of this key (``None`` if there is none), or 409 if it was used with another request."""
        response = dynamodb().get_item(
            TableName=_table(), Key=keys.key(keys.idempotency_pk(self.hash), keys.IDEMPOTENCY_SK), ConsistentRead=True
        )
        raw = response.get("Item")
        if not raw:
            return None
        marker = from_item(raw)
        if marker.get("body_sha256") != self.fingerprint:
            raise Conflict("this Idempotency-Key was used with another request")
        logger.info("idempotent replay", scope_target=str(marker.get("target")))
        return dict(json.loads(str(marker["response"])))


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of what makes two requests the same request."""
    return body_fingerprint(method.encode() + b"\n" + path.encode() + b"\n" + body)


# Scope ----------------------------------------------------------------------------------------------------

PATIENT_NOT_FOUND = "patient not found"
ENROLLMENT_NOT_FOUND = "enrollment not found"


def _visible(principal: Principal, action: Action, deployment_id: str) -> bool:
    return principal.may_in(action, deployment_id)


def patient_in_scope(principal: Principal, patient_id: str, action: Action) -> PatientRecord:
    """The caller's patient, or the same 404 whether it is missing or outside the caller's scope."""
    patient = get_patient(principal.org_id, patient_id)
    if patient is None or not _visible(principal, action, patient.deployment_id):
        raise NotFound(PATIENT_NOT_FOUND)
    return patient


def enrollment_in_scope(principal: Principal, patient_id: str, action: Action) -> EnrollmentRecord:
    """The caller's patient's enrollment (one GetItem), or 404."""
    record = get_enrollment(principal.org_id, patient_id)
    if record is None or not _visible(principal, action, record.deployment_id):
        raise NotFound(ENROLLMENT_NOT_FOUND)
    return record


def billing_config(principal: Principal, deployment_id: str) -> DeploymentConfig:
    """The deployment's enabled configuration (warm cache), or 409 when billing is not set up."""
    config = get_config_cached(principal.org_id, deployment_id)
    if config is None or not config.enabled:
        raise Conflict("billing is not configured for this deployment")
    return config


# Configuration --------------------------------------------------------------------------------------------


def _validate_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """Check policy overrides against ``rpm_billing.rules.BillingPolicy``; a 422 names each bad setting."""
    from rpm_billing.rules.policy import BillingPolicy  # the engine's settings only; the engine is not needed

    try:
        BillingPolicy.model_validate(policy)
    except ValidationError as exc:
        problems = [
            FieldProblem("body.policy." + ".".join(str(p) for p in err.get("loc", ())), str(err.get("type")))
            for err in exc.errors()
        ]
        raise Invalid("the policy overrides are invalid; see fields", problems) from None
    return policy


def _config_out_fields(body: BillingConfigIn) -> dict[str, Any]:
    if body.program == "RTM" and body.rtm_category is None:
        raise invalid_field("body.rtm_category", "is required for RTM")
    if body.program == "RPM" and body.rtm_category is not None:
        raise invalid_field("body.rtm_category", "applies to RTM only")
    codes: dict[str, dict[str, str]] = {}
    for entry in body.icd10_codes:
        codes.setdefault(entry.code, {"code": entry.code, "description": entry.description})
    return {
        "enabled": body.enabled,
        "program": body.program,
        "rtm_category": body.rtm_category,
        "time_zone": body.time_zone,
        "offline_appointments": body.offline_appointments,
        "insurance_carriers": _unique([{"name": c.name} for c in body.insurance_carriers]),
        "billing_providers": _unique([{"name": p.name, "npi": p.npi} for p in body.billing_providers]),
        "icd10_codes": list(codes.values()),
        "policy": _validate_policy(dict(body.policy)),
    }


def _unique(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    out = []
    for entry in entries:
        marker = tuple(sorted(entry.items()))
        if marker not in seen:
            seen.add(marker)
            out.append(entry)
    return out


def put_config(principal: Principal, deployment_id: str, body: BillingConfigIn, request_id: str) -> DeploymentConfig:
    """Replace a deployment's billing configuration and register the deployment for the monthly run."""
    fields = _config_out_fields(body)
    current = get_config(principal.org_id, deployment_id)
    version = (current.version if current else 0) + 1
    item = {
        "PK": keys.deployment_pk(principal.org_id, deployment_id),
        "SK": keys.CONFIG_SK,
        "GSI1PK": keys.deployments_gsi(principal.org_id),
        "GSI1SK": deployment_id,
        "type": "billing_config",
        "org_id": principal.org_id,
        "deployment_id": deployment_id,
        **fields,
        "version": version,
        "updated_at": _now(),
    }
    put: dict[str, Any] = {"TableName": _table(), "Item": to_item(item)}
    if current is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": to_value(current.version)}
    registry_key = keys.key(keys.ALL_DEPLOYMENTS_PK, keys.deployment_registry_sk(principal.org_id, deployment_id))
    registry: dict[str, Any]
    if body.enabled:
        entry = {"type": "billing_deployment", "org_id": principal.org_id, "deployment_id": deployment_id}
        registry = {"Put": {"TableName": _table(), "Item": {**registry_key, **to_item(entry)}}}
    else:
        registry = {"Delete": {"TableName": _table(), "Key": registry_key}}
    audit = audit_put(
        principal,
        action="billing_config.put",
        target_type="deployment",
        target_id=deployment_id,
        deployment_id=deployment_id,
        request_id=request_id,
    )
    try:
        transact([{"Put": put}, registry, audit])
    except Cancelled:
        raise Conflict("the configuration changed concurrently; retry") from None
    forget_config(principal.org_id, deployment_id)
    return config_from_item(to_item(item))


def read_config(principal: Principal, deployment_id: str) -> DeploymentConfig:
    """A deployment's configuration (one GetItem), or 404."""
    config = get_config(principal.org_id, deployment_id)
    if config is None:
        raise NotFound("billing configuration not found")
    audit_log(principal, action="billing_config.read", target_type="deployment", target_id=deployment_id)
    return config


def put_list(principal: Principal, deployment_id: str, list_name: str, text: str, request_id: str) -> DeploymentConfig:
    """Replace one list of the configuration from CSV."""
    if list_name not in LISTS:
        raise NotFound("no such list")
    entries = parse_list_csv(list_name, text)
    current = get_config(principal.org_id, deployment_id)
    if current is None:
        raise NotFound("billing configuration not found")
    attribute = LISTS[list_name][0]
    updated_at = _now()
    update = {
        "Update": {
            "TableName": _table(),
            "Key": keys.key(keys.deployment_pk(principal.org_id, deployment_id), keys.CONFIG_SK),
            "UpdateExpression": "SET #list = :list, version = :next, updated_at = :at",
            "ConditionExpression": "version = :v",
            "ExpressionAttributeNames": {"#list": attribute},
            "ExpressionAttributeValues": {
                ":list": to_value(entries),
                ":next": to_value(current.version + 1),
                ":at": to_value(updated_at),
                ":v": to_value(current.version),
            },
        }
    }
    audit = audit_put(
        principal,
        action=f"billing_config.put_list.{list_name}",
        target_type="deployment",
        target_id=deployment_id,
        deployment_id=deployment_id,
        request_id=request_id,
    )
    try:
        transact([update, audit])
    except Cancelled:
        raise Conflict("the configuration changed concurrently; retry") from None
    forget_config(principal.org_id, deployment_id)
    logger.info("config list replaced", list_name=list_name, rows=len(entries))
    return DeploymentConfig.model_validate(
        {**current.model_dump(), attribute: entries, "version": current.version + 1, "updated_at": updated_at}
    )


# Patients -------------------------------------------------------------------------------------------------


def put_patient(
    principal: Principal, deployment_id: str, patient_id: str, body: Any, request_id: str
) -> tuple[PatientRecord, bool]:
    """Register or update a patient; returns the profile and whether it was created."""
    existing = get_patient(principal.org_id, patient_id)
    if existing is not None and existing.deployment_id != deployment_id:
        raise NotFound(PATIENT_NOT_FOUND)
    zone = body.time_zone
    if zone is None:
        zone = existing.time_zone if existing else None
    if zone is None:
        config = get_config_cached(principal.org_id, deployment_id)
        if config is None:
            raise invalid_field("body.time_zone", "is required while the deployment has no billing configuration")
        zone = config.time_zone
    now = _now()
    demographics = {
        "given_name": body.given_name,
        "family_name": body.family_name,
        "birth_date": body.birth_date.isoformat(),
        "mrn": body.mrn,
        "time_zone": zone,
    }
    pk = keys.patient_pk(principal.org_id, patient_id)
    if existing is None:
        item = {
            "PK": pk,
            "SK": keys.PROFILE_SK,
            "GSI1PK": keys.patients_gsi(principal.org_id, deployment_id),
            "GSI1SK": f"awaiting#{patient_id}",
            "type": "patient",
            "org_id": principal.org_id,
            "deployment_id": deployment_id,
            "patient_id": patient_id,
            **demographics,
            "billing_state": "awaiting",
            "created_at": now,
            "updated_at": now,
        }
        write: dict[str, Any] = {
            "Put": {"TableName": _table(), "Item": to_item(item), "ConditionExpression": "attribute_not_exists(PK)"}
        }
        record = patient_from_item(to_item(item))
    else:
        sets = ", ".join(f"#{name} = :{name}" for name in demographics if demographics[name] is not None)
        removes = " REMOVE mrn" if demographics["mrn"] is None else ""
        values = {f":{k}": to_value(v) for k, v in demographics.items() if v is not None}
        write = {
            "Update": {
                "TableName": _table(),
                "Key": keys.key(pk, keys.PROFILE_SK),
                "UpdateExpression": f"SET {sets}, updated_at = :at{removes}",
                "ConditionExpression": "attribute_exists(PK) AND deployment_id = :dep",
                "ExpressionAttributeNames": {f"#{k}": k for k in demographics if demographics[k] is not None},
                "ExpressionAttributeValues": {**values, ":at": to_value(now), ":dep": to_value(deployment_id)},
            }
        }
        record = existing.model_copy(update={**demographics, "birth_date": body.birth_date, "updated_at": now})
    audit = audit_put(
        principal,
        action="patient.create" if existing is None else "patient.update",
        target_type="patient",
        target_id=patient_id,
        deployment_id=deployment_id,
        request_id=request_id,
    )
    try:
        transact([write, audit])
    except Cancelled:
        if existing is None:
            raise Conflict("the patient was registered concurrently; retry") from None
        raise NotFound(PATIENT_NOT_FOUND) from None
    return record, existing is None


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """An opaque cursor for a DynamoDB ``LastEvaluatedKey``."""
    if not last_key:
        return None
    plain = {name: value["S"] for name, value in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def _cursor_fields(cursor: str) -> dict[str, Any] | None:
    if len(cursor) > 1024:
        return None
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(plain, dict) or not all(isinstance(v, str) and v for v in plain.values()):
        return None
    return plain


def decode_cursor(cursor: str | None, expected_gsi_pk: str) -> dict[str, Any] | None:
    """The start key of a cursor made by ``encode_cursor`` for this list, or a 422 naming ``query.cursor``."""
    if not cursor:
        return None
    plain = _cursor_fields(cursor)
    if plain is None or set(plain) != {"PK", "SK", "GSI1PK", "GSI1SK"} or plain["GSI1PK"] != expected_gsi_pk:
        raise invalid_field("query.cursor", "is not a cursor of this list")
    return {name: {"S": value} for name, value in plain.items()}


def list_patients(
    principal: Principal, deployment_id: str, billing: str, limit: int, cursor: str | None
) -> tuple[list[PatientRecord], str | None]:
    """One page of a deployment's patients: ``awaiting`` (not enrolled), ``enrolled`` or ``all``."""
    start = decode_cursor(cursor, keys.patients_gsi(principal.org_id, deployment_id))
    bucket = None if billing == "all" else billing
    patients, last = list_patients_page(principal.org_id, deployment_id, bucket, limit, start)
    audit_log(principal, action="patients.list", target_type="deployment", target_id=deployment_id)
    return patients, encode_cursor(last)


# Enrollment -----------------------------------------------------------------------------------------------


def _check_against_config(config: DeploymentConfig, body: EnrollmentIn | EnrollmentPatch) -> dict[str, Any]:
    """Validate the episode's lists against the deployment's and return the stored values of the set fields."""
    problems: list[FieldProblem] = []
    out: dict[str, Any] = {}
    if body.primary_diagnosis is not None:
        allowed = {normalise_icd10(c.code) for c in config.icd10_codes}
        if body.primary_diagnosis not in allowed:
            problems.append(FieldProblem("body.primary_diagnosis", "is not in the deployment's ICD-10 list"))
        out["primary_diagnosis"] = body.primary_diagnosis
    if body.insurance_carriers is not None:
        names = {c.name.casefold(): c.name for c in config.insurance_carriers}
        carriers = []
        for index, carrier in enumerate(body.insurance_carriers):
            known = names.get(carrier.name.casefold())
            if known is None:
                problems.append(
                    FieldProblem(f"body.insurance_carriers.{index}.name", "is not in the deployment's carriers")
                )
            carriers.append({"name": known or carrier.name, "member_id": carrier.member_id})
        out["insurance_carriers"] = carriers
    if body.billing_provider is not None:
        wanted = body.billing_provider
        matches = [
            p
            for p in config.billing_providers
            if p.name.casefold() == wanted.name.casefold() and (wanted.npi is None or p.npi == wanted.npi)
        ]
        if not matches:
            problems.append(FieldProblem("body.billing_provider", "is not in the deployment's billing providers"))
        else:
            out["billing_provider"] = {"name": matches[0].name, "npi": matches[0].npi}
    if problems:
        raise Invalid("the enrollment does not match the deployment's lists; see fields", problems)
    for name in ("consent_date", "monitoring_start"):
        value = getattr(body, name)
        if value is not None:
            out[name] = value.isoformat()
    if body.established_patient is not None:
        out["established_patient"] = body.established_patient
    return out


def enrollment_out(record: EnrollmentRecord) -> dict[str, Any]:
    """The API representation of an episode."""
    from enroll.models import EnrollmentOut

    data = record.model_dump(mode="json")
    return EnrollmentOut.model_validate({k: v for k, v in data.items() if k in EnrollmentOut.model_fields}).model_dump(
        mode="json"
    )


def _batch_profile_and_enrollment(org_id: str, patient_id: str) -> tuple[PatientRecord | None, dict[str, Any] | None]:
    pk = keys.patient_pk(org_id, patient_id)
    response = dynamodb().batch_get_item(
        RequestItems={
            _table(): {
                "Keys": [keys.key(pk, keys.PROFILE_SK), keys.key(pk, keys.ENROLLMENT_SK)],
                "ConsistentRead": True,
            }
        }
    )
    # Limitation: two keys stay far below BatchGetItem's 16 MB limit, so UnprocessedKeys is not retried here.
    profile, episode = None, None
    for item in response.get("Responses", {}).get(_table(), []):
        if item["SK"]["S"] == keys.PROFILE_SK:
            profile = patient_from_item(item)
        else:
            episode = from_item(item)
    return profile, episode


def enroll(
    principal: Principal, patient_id: str, body: EnrollmentIn, idem: Idempotency, request_id: str
) -> tuple[dict[str, Any], bool]:
    """Start a billing episode (201); 409 if one is active. Returns the response body and whether it is a replay."""
    profile, previous = _batch_profile_and_enrollment(principal.org_id, patient_id)
    if profile is None or not _visible(principal, Action.ENROLL, profile.deployment_id):
        raise NotFound(PATIENT_NOT_FOUND)
    config = billing_config(principal, profile.deployment_id)
    fields = _check_against_config(config, body)
    if previous is not None and previous.get("status") == "active":
        first = idem.replay() if idem.active else None
        if first is not None:
            return first, True
        raise Conflict("the patient is already enrolled")
    now = _now()
    version = int(previous["version"]) + 1 if previous is not None else 1
    episode_id = idem.derived("episode", patient_id) if idem.active else new_ulid()
    item = {
        "PK": keys.patient_pk(principal.org_id, patient_id),
        "SK": keys.ENROLLMENT_SK,
        "GSI1PK": keys.enrolled_gsi(principal.org_id, profile.deployment_id),
        "GSI1SK": patient_id,
        "type": "enrollment",
        "org_id": principal.org_id,
        "deployment_id": profile.deployment_id,
        "patient_id": patient_id,
        "status": "active",
        "episode_id": episode_id,
        "version": version,
        **fields,
        "enrolled_at": now,
    }
    put: dict[str, Any] = {"TableName": _table(), "Item": to_item(item)}
    if previous is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "version = :v AND #status = :ended"
        put["ExpressionAttributeNames"] = {"#status": "status"}
        put["ExpressionAttributeValues"] = {":v": to_value(int(previous["version"])), ":ended": to_value("ended")}
    profile_update = _profile_state(principal.org_id, profile.deployment_id, patient_id, "enrolled", now)
    record = enrollment_from_item(to_item(item))
    response = enrollment_out(record)
    writes = [{"Put": put}, profile_update]
    writes.append(
        audit_put(
            principal,
            action="enrollment.create",
            target_type="patient",
            target_id=patient_id,
            deployment_id=profile.deployment_id,
            request_id=request_id,
        )
    )
    if idem.active:
        writes.append(idem.put(f"{patient_id}/enrollment/{episode_id}", response, 201))
    try:
        transact(writes)
    except Cancelled as cancelled:
        first = idem.replay() if idem.active and _failed(cancelled.reasons, len(writes) - 1) else None
        if first is not None:
            return first, True
        if _failed(cancelled.reasons, 1):
            raise NotFound(PATIENT_NOT_FOUND) from None
        raise Conflict("the patient is already enrolled") from None
    return response, False


def _profile_state(org_id: str, deployment_id: str, patient_id: str, state: str, now: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": _table(),
            "Key": keys.key(keys.patient_pk(org_id, patient_id), keys.PROFILE_SK),
            "UpdateExpression": "SET billing_state = :state, GSI1SK = :sk, updated_at = :at",
            "ConditionExpression": "attribute_exists(PK) AND deployment_id = :dep",
            "ExpressionAttributeValues": {
                ":state": to_value(state),
                ":sk": to_value(f"{list_bucket(state)}#{patient_id}"),
                ":at": to_value(now),
                ":dep": to_value(deployment_id),
            },
        }
    }


def parse_if_match(value: str | None, *, required: bool) -> int | None:
    """The version in an ``If-Match`` header (``3``, ``"3"`` or ``W/"3"``); 428 when required and missing."""
    if value is None or not value.strip():
        if required:
            raise PreconditionRequired("If-Match with the enrollment version is required")
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 12:
        raise PreconditionFailed("If-Match does not name a current version")
    return int(text)


def read_enrollment(principal: Principal, patient_id: str) -> EnrollmentRecord:
    """A patient's episode (one request), audited as a read."""
    record = enrollment_in_scope(principal, patient_id, Action.READ)
    audit_log(principal, action="enrollment.read", target_type="patient", target_id=patient_id)
    return record


def patch_enrollment(
    principal: Principal, patient_id: str, body: EnrollmentPatch, if_match: str | None, request_id: str
) -> EnrollmentRecord:
    """Edit an active episode under optimistic locking (412 on a stale version)."""
    expected = parse_if_match(if_match, required=True)
    record = enrollment_in_scope(principal, patient_id, Action.ENROLL)
    if not body.model_fields_set:
        raise invalid_field("body", "names no field to change")
    if record.status != "active":
        raise Conflict("the billing episode has ended")
    if expected != record.version:
        raise PreconditionFailed("the enrollment changed; read it again")
    config = billing_config(principal, record.deployment_id)
    changes = _check_against_config(config, body)
    if "monitoring_start" in body.model_fields_set and body.monitoring_start is None:
        changes["monitoring_start"] = None
    now = _now()
    sets = {**{k: v for k, v in changes.items() if v is not None}, "updated_at": now, "version": record.version + 1}
    removes = [k for k, v in changes.items() if v is None]
    expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
    if removes:
        expression += " REMOVE " + ", ".join(f"#{k}" for k in removes)
    update = {
        "Update": {
            "TableName": _table(),
            "Key": keys.key(keys.patient_pk(principal.org_id, patient_id), keys.ENROLLMENT_SK),
            "UpdateExpression": expression,
            "ConditionExpression": "version = :expected AND #status = :active",
            "ExpressionAttributeNames": {**{f"#{k}": k for k in [*sets, *removes]}, "#status": "status"},
            "ExpressionAttributeValues": {
                **{f":{k}": to_value(v) for k, v in sets.items()},
                ":expected": to_value(record.version),
                ":active": to_value("active"),
            },
        }
    }
    audit = audit_put(
        principal,
        action="enrollment.update",
        target_type="patient",
        target_id=patient_id,
        deployment_id=record.deployment_id,
        request_id=request_id,
    )
    try:
        transact([update, audit])
    except Cancelled:
        raise PreconditionFailed("the enrollment changed; read it again") from None
    data = record.model_dump(mode="json")
    data.update(changes)
    data["version"] = record.version + 1
    return enrollment_from_item(to_item(data))


def end_enrollment(
    principal: Principal, patient_id: str, reason: str | None, if_match: str | None, request_id: str
) -> EnrollmentRecord:
    """End the active episode; a later enrollment starts a new episode."""
    expected = parse_if_match(if_match, required=False)
    record = enrollment_in_scope(principal, patient_id, Action.ENROLL)
    if record.status != "active":
        raise Conflict("the billing episode has already ended")
    if expected is not None and expected != record.version:
        raise PreconditionFailed("the enrollment changed; read it again")
    now = _now()
    values: dict[str, Any] = {
        ":ended": to_value("ended"),
        ":at": to_value(now),
        ":next": to_value(record.version + 1),
        ":expected": to_value(record.version),
        ":active": to_value("active"),
    }
    expression = "SET #status = :ended, ended_at = :at, updated_at = :at, version = :next"
    if reason is not None:
        expression += ", ended_reason = :reason"
        values[":reason"] = to_value(reason)
    update = {
        "Update": {
            "TableName": _table(),
            "Key": keys.key(keys.patient_pk(principal.org_id, patient_id), keys.ENROLLMENT_SK),
            "UpdateExpression": expression + " REMOVE GSI1PK, GSI1SK",
            "ConditionExpression": "version = :expected AND #status = :active",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
    }
    writes = [
        update,
        _profile_state(principal.org_id, record.deployment_id, patient_id, "ended", now),
        audit_put(
            principal,
            action="enrollment.end",
            target_type="patient",
            target_id=patient_id,
            deployment_id=record.deployment_id,
            request_id=request_id,
        ),
    ]
    try:
        transact(writes)
    except Cancelled:
        raise PreconditionFailed("the enrollment changed; read it again") from None
    return record.model_copy(
        update={"status": "ended", "ended_at": now, "ended_reason": reason, "version": record.version + 1}
    )


# Documents ------------------------------------------------------------------------------------------------


def object_key(org_id: str, document_id: str) -> str:
    """The opaque S3 key of an order document."""
    return f"orders/{org_id}/{document_id}.pdf"


def _presigned_post(org_id: str, document_id: str, size: int) -> dict[str, Any]:
    ttl = get_settings().presign_ttl_seconds
    post = s3().generate_presigned_post(
        Bucket=get_settings().documents_bucket,
        Key=object_key(org_id, document_id),
        Fields={"Content-Type": "application/pdf"},
        Conditions=[{"Content-Type": "application/pdf"}, ["content-length-range", 1, size]],
        ExpiresIn=ttl,
    )
    return {
        "document_id": document_id,
        "upload": {"url": post["url"], "fields": {k: str(v) for k, v in post["fields"].items()}},
        "expires_in": ttl,
    }


def request_upload(
    principal: Principal, patient_id: str, body: DocumentIn, idem: Idempotency, request_id: str
) -> tuple[dict[str, Any], bool]:
    """Record a pending order document and hand out a presigned POST that S3 holds to type and size."""
    patient = patient_in_scope(principal, patient_id, Action.ENROLL)
    document_id = idem.derived("document") if idem.active else new_ulid()
    item = {
        "PK": keys.patient_pk(principal.org_id, patient_id),
        "SK": keys.document_sk(document_id),
        "type": "document",
        "org_id": principal.org_id,
        "deployment_id": patient.deployment_id,
        "patient_id": patient_id,
        "document_id": document_id,
        "object_key": object_key(principal.org_id, document_id),
        "content_type": body.content_type,
        "size": body.size,
        "status": "pending",
        "created_by": principal.user_id,
        "created_at": _now(),
        "body_sha256": idem.fingerprint,
    }
    writes: list[dict[str, Any]] = [
        {"Put": {"TableName": _table(), "Item": to_item(item), "ConditionExpression": "attribute_not_exists(PK)"}},
        audit_put(
            principal,
            action="document.presign_upload",
            target_type="document",
            target_id=document_id,
            deployment_id=patient.deployment_id,
            request_id=request_id,
        ),
    ]
    if idem.active:
        writes.append(idem.put(f"{patient_id}/document/{document_id}", {"document_id": document_id}, 201))
    replay = False
    try:
        transact(writes)
    except Cancelled:
        if not idem.active:  # pragma: no cover - a fresh ULID never collides
            raise Conflict("the document conflicted with a concurrent request; retry") from None
        first = idem.replay()
        if first is None:  # pragma: no cover - the marker and the document are written together
            raise Conflict("the document conflicted with a concurrent request; retry") from None
        document_id = str(first["document_id"])
        replay = True
    return _presigned_post(principal.org_id, document_id, body.size), replay


def documents_of(
    principal: Principal, patient_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[DocumentRecord], str | None]:
    """One page of a patient's order documents (profile read for scope, then one query) and the next cursor."""
    patient_in_scope(principal, patient_id, Action.READ)
    after = paging.decode_cursor(cursor, keys.document_sk(""))
    documents, last = list_documents(principal.org_id, patient_id, limit, after)
    audit_log(principal, action="documents.list", target_type="patient", target_id=patient_id)
    return documents, paging.encode_cursor(last)


def download_link(principal: Principal, patient_id: str, document_id: str) -> tuple[DocumentRecord, str, int]:
    """A presigned GET of one order document, with a generic file name; the presign is audited."""
    record = get_document(principal.org_id, patient_id, document_id)
    if record is None or not _visible(principal, Action.READ, record.deployment_id):
        raise NotFound("document not found")
    ttl = get_settings().presign_ttl_seconds
    url = s3().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": get_settings().documents_bucket,
            "Key": record.object_key,
            "ResponseContentDisposition": f'attachment; filename="{DOWNLOAD_NAME}"',
            "ResponseContentType": "application/pdf",
        },
        ExpiresIn=ttl,
    )
    audit_log(principal, action="document.presign_download", target_type="document", target_id=document_id)
    return record, url, ttl
