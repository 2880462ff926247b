"""PHI never reaches logs or error bodies: canaries in every PHI field of valid and invalid requests."""

import io
import logging
import random
import string
from collections.abc import Callable
from typing import Any

import pytest

from rpm_billing.observability import logger

from .conftest import DEP, ENROLLMENT, PATIENT

Api = Callable[..., Any]


def canary() -> str:
    return "ZQX" + "".join(random.choices(string.ascii_uppercase, k=12))


def test_phi_canaries_never_logged_or_echoed(
    configured: Api, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given: canaries in names, MRN, member id, free-text-like fields, CSV rows, cursors and unknown keys
    json_lines = io.StringIO()
    handler = logging.StreamHandler(json_lines)
    handler.setFormatter(logger.registered_formatter)  # the JSON lines the product prints, kwargs included
    logger.addHandler(handler)
    caplog.set_level(logging.INFO)  # the production level; library DEBUG traces hold handler arguments
    c = {name: canary() for name in ("given", "family", "mrn", "member", "dx", "birth", "key", "csv", "cursor")}
    patients = f"/v1/deployments/{DEP}/patients"
    valid = [
        (
            "PUT",
            f"{patients}/p5",
            {"body": {**PATIENT, "given_name": c["given"], "family_name": c["family"], "mrn": c["mrn"]}},
        ),
        (
            "POST",
            "/v1/patients/p5/billing/enrollment",
            {"body": {**ENROLLMENT, "insurance_carriers": [{"name": "Medicare", "member_id": c["member"]}]}},
        ),
        ("GET", patients, {}),
        ("GET", "/v1/patients/p5/billing/enrollment", {}),
    ]
    invalid = [
        ("PUT", f"{patients}/p6", {"body": {**PATIENT, "birth_date": c["birth"], "given_name": c["given"]}}),
        ("PUT", f"{patients}/p6", {"body": {**PATIENT, "nickname": c["family"]}}),
        ("PUT", f"{patients}/p6", {"body": {**PATIENT, "given_name": c["given"] * 30}}),
        ("PUT", f"{patients}/p6", {"body": {**PATIENT, "mrn": c["mrn"], "time_zone": c["mrn"]}}),
        ("POST", "/v1/patients/p1/billing/enrollment", {"body": {**ENROLLMENT, "primary_diagnosis": c["dx"]}}),
        (
            "POST",
            "/v1/patients/p1/billing/enrollment",
            {
                "body": {
                    **ENROLLMENT,
                    "consent_date": c["birth"],
                    "insurance_carriers": [{"name": c["member"], "member_id": c["member"]}],
                }
            },
        ),
        ("POST", "/v1/patients/p1/billing/enrollment", {"body": '{"insurance_carriers": "' + c["member"]}),
        ("DELETE", "/v1/patients/p5/billing/enrollment", {"body": {"reason": c["key"]}}),
        (
            "PUT",
            f"/v1/deployments/{DEP}/billing-config/billing-providers",
            {"body": f"name,npi\n{c['csv']},{c['csv']}\n", "headers": {"Content-Type": "text/csv"}},
        ),
        ("GET", patients, {"query": {"cursor": c["cursor"]}}),
        ("POST", "/v1/patients/p1/billing/documents", {"body": {"content_type": c["key"], "size": 1}}),
    ]
    # When
    errors = []
    for method, path, kwargs in valid:
        status, _, _ = configured(method, path, **kwargs)
        assert status < 300, (method, path)
    for method, path, kwargs in invalid:
        status, _, body = configured(method, path, **kwargs)
        assert 400 <= status < 500, (method, path, status)
        errors.append(str(body))
    captured = capsys.readouterr()
    logger.removeHandler(handler)
    # Then
    haystack = json_lines.getvalue() + captured.out + captured.err + caplog.text + "".join(errors)
    assert '"audit_action":"enrollment.read"' in json_lines.getvalue()  # the capture saw the product's log lines
    for name, value in c.items():
        assert value not in haystack, name
