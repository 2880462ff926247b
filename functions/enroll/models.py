"""Request and response models of the enrollment API. Requests forbid unknown fields."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rpm_billing import clock
from rpm_billing.csvlists import normalise_icd10, npi_valid

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

Name = Field(min_length=1, max_length=200)


def check_zone(value: str) -> str:
    """An IANA time zone name that ``zoneinfo`` knows."""
    if not value or len(value) > 64 or value.startswith(("/", ".")) or ".." in value:
        raise ValueError("is not an IANA time zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone") from None
    return value


def check_not_future(value: date | None) -> date | None:
    """A date that is not after today (UTC)."""
    if value is not None and value > clock.now().date():
        raise ValueError("must not be in the future")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


# Configuration --------------------------------------------------------------------------------------------


class CarrierIn(_Request):
    name: str = Name


class ProviderIn(_Request):
    name: str = Name
    npi: str

    @field_validator("npi")
    @classmethod
    def _npi(cls, value: str) -> str:
        if not npi_valid(value):
            raise ValueError("is not a valid NPI (10 digits with a check digit)")
        return value


class Icd10In(_Request):
    code: str
    description: str = Field(default="", max_length=500)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        normal = normalise_icd10(value)
        if normal is None:
            raise ValueError("is not an ICD-10-CM code")
        return normal


class BillingConfigIn(_Request):
    program: Literal["RPM", "RTM"]
    rtm_category: Literal["respiratory", "musculoskeletal", "cbt"] | None = None
    time_zone: str
    offline_appointments: bool = False
    insurance_carriers: list[CarrierIn] = Field(default_factory=list, max_length=5000)
    billing_providers: list[ProviderIn] = Field(default_factory=list, max_length=5000)
    icd10_codes: list[Icd10In] = Field(default_factory=list, max_length=5000)
    policy: dict[str, bool | int | float | str | None] = Field(default_factory=dict, max_length=50)
    enabled: bool = True

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class BillingConfigOut(_Response):
    deployment_id: str
    enabled: bool
    program: Literal["RPM", "RTM"]
    rtm_category: str | None
    time_zone: str
    offline_appointments: bool
    insurance_carriers: list[dict[str, str]]
    billing_providers: list[dict[str, str]]
    icd10_codes: list[dict[str, str]]
    policy: dict[str, Any]
    version: int
    updated_at: str


# Patients -------------------------------------------------------------------------------------------------


class PatientIn(_Request):
    given_name: str = Name
    family_name: str = Name
    birth_date: date
    mrn: str | None = Field(default=None, min_length=1, max_length=64)
    time_zone: str | None = None

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: date) -> date:
        if value.year < 1880:
            raise ValueError("is too far in the past")
        check_not_future(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)


class PatientOut(_Response):
    patient_id: str
    deployment_id: str
    given_name: str
    family_name: str
    birth_date: date
    mrn: str | None
    time_zone: str
    billing_state: str
    created_at: str
    updated_at: str


class PatientPage(_Response):
    items: list[PatientOut]
    next_cursor: str | None


# Enrollment -----------------------------------------------------------------------------------------------


class EnrollCarrierIn(_Request):
    name: str = Name
    member_id: str | None = Field(default=None, min_length=1, max_length=64)


class EnrollProviderIn(_Request):
    name: str = Name
    npi: str | None = None

    @field_validator("npi")
    @classmethod
    def _npi(cls, value: str | None) -> str | None:
        if value is not None and not npi_valid(value):
            raise ValueError("is not a valid NPI (10 digits with a check digit)")
        return value


def _diagnosis(value: str) -> str:
    normal = normalise_icd10(value)
    if normal is None:
        raise ValueError("is not an ICD-10-CM code")
    return normal


class EnrollmentIn(_Request):
    insurance_carriers: list[EnrollCarrierIn] = Field(min_length=1, max_length=5)
    billing_provider: EnrollProviderIn
    primary_diagnosis: str
    consent_date: date
    monitoring_start: date | None = None
    established_patient: bool = False

    @field_validator("primary_diagnosis")
    @classmethod
    def _dx(cls, value: str) -> str:
        return _diagnosis(value)

    @field_validator("consent_date")
    @classmethod
    def _consent(cls, value: date) -> date:
        check_not_future(value)
        return value


class EnrollmentPatch(_Request):
    insurance_carriers: list[EnrollCarrierIn] | None = Field(default=None, min_length=1, max_length=5)
    billing_provider: EnrollProviderIn | None = None
    primary_diagnosis: str | None = None
    consent_date: date | None = None
    monitoring_start: date | None = None
    established_patient: bool | None = None

    @field_validator("primary_diagnosis")
    @classmethod
    def _dx(cls, value: str | None) -> str | None:
        return None if value is None else _diagnosis(value)

    @field_validator("consent_date")
    @classmethod
    def _consent(cls, value: date | None) -> date | None:
        return check_not_future(value)


EndReason = Literal[
    "patient_request", "consent_withdrawn", "discharged", "deceased", "insurance_change", "transferred", "other"
]


class EndIn(_Request):
    reason: EndReason | None = None


class EnrollmentOut(_Response):
    patient_id: str
    deployment_id: str
    status: str
    episode_id: str
    version: int
    insurance_carriers: list[dict[str, str | None]]
    billing_provider: dict[str, str | None]
    primary_diagnosis: str
    consent_date: date
    monitoring_start: date | None
    first_reading_day: date | None
    established_patient: bool
    enrolled_at: str
    ended_at: str | None
    ended_reason: str | None


# Documents ------------------------------------------------------------------------------------------------


class DocumentIn(_Request):
    content_type: Literal["application/pdf"]
    size: int = Field(gt=0, le=MAX_DOCUMENT_BYTES)


class UploadOut(_Response):
    url: str
    fields: dict[str, str]


class DocumentUploadOut(_Response):
    document_id: str
    upload: UploadOut
    expires_in: int


class DocumentOut(_Response):
    document_id: str
    content_type: str
    size: int
    status: str
    created_at: str


class DocumentList(_Response):
    items: list[DocumentOut]
    next_cursor: str | None = None


class DocumentLinkOut(DocumentOut):
    url: str
    expires_in: int
