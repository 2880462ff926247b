"""Repository for deployment billing configuration, patient profiles, enrollment episodes and order documents.

Read functions return typed records (never raw items) and are shared by every function: ``get_config`` /
``get_config_cached`` (per-container TTL cache), ``get_patient``, ``get_enrollment``, ``get_document`` and
``list_documents``. Write helpers build ``TransactWriteItems`` entries so that each use case sends one
transaction with its audit record.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, from_item, query_page
from rpm_billing.settings import get_settings

BillingState = Literal["awaiting", "enrolled", "ended"]
EnrollmentStatus = Literal["active", "ended"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class Carrier(_Record):
    """An insurance carrier the deployment accepts."""

    name: str


class Provider(_Record):
    """A billing provider of the deployment (name and 10-digit NPI)."""

    name: str
    npi: str


class Icd10Code(_Record):
    """An ICD-10-CM code the deployment bills with."""

    code: str
    description: str = ""


class DeploymentConfig(_Record):
    """The billing configuration of one deployment (item ``CONFIG``)."""

    org_id: str
    deployment_id: str
    enabled: bool = True
    program: Literal["RPM", "RTM"]
    rtm_category: Literal["respiratory", "musculoskeletal", "cbt"] | None = None
    time_zone: str
    offline_appointments: bool = False
    insurance_carriers: tuple[Carrier, ...] = ()
    billing_providers: tuple[Provider, ...] = ()
    icd10_codes: tuple[Icd10Code, ...] = ()
    policy: dict[str, Any] = {}
    version: int = 1
    updated_at: str = ""


class PatientRecord(_Record):
    """A registered patient (item ``PROFILE``). The four identifying fields are PHI: never log them."""

    org_id: str
    deployment_id: str
    patient_id: str
    given_name: str
    family_name: str
    birth_date: date
    mrn: str | None = None
    time_zone: str
    billing_state: BillingState = "awaiting"
    created_at: str = ""
    updated_at: str = ""


class EnrolledCarrier(_Record):
    """An insurance carrier of an enrollment (primary first)."""

    name: str
    member_id: str | None = None


class EnrolledProvider(_Record):
    """The billing provider of an enrollment."""

    name: str
    npi: str | None = None


class EnrollmentRecord(_Record):
    """The current billing episode of a patient (item ``ENROLLMENT``)."""

    org_id: str
    deployment_id: str
    patient_id: str
    status: EnrollmentStatus
    episode_id: str
    version: int
    insurance_carriers: tuple[EnrolledCarrier, ...]
    billing_provider: EnrolledProvider
    primary_diagnosis: str
    consent_date: date
    monitoring_start: date | None = None
    first_reading_day: date | None = None
    established_patient: bool = False
    enrolled_at: str
    ended_at: str | None = None
    ended_reason: str | None = None
    setup_billed: dict[str, Any] | None = None


class DocumentRecord(_Record):
    """A physician order upload (item ``DOC#{document_id}``)."""

    org_id: str
    deployment_id: str
    patient_id: str
    document_id: str
    object_key: str
    content_type: str
    size: int
    status: Literal["pending", "uploaded"] = "pending"
    created_by: str
    created_at: str
    body_sha256: str | None = None


# Items ----------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Decimals from DynamoDB as int (every number this repository stores is an integer)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_from_item(item: dict[str, Any]) -> DeploymentConfig:
    """A ``DeploymentConfig`` from a DynamoDB JSON item."""
    return DeploymentConfig.model_validate(_plain(from_item(item)))


def patient_from_item(item: dict[str, Any]) -> PatientRecord:
    """A ``PatientRecord`` from a DynamoDB JSON item."""
    return PatientRecord.model_validate(_plain(from_item(item)))


def enrollment_from_item(item: dict[str, Any]) -> EnrollmentRecord:
    """An ``EnrollmentRecord`` from a DynamoDB JSON item."""
    return EnrollmentRecord.model_validate(_plain(from_item(item)))


def document_from_item(item: dict[str, Any]) -> DocumentRecord:
    """A ``DocumentRecord`` from a DynamoDB JSON item."""
    return DocumentRecord.model_validate(_plain(from_item(item)))


def _get(pk: str, sk: str) -> dict[str, Any] | None:
    response = dynamodb().get_item(TableName=get_settings().table_name, Key=keys.key(pk, sk), ConsistentRead=True)
    return response.get("Item")


# Reads ----------------------------------------------------------------------------------------------------


def get_config(org_id: str, deployment_id: str) -> DeploymentConfig | None:
    """Read a deployment's billing configuration (one GetItem).

    Args:
        org_id: The caller's organisation (from verified claims).
        deployment_id: The deployment.

    Returns:
        The configuration, or ``None`` when billing was never configured for the deployment.
    """
    item = _get(keys.deployment_pk(org_id, deployment_id), keys.CONFIG_SK)
    return config_from_item(item) if item else None


_config_cache: dict[tuple[str, str], tuple[float, DeploymentConfig | None]] = {}


def get_config_cached(org_id: str, deployment_id: str) -> DeploymentConfig | None:
    """The deployment's configuration, cached in this container for ``settings.config_cache_seconds``.

    A missing configuration is cached too, so a misconfigured deployment does not cost a read per request.
    Writes in this container invalidate the entry (``forget_config``); other containers see a change after
    at most the TTL.
    """
    ttl = get_settings().config_cache_seconds
    cache_key = (org_id, deployment_id)
    hit = _config_cache.get(cache_key)
    now = time.monotonic()
    if ttl > 0 and hit is not None and now - hit[0] < ttl:
        return hit[1]
    config = get_config(org_id, deployment_id)
    if ttl > 0:
        _config_cache[cache_key] = (now, config)
    return config


def forget_config(org_id: str | None = None, deployment_id: str | None = None) -> None:
    """Drop one cached configuration, or all of them when called without arguments."""
    if org_id is None or deployment_id is None:
        _config_cache.clear()
    else:
        _config_cache.pop((org_id, deployment_id), None)


def get_patient(org_id: str, patient_id: str) -> PatientRecord | None:
    """Read a patient's profile (one GetItem); ``None`` if there is no such patient in the organisation."""
    item = _get(keys.patient_pk(org_id, patient_id), keys.PROFILE_SK)
    return patient_from_item(item) if item else None


def get_enrollment(org_id: str, patient_id: str) -> EnrollmentRecord | None:
    """Read a patient's current billing episode (one GetItem); ``None`` if never enrolled."""
    item = _get(keys.patient_pk(org_id, patient_id), keys.ENROLLMENT_SK)
    return enrollment_from_item(item) if item else None


def get_document(org_id: str, patient_id: str, document_id: str) -> DocumentRecord | None:
    """Read one physician order document record (one GetItem)."""
    item = _get(keys.patient_pk(org_id, patient_id), keys.document_sk(document_id))
    return document_from_item(item) if item else None


def list_documents(
    org_id: str, patient_id: str, limit: int = 100, after: str | None = None
) -> tuple[list[DocumentRecord], str | None]:
    """One page of a patient's order documents, oldest first, and the SK to resume after (one query)."""
    items, last = query_page(keys.patient_pk(org_id, patient_id), keys.document_sk(""), limit, after)
    return [document_from_item(item) for item in items], last


def list_patients_page(
    org_id: str, deployment_id: str, bucket: str | None, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[PatientRecord], dict[str, Any] | None]:
    """One page of a deployment's patients from GSI1, optionally only one list bucket.

    Args:
        org_id: The caller's organisation.
        deployment_id: The deployment.
        bucket: ``"awaiting"`` or ``"enrolled"`` (the ``GSI1SK`` prefix), or ``None`` for every patient.
        limit: Page size.
        start_key: ``LastEvaluatedKey`` of the previous page.

    Returns:
        The patients and the key to continue from (``None`` on the last page).
    """
    condition = "GSI1PK = :pk"
    values: dict[str, Any] = {":pk": {"S": keys.patients_gsi(org_id, deployment_id)}}
    if bucket is not None:
        condition += " AND begins_with(GSI1SK, :bucket)"
        values[":bucket"] = {"S": f"{bucket}#"}
    request: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "IndexName": "GSI1",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "Limit": limit,
    }
    if start_key:
        request["ExclusiveStartKey"] = start_key
    response = dynamodb().query(**request)
    return [patient_from_item(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")


def list_bucket(state: str) -> str:
    """The patient-list bucket (``GSI1SK`` prefix) of a billing state: an ended episode awaits onboarding again."""
    return "enrolled" if state == "enrolled" else "awaiting"
