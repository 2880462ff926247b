"""Fixtures of the enrollment suite: a configured deployment, callers of each role, a pinned clock."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.events import claims_for
from rpm_billing import clock
from rpm_billing.db.enrollment import forget_config

ORG = "org1"
DEP = "dep1"
NPI = "1234567893"
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

CONFIG = {
    "program": "RPM",
    "time_zone": "America/Chicago",
    "offline_appointments": True,
    "insurance_carriers": [{"name": "Medicare"}, {"name": "Acme Health"}],
    "billing_providers": [{"name": "Dr Provider", "npi": NPI}],
    "icd10_codes": [{"code": "I10", "description": "Essential hypertension"}, {"code": "E11.9"}],
    "policy": {},
}

PATIENT = {"given_name": "Ada", "family_name": "Example", "birth_date": "1950-02-01", "mrn": "M-1"}

ENROLLMENT = {
    "insurance_carriers": [{"name": "Medicare", "member_id": "1EG4TE5MK72"}],
    "billing_provider": {"name": "Dr Provider"},
    "primary_diagnosis": "I10",
    "consent_date": "2026-03-01",
    "established_patient": True,
}


@pytest.fixture(autouse=True)
def _pinned_clock() -> Iterator[None]:
    clock.pin(NOW)
    forget_config()
    yield
    clock.pin(None)
    forget_config()


def admin(org: str = ORG) -> dict[str, str]:
    return claims_for("Admin", org, user_id="admin-1")


def staff(deployments: str = DEP, user: str = "staff-1") -> dict[str, str]:
    return claims_for("DeploymentStaff", ORG, deployments, user_id=user)


@pytest.fixture
def api(aws: None, call_api: Callable[..., Any]) -> Callable[..., Any]:
    """Call the enrollment function: ``api(method, path, claims=..., body=..., headers=...)``."""
    from enroll.app import lambda_handler

    def call(method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("claims", admin())
        return call_api(lambda_handler, method, path, **kwargs)

    return call


@pytest.fixture
def configured(api: Callable[..., Any]) -> Callable[..., Any]:
    """A deployment with billing configured and one registered patient ``p1``."""
    status, _, body = api("PUT", f"/v1/deployments/{DEP}/billing-config", body=CONFIG)
    assert status == 200, body
    status, _, body = api("PUT", f"/v1/deployments/{DEP}/patients/p1", body=PATIENT)
    assert status == 201, body
    return api


@pytest.fixture
def enrolled(configured: Callable[..., Any]) -> Callable[..., Any]:
    """``configured`` with ``p1`` enrolled."""
    status, _, body = configured("POST", "/v1/patients/p1/billing/enrollment", body=ENROLLMENT)
    assert status == 201, body
    return configured
