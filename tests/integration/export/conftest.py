"""Seeding helpers of the export suite: items written directly as docs/data-model.md describes them."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rpm_billing import clock
from rpm_billing.db import keys

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
CANARY = "ZQXCANARY"

Caller = Callable[..., tuple[int, dict[str, Any], Any]]


def put(item: dict[str, Any]) -> None:
    from rpm_billing.db.client import dynamodb, to_item
    from rpm_billing.settings import get_settings

    dynamodb().put_item(TableName=get_settings().table_name, Item=to_item(item))


def days(start: date, count: int) -> list[date]:
    """``count`` consecutive dates from ``start``."""
    return [start + timedelta(days=i) for i in range(count)]


def fact(started_at: str, minutes: int, *, call: bool = False) -> dict[str, Any]:
    """An ``E#`` time-entry fact of a month aggregate."""
    return {
        "started_at": started_at,
        "duration_seconds": minutes * 60,
        "activity": "call" if call else "data_review",
        "clinician_id": "clin-1",
        "clinical_role": "clinical_staff",
        "interactive": call,
        "modality": "audio" if call else None,
    }


@dataclass
class Tenant:
    """One organisation and deployment, with helpers that seed its items."""

    org_id: str = field(default_factory=lambda: f"org-{uuid.uuid4().hex[:8]}")
    deployment_id: str = field(default_factory=lambda: f"dep-{uuid.uuid4().hex[:8]}")
    time_zone: str = "America/New_York"

    def config(self) -> None:
        put(
            {
                "PK": keys.deployment_pk(self.org_id, self.deployment_id),
                "SK": keys.CONFIG_SK,
                "type": "billing_config",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "enabled": True,
                "program": "RPM",
                "time_zone": self.time_zone,
                "offline_appointments": False,
                "insurance_carriers": [{"name": "Medicare"}, {"name": "Acme Health"}],
                "billing_providers": [{"name": "Dr Example", "npi": "1234567893"}],
                "icd10_codes": [{"code": "I10", "description": "Essential hypertension"}],
                "policy": {},
                "version": 1,
            }
        )

    def patient(self, patient_id: str | None = None, *, enrolled: bool = True, name: str = CANARY) -> str:
        pid = patient_id or f"pat-{uuid.uuid4().hex[:10]}"
        pk = keys.patient_pk(self.org_id, pid)
        put(
            {
                "PK": pk,
                "SK": keys.PROFILE_SK,
                "GSI1PK": keys.patients_gsi(self.org_id, self.deployment_id),
                "GSI1SK": f"{'enrolled' if enrolled else 'awaiting'}#{pid}",
                "type": "profile",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": pid,
                "given_name": name,
                "family_name": 'Family, "Quoted"',
                "birth_date": "1950-01-01",
                "mrn": "MRN-1",
                "time_zone": self.time_zone,
                "billing_state": "enrolled" if enrolled else "awaiting",
            }
        )
        if enrolled:
            put(
                {
                    "PK": pk,
                    "SK": keys.ENROLLMENT_SK,
                    "GSI1PK": keys.enrolled_gsi(self.org_id, self.deployment_id),
                    "GSI1SK": pid,
                    "type": "enrollment",
                    "org_id": self.org_id,
                    "deployment_id": self.deployment_id,
                    "patient_id": pid,
                    "status": "active",
                    "episode_id": f"ep-{pid}",
                    "version": 1,
                    "insurance_carriers": [{"name": "Medicare", "member_id": "M1"}, {"name": "Acme Health"}],
                    "billing_provider": {"name": "Dr Example", "npi": "1234567893"},
                    "primary_diagnosis": "I10",
                    "consent_date": "2026-09-01",
                    "monitoring_start": "2026-10-15",
                    "established_patient": True,
                    "enrolled_at": "2026-09-01T00:00:00+00:00",
                }
            )
        return pid

    def month(self, pid: str, month: str, *, device_days: Iterable[date] = (), entries: Iterable[Any] = ()) -> None:
        facts = {f"E#e{i}-{month}": e for i, e in enumerate(entries)}
        put(
            {
                "PK": keys.patient_pk(self.org_id, pid),
                "SK": keys.month_sk(month),
                "GSI1PK": keys.month_gsi(self.org_id, self.deployment_id, month),
                "GSI1SK": pid,
                "type": "patient_month",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": pid,
                "month": month,
                "total_seconds": sum(int(e["duration_seconds"]) for e in facts.values()),
                "entry_count": len(facts),
                "interactive_calls": sum(1 for e in facts.values() if e.get("interactive")),
                "device_days": {d.isoformat() for d in device_days} or None,
                **facts,
            }
        )

    def entry(self, pid: str, month: str, entry_id: str, started_at: str, minutes: int, **extra: Any) -> None:
        put(
            {
                "PK": keys.patient_pk(self.org_id, pid),
                "SK": keys.entry_sk(month, entry_id),
                "type": "time_entry",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": pid,
                "entry_id": entry_id,
                "activity": extra.pop("activity", "data_review"),
                "started_at": started_at,
                "duration_seconds": minutes * 60,
                "clinician_id": "clin-1",
                "clinical_role": "clinical_staff",
                "interactive": False,
                "note": "free text, with a comma",
                "version": 1,
                **extra,
            }
        )

    def appointment(self, pid: str, appointment_id: str, scheduled_at: str) -> None:
        put(
            {
                "PK": keys.patient_pk(self.org_id, pid),
                "SK": keys.appointment_sk(appointment_id),
                "type": "appointment",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": pid,
                "appointment_id": appointment_id,
                "scheduled_at": scheduled_at,
                "duration_minutes": 20,
                "status": "scheduled",
                "created_by": "clin-1",
            }
        )

    def readings(self, pid: str, local_date: str, count: int = 2) -> None:
        readings = {
            f"R#r{local_date}-{i}": {
                "measured_at": f"{local_date}T1{i}:00:00+00:00",
                "type": "blood_pressure",
                "source": "device",
                "device_id": "dev-1",
                "value": {"systolic": 120 + i, "diastolic": 80},
                "unit": "mmHg",
            }
            for i in range(count)
        }
        put(
            {
                "PK": keys.patient_pk(self.org_id, pid),
                "SK": keys.reading_day_sk(local_date),
                "type": "reading_day",
                "org_id": self.org_id,
                "deployment_id": self.deployment_id,
                "patient_id": pid,
                "reading_ids": {name[2:] for name in readings},
                **readings,
            }
        )

    def billable_november(self, patient_id: str | None = None) -> str:
        """A patient with readings on 20 days from 2026-10-15 and 25 minutes (one call) in November."""
        pid = self.patient(patient_id)
        self.month(pid, "2026-10", device_days=days(date(2026, 10, 15), 10))
        self.month(
            pid,
            "2026-11",
            device_days=days(date(2026, 11, 1), 10),
            entries=[fact("2026-11-10T15:00:00+00:00", 15, call=True), fact("2026-11-12T15:00:00+00:00", 10)],
        )
        return pid

    def claims(self, role: str = "DeploymentStaff", user_id: str = "user-1") -> dict[str, str]:
        from local.events import claims_for

        return claims_for(role, self.org_id, self.deployment_id, user_id=user_id)

    def path(self) -> str:
        return f"/v1/deployments/{self.deployment_id}/exports"


@pytest.fixture
def pinned() -> Iterator[datetime]:
    clock.pin(NOW)
    yield NOW
    clock.pin(None)


@pytest.fixture
def tenant(aws: None, pinned: datetime) -> Tenant:
    t = Tenant()
    t.config()
    return t


def download(job: dict[str, Any]) -> zipfile.ZipFile:
    """The export's ZIP, read from the (emulated) bucket."""
    from rpm_billing.db.client import s3
    from rpm_billing.settings import get_settings

    key = job.get("object_key") or f"exports/{job['org_id']}/{job['export_id']}.zip"
    body = s3().get_object(Bucket=get_settings().exports_bucket, Key=key)["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def request_export(call_api: Caller, tenant: Tenant, body: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
    from export.app import lambda_handler

    claims = kwargs.pop("claims", None) or tenant.claims()
    status, _, answer = call_api(lambda_handler, "POST", tenant.path(), body=body, claims=claims, **kwargs)
    return status, answer


def read_export(call_api: Caller, export_id: str, claims: dict[str, str]) -> tuple[int, Any]:
    from export.app import lambda_handler

    status, _, answer = call_api(lambda_handler, "GET", f"/v1/exports/{export_id}", claims=claims)
    return status, answer


def manifest_of(archive: zipfile.ZipFile) -> dict[str, Any]:
    return dict(json.loads(archive.read("manifest.json")))
