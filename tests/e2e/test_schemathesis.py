"""schemathesis against the running local stack's ``/openapi.json``: no server errors, answers that conform.

The run is the schemathesis CLI in a subprocess (its pytest loader for fixtures, ``schemathesis.pytest.
from_fixture``, does not work with pytest 9), bounded and reproducible: a fixed seed, deterministic
generation, no example database, a few examples per operation, the coverage and fuzzing phases, one worker.
It acts as an Admin of an organisation of its own, seeded through the API with one deployment, two patients
and one object of every kind; path parameters draw on those ids half of the time, so generated requests reach
the handlers' logic instead of stopping at 404. Its JSON report and HAR file are read back for the verdict.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import Reply, Stack

pytestmark = pytest.mark.e2e

ORG = "e2e-fuzz-org"
DEPLOYMENT = "fuzz-deployment"
PATIENTS = ("fuzz-patient-1", "fuzz-patient-2")
SEED = 20261204
MAX_EXAMPLES = 25
RUN_TIMEOUT_S = 150
#: One worker: the run stays reproducible and Hypothesis runs in one thread only.
WORKERS = 1
#: Share of generated path parameters taken from the seeded ids.
KNOWN_ID_PROBABILITY = 0.5
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
)
TOKEN_VARIABLE = "E2E_FUZZ_TOKEN"
#: Methods the coverage phase sends where the document declares none: those the gateway implements, which must
#: answer 405 (or 401). TRACE and QUERY are left out: the stack implements them for no resource at all, so its
#: HTTP server answers 501 before the gateway, the status RFC 9110 (15.6.2) prescribes for such a method.
UNEXPECTED_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]


@dataclass(frozen=True)
class Target:
    """The seeded organisation: the Admin's token and the ids of what exists, by path parameter name."""

    token: str
    ids: dict[str, list[str]]
    replies: dict[str, Reply]


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture(scope="module")
def target(stack: Stack) -> Target:
    """One deployment of a fresh organisation with a patient enrolled, timed and read, and one of each object."""
    token = stack.token("Admin", ORG, DEPLOYMENT, user="fuzz-admin", clinical_role="physician")
    call = stack.client(token)
    now = datetime.now(UTC).replace(microsecond=0)
    patient = PATIENTS[0]
    replies: dict[str, Reply] = {
        "config": call(
            "PUT",
            f"/v1/deployments/{DEPLOYMENT}/billing-config",
            {
                "program": "RPM",
                "time_zone": "America/Denver",
                "offline_appointments": True,
                "insurance_carriers": [{"name": "Medicare Part B"}],
                "billing_providers": [{"name": "Fuzz Clinic", "npi": "1234567893"}],
                "icd10_codes": [{"code": "I10"}],
            },
        )
    }
    for index, patient_id in enumerate(PATIENTS):
        replies[f"patient{index}"] = call(
            "PUT",
            f"/v1/deployments/{DEPLOYMENT}/patients/{patient_id}",
            {"given_name": "Fuzz", "family_name": f"Patient{index}", "birth_date": "1960-01-01"},
        )
    replies["enrollment"] = call(
        "POST",
        f"/v1/patients/{patient}/billing/enrollment",
        {
            "insurance_carriers": [{"name": "Medicare Part B"}],
            "billing_provider": {"name": "Fuzz Clinic"},
            "primary_diagnosis": "I10",
            "consent_date": (now - timedelta(days=12)).date().isoformat(),
            "monitoring_start": (now - timedelta(days=10)).date().isoformat(),
            "established_patient": True,
        },
    )
    readings = [
        {
            "reading_id": f"fuzz-{day}",
            "measured_at": (now - timedelta(days=day)).isoformat(),
            "type": "weight",
            "source": "device",
            "device_id": "fuzz-scale",
            "value": {"kg": 80},
            "unit": "kg",
        }
        for day in range(1, 4)
    ]
    replies["readings"] = call("POST", f"/v1/patients/{patient}/readings", {"readings": readings}, _key())
    replies["entry"] = call(
        "POST",
        f"/v1/patients/{patient}/time-entries",
        {"activity": "note", "started_at": (now - timedelta(hours=3)).isoformat(), "duration_seconds": 120},
        _key(),
    )
    replies["appointment"] = call(
        "POST",
        f"/v1/patients/{patient}/appointments",
        {"scheduled_at": (now + timedelta(days=1)).isoformat(), "duration_minutes": 15},
    )
    replies["document"] = call(
        "POST", f"/v1/patients/{patient}/billing/documents", {"content_type": "application/pdf", "size": 1000}
    )
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    replies["evaluation"] = call("POST", f"/v1/deployments/{DEPLOYMENT}/billing/evaluations", {"month": last_month})
    replies["export"] = call(
        "POST",
        f"/v1/deployments/{DEPLOYMENT}/exports",
        {"patients": "all", "month": last_month, "include": ["billing_status"], "format": "json"},
    )

    def field(name: str, *path: str) -> list[str]:
        value: Any = replies[name].json or {}
        for part in path:
            value = value.get(part, {}) if isinstance(value, dict) else {}
        return [value] if isinstance(value, str) and value else []

    ids = {
        "deployment_id": [DEPLOYMENT],
        "patient_id": list(PATIENTS),
        "entry_id": field("entry", "entry", "entry_id"),
        "appointment_id": field("appointment", "appointment", "appointment_id"),
        "document_id": field("document", "document_id"),
        "evaluation_id": field("evaluation", "evaluation_id"),
        "export_id": field("export", "export_id"),
        "list_name": ["insurance-carriers", "billing-providers", "icd10-codes"],
    }
    return Target(token=token, ids=ids, replies=replies)


def test_fuzz_target_seeded_through_the_api(target: Target) -> None:
    # Given / When: the organisation the run acts in, seeded through the API
    statuses = {name: reply.status for name, reply in target.replies.items()}
    # Then: every object exists, so the path parameters can name real ones
    assert statuses == {
        "config": 200,
        "patient0": 201,
        "patient1": 201,
        "enrollment": 201,
        "readings": 200,
        "entry": 201,
        "appointment": 201,
        "document": 201,
        "evaluation": 202,
        "export": 202,
    }
    assert all(target.ids.values())


def _toml(value: Any) -> str:
    """A TOML value for the plain data of the configuration (strings, numbers, booleans, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(key)} = {_toml(item)}" for key, item in value.items()) + " }"


def config_text(ids: dict[str, list[str]]) -> str:
    """The run's ``schemathesis.toml``; the token comes from the environment, never from a file."""
    tables: dict[str, dict[str, Any]] = {
        "": {"seed": SEED, "suppress-health-check": ["all"], "workers": WORKERS, "request-timeout": 30},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases.examples": {"enabled": False},
        "phases.coverage": {"unexpected-methods": UNEXPECTED_METHODS},
        "phases.stateful": {"enabled": False},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "auth.openapi.bearer": {"bearer": "${" + TOKEN_VARIABLE + "}"},
        **{f"dictionaries.{name}": {"values": values} for name, values in ids.items() if values},
        "parameters": {
            f"path.{name}": {"dictionary": name, "probability": KNOWN_ID_PROBABILITY}
            for name, values in ids.items()
            if values
        },
    }
    lines = []
    for table, entries in tables.items():
        if table:
            lines.append(f"\n[{table}]")
        lines += [f"{json.dumps(key)} = {_toml(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Run:
    """One schemathesis run: exit code, console output, JSON report and HAR log."""

    returncode: int
    output: str
    report: dict[str, Any]
    har: dict[str, Any]

    def findings(self) -> str:
        """The console's failures and errors sections, for assertion messages (else the output's end)."""
        found = re.search(r"^=+ (FAILURES|ERRORS) =+$", self.output, flags=re.MULTILINE)
        return self.output[found.start() : found.start() + 12000] if found else self.output[-6000:]

    def statuses(self) -> Counter[tuple[str, str, int]]:
        """Answers by (method, path, status) as sent over the wire."""
        return Counter(
            (entry["request"]["method"], urlsplit(entry["request"]["url"]).path, entry["response"]["status"])
            for entry in self.har["log"]["entries"]
        )


@pytest.fixture(scope="module")
def fuzz_run(stack: Stack, target: Target, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``schemathesis run`` against the stack's document, bounded and reproducible."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    config = workdir / "schemathesis.toml"
    config.write_text(config_text(target.ids))
    report, har = workdir / "report.json", workdir / "run.har"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{stack.url}/openapi.json",
        "--report",
        "json,har",
        "--report-json-path",
        str(report),
        "--report-har-path",
        str(har),
    ]
    env = {**os.environ, TOKEN_VARIABLE: target.token}
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    output = done.stdout + done.stderr
    assert report.exists() and har.exists(), output[-4000:]
    return Run(done.returncode, output, json.loads(report.read_text()), json.loads(har.read_text()))


def test_schemathesis_run_finds_no_failures(fuzz_run: Run) -> None:
    # Given / When: the bounded run over every operation of the document
    report = fuzz_run.report
    # Then: it passed, with no failure and no error, and tested every operation
    assert report["failures"] == [] and report["errors"] == [], fuzz_run.findings()
    assert fuzz_run.returncode == 0, fuzz_run.findings()
    assert report["seed"] == SEED
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"] >= 27
    assert report["test_cases"]["generated"] >= operations["total"] * MAX_EXAMPLES // 2


def _operation(method: str, path: str) -> str:
    """The document's operation that serves a concrete request, as routed by the functions themselves."""
    import importlib

    for module in ("enroll.app", "track_time.app", "evaluate.app", "export.app"):
        spec = importlib.import_module(module).app.match(method, path)
        if spec is not None:
            return f"{spec.method} {spec.template}"
    return f"{method} (no route) {path}"


def test_schemathesis_run_reaches_the_handlers(fuzz_run: Run) -> None:
    # Given: every answer of the run
    statuses = fuzz_run.statuses()
    # When: grouped by the operation that served it
    succeeded = {_operation(method, path) for (method, path, status) in statuses if 200 <= status < 300}
    answered = {status for (_, _, status) in statuses}
    # Then: generated requests got past the gateway into the handlers' logic, reads and writes alike
    assert len(succeeded) >= 12, sorted(succeeded)
    assert any(operation.split()[0] in ("POST", "PUT", "PATCH", "DELETE") for operation in succeeded), succeeded
    assert {200, 401, 404, 422} <= answered
    assert not any(status >= 500 for status in answered)
