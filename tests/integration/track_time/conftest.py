"""Fixtures of the time-tracking suite: seeded deployment, patient and enrollment; a caller; pinned clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.events import claims_for
from rpm_billing import clock
from rpm_billing.db import keys
from rpm_billing.db.client import dynamodb, from_item, to_item
from rpm_billing.settings import get_settings

ORG, DEP, PAT = "org1", "dep1", "pat1"
NOW = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)


def put(item: dict[str, Any]) -> None:
    dynamodb().put_item(TableName=get_settings().table_name, Item=to_item(item))


def get(pk: str, sk: str) -> dict[str, Any] | None:
    item = dynamodb().get_item(TableName=get_settings().table_name, Key=keys.key(pk, sk), ConsistentRead=True)
    return from_item(item["Item"]) if "Item" in item else None


def seed(
    org: str = ORG,
    dep: str = DEP,
    patient: str = PAT,
    *,
    practice_zone: str = "America/Chicago",
    patient_zone: str = "America/New_York",
    status: str | None = "active",
    offline: bool = False,
) -> None:
    """Deployment config, patient profile and (unless ``status`` is None) enrollment, per docs/data-model.md."""
    put(
        {
            "PK": keys.deployment_pk(org, dep),
            "SK": keys.CONFIG_SK,
            "type": "billing_config",
            "org_id": org,
            "deployment_id": dep,
            "enabled": True,
            "program": "RPM",
            "time_zone": practice_zone,
            "offline_appointments": offline,
            "version": 1,
        }
    )
    put(
        {
            "PK": keys.patient_pk(org, patient),
            "SK": keys.PROFILE_SK,
            "type": "patient",
            "org_id": org,
            "deployment_id": dep,
            "patient_id": patient,
            "given_name": "Ann",
            "family_name": "Example",
            "birth_date": "1950-01-01",
            "time_zone": patient_zone,
            "billing_state": "enrolled" if status == "active" else "awaiting",
        }
    )
    if status is not None:
        put(
            {
                "PK": keys.patient_pk(org, patient),
                "SK": keys.ENROLLMENT_SK,
                "type": "enrollment",
                "org_id": org,
                "deployment_id": dep,
                "patient_id": patient,
                "status": status,
                "episode_id": "01EPISODE",
                "version": 1,
                "insurance_carriers": [{"name": "Medicare", "member_id": "M1"}],
                "billing_provider": {"name": "Dr A", "npi": "1234567893"},
                "primary_diagnosis": "I10",
                "consent_date": "2026-01-02",
                "enrolled_at": "2026-01-02T00:00:00+00:00",
            }
        )


def month_item(month: str, patient: str = PAT, org: str = ORG) -> dict[str, Any] | None:
    return get(keys.patient_pk(org, patient), keys.month_sk(month))


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from rpm_billing.db.enrollment import forget_config
    from rpm_billing.db.time_tracking import forget_totals
    from track_time.context import forget_patients

    for forget in (forget_config, forget_totals, forget_patients):
        forget()
    clock.pin(NOW)
    yield
    clock.pin(None)
    for forget in (forget_config, forget_totals, forget_patients):
        forget()


@pytest.fixture
def seeded(aws: None) -> None:
    seed()


def claims(role: str = "Contributor", user: str = "clin-1", org: str = ORG, dep: str = DEP, **kw: Any) -> dict:
    return claims_for(role, org, dep, user_id=user, **kw)


Call = Callable[..., tuple[int, dict[str, Any], Any]]


@pytest.fixture
def api(call_api: Call) -> Callable[..., tuple[int, Any]]:
    """Call the track_time handler: ``api(method, path, body=..., key=..., user=..., role=...)``."""
    from track_time.app import lambda_handler

    def call(
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        user: str = "clin-1",
        role: str = "Contributor",
        org: str = ORG,
        dep: str = DEP,
        query: Any = None,
        raw_claims: dict | None = None,
    ) -> tuple[int, Any]:
        headers = {"Idempotency-Key": key} if key else {}
        who = raw_claims if raw_claims is not None else claims(role, user, org, dep)
        status, _, parsed = call_api(lambda_handler, method, path, body=body, headers=headers, claims=who, query=query)
        return status, parsed

    return call


def entry_body(started_at: str = "2026-03-10T14:00:00+00:00", duration: int = 600, **extra: Any) -> dict:
    body = {"activity": "data_review", "started_at": started_at, "duration_seconds": duration}
    body.update(extra)
    return body


ENTRIES = f"/v1/patients/{PAT}/time-entries"
