"""Cold start: import + first request of every function, each in a fresh process, beside a reference handler.

The parent starts moto's server on 127.0.0.1 with the product's table, seeds one deployment and points each
child at it with ``AWS_ENDPOINT_URL``. A child imports a handler module and handles one cheap GET that
touches DynamoDB, timing both from inside the process (interpreter start-up excluded; it is the same for
every handler). The reference is a handler built the usual way: module-level Logger, Tracer and Metrics,
``APIGatewayRestResolver(enable_validation=True)``, Powertools' idempotency ``DynamoDBPersistenceLayer``, two
boto3 clients and one route doing a GetItem. Each figure is the median of ``RUNS`` runs, taken in interleaved
rounds (every case once per round).

As deployed, the layers and function code ship bytecode (``infra.bytecode``): the children import the
product from a copy compiled by the same bundling script with this interpreter. Third-party packages are
compiled in the virtualenv, as in the deployed dependency layer. One more case per function imports a copy
of the product's own code with no bytecode (third-party packages still compiled), to show what it saves.

Run with ``python -m bench bench_coldstart`` (or ``make bench``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
GOAL = 0.7
TABLE = "rpm-billing-bench"
ORG, DEP = "bench-org", "bench-dep"

REFERENCE = """
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

logger = Logger(service="reference")
tracer = Tracer(service="reference")
metrics = Metrics(namespace="Reference", service="reference")
app = APIGatewayRestResolver(enable_validation=True)
persistence = DynamoDBPersistenceLayer(table_name="%(table)s")
dynamodb = boto3.client("dynamodb")
s3 = boto3.client("s3")


@app.get("/v1/deployments/<deployment_id>/billing-config")
def get_config(deployment_id: str) -> dict:
    key = {"PK": {"S": "ORG#x#DEP#" + deployment_id}, "SK": {"S": "CONFIG"}}
    item = dynamodb.get_item(TableName="%(table)s", Key=key)
    return {"found": "Item" in item}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
"""

CHILD = """
import importlib, json, sys, time
sys.path.insert(0, %(root)r)
from local.events import claims_for, rest_event  # its package puts the sources first: the product path wins
sys.path[:] = [*%(paths)r, *(p for p in sys.path if p not in %(sources)r)]
event = rest_event("GET", %(path)r, claims=claims_for("Admin", %(org)r, user_id="bench"))

class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    def get_remaining_time_in_millis(self): return 30000

started, cpu_started = time.perf_counter(), time.process_time()
module = importlib.import_module(%(module)r)
imported = time.perf_counter()
response = module.lambda_handler(event, Context())
handled, cpu_handled = time.perf_counter(), time.process_time()
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (handled - imported) * 1000,
                  "cpu_ms": (cpu_handled - cpu_started) * 1000,
                  "status": response["statusCode"], "modules": len(sys.modules), "file": module.__file__,
                  "compiled": getattr(module.__spec__, "cached", None) is not None
                  and __import__("os").path.exists(module.__spec__.cached)}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _functions() -> list[str]:
    """Every ``functions/<name>/app.py`` as an importable module name."""
    return sorted(f"{path.parent.name}.app" for path in (ROOT / "functions").glob("*/app.py"))


def _cheap_get(module: str) -> str | None:
    """A GET route of the module with its parameters filled (the deployment's config when there is one)."""
    import importlib

    app = importlib.import_module(module).app
    gets = [spec for spec in app.routes if spec.method == "GET"]
    gets.sort(key=lambda spec: (spec.template.count("{"), "billing-config" not in spec.template))
    if not gets:
        return None
    path = gets[0].template.replace("{deployment_id}", DEP)
    for part in path.split("/"):
        if part.startswith("{"):
            path = path.replace(part, "bench1")
    return path


def _seed(endpoint: str) -> None:
    import boto3

    from rpm_billing.db import keys
    from rpm_billing.db.schema import create_table_request

    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(**create_table_request(TABLE))
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="rpm-billing-documents-bench")
    item = {
        "PK": {"S": keys.deployment_pk(ORG, DEP)},
        "SK": {"S": keys.CONFIG_SK},
        "type": {"S": "billing_config"},
        "org_id": {"S": ORG},
        "deployment_id": {"S": DEP},
        "enabled": {"BOOL": True},
        "program": {"S": "RPM"},
        "time_zone": {"S": "America/Chicago"},
        "version": {"N": "1"},
    }
    ddb.put_item(TableName=TABLE, Item=item)


def _compiled_copy(into: Path) -> list[str]:
    """The product's import path as deployed: the common layer and the functions, bundled with bytecode."""
    from infra.bundling import bundle_script

    packages = sorted(p.parent.name for p in (ROOT / "functions").glob("*/__init__.py"))
    into.mkdir()
    for name, source, entries, prune in (
        ("common", ROOT / "layers/common", ["python"], ["__pycache__"]),
        ("functions", ROOT / "functions", packages, ["__pycache__", "tests"]),
    ):
        out = into / name
        out.mkdir()
        env = {**os.environ, "SRC": str(source), "OUT": str(out)}
        subprocess.run(["bash", "-c", bundle_script(entries, sys.executable, prune)], env=env, check=True)
    return [str(into / "common/python"), str(into / "functions")]


def _plain_copy(into: Path) -> list[str]:
    """The product's import path with no bytecode at all (the source tree may hold caches of earlier runs)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    shutil.copytree(ROOT / "layers/common/python", into / "common", ignore=skip)
    shutil.copytree(ROOT / "functions", into / "functions", ignore=skip)
    return [str(into / "common"), str(into / "functions")]


SOURCES = [str(ROOT / "layers/common/python"), str(ROOT / "functions")]


def _once(module: str, path: str, env: dict[str, str], product: list[str]) -> dict[str, Any]:
    """Import ``module`` from the ``product`` path and handle one GET in a fresh interpreter; its own timings."""
    code = CHILD % {"root": str(ROOT), "paths": product, "sources": SOURCES, "path": path, "org": ORG, "module": module}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"import_ms"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module}: child failed: {done.stderr.strip().splitlines()[-1:]}")
    sample = dict(json.loads(lines[-1]))
    if not any(str(sample["file"]).startswith(folder) for folder in product):
        raise RuntimeError(f"{module} was imported from {sample['file']}, not from {product}")
    return sample


def _summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "total_ms": statistics.median(s["import_ms"] + s["first_ms"] for s in samples),
        "import_ms": statistics.median(s["import_ms"] for s in samples),
        "first_ms": statistics.median(s["first_ms"] for s in samples),
        "status": samples[-1]["status"],
        "modules": samples[-1]["modules"],
    }


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "TABLE_NAME": TABLE,
            "DOCUMENTS_BUCKET": "rpm-billing-documents-bench",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "PYTHONDONTWRITEBYTECODE": "1",
            # As in Lambda: the X-Ray SDK then samples locally from the trace header instead of building the
            # clients of centralised sampling, and sends segments over UDP to the (absent) daemon.
            "LAMBDA_TASK_ROOT": str(ROOT),
            "_X_AMZN_TRACE_ID": "Root=1-67890abc-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
        }
    )
    env.update(extra)
    return env


def _line(label: str, result: dict[str, Any]) -> str:
    return (
        f"{label:<56} {result['total_ms']:7.0f} ms  (import {result['import_ms']:5.0f} + first request "
        f"{result['first_ms']:5.0f}; HTTP {result['status']}; {result['modules']} modules)"
    )


def run() -> list[str]:
    """Measure every function and the reference; return the report lines."""
    from moto.server import ThreadedMotoServer

    for extra in (str(ROOT / "layers/common/python"), str(ROOT / "functions"), str(ROOT)):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    port = _free_port()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per emulated AWS call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    lines = [f"median of {RUNS} fresh processes each; moto server at 127.0.0.1; goal ratio <= {GOAL}"]
    try:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        _seed(endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "reference_handler.py").write_text(REFERENCE % {"table": TABLE})
            compiled = _compiled_copy(Path(tmp) / "product")
            plain = _plain_copy(Path(tmp) / "plain")
            cases: list[tuple[str, str, str, dict[str, str], list[str]]] = [
                (
                    "reference (usual way)",
                    "reference_handler",
                    f"/v1/deployments/{DEP}/billing-config",
                    _env(endpoint),
                    [tmp],
                )
            ]
            for module in _functions():
                route = _cheap_get(module)
                if route is None:
                    lines.append(f"{module:<34} no GET route to measure")
                    continue
                on = {"POWERTOOLS_TRACE_DISABLED": "false"}
                for label, extra, product in (
                    ("as deployed: tracing on, bytecode", on, compiled),
                    ("tracing off, bytecode", {}, compiled),
                    ("tracing on, own code without bytecode", on, plain),
                ):
                    cases.append((f"{module} [{label}]", module, route, _env(endpoint, **extra), product))
            # Interleaved rounds: a slow spell of the machine touches every case alike, not one of them.
            samples: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in cases}
            for _ in range(RUNS):
                for label, module, route, env, product in cases:
                    samples[label].append(_once(module, route, env, product))
            reference = _summary(samples[cases[0][0]])
            lines.append(_line(cases[0][0], reference))
            for label, *_ in cases[1:]:
                ours = _summary(samples[label])
                ratio = ours["total_ms"] / reference["total_ms"]
                verdict = "meets" if ratio <= GOAL else "misses"
                lines.append(_line(label, ours) + f"  ratio {ratio:.2f} ({verdict} goal)")
    finally:
        server.stop()
    return lines


if __name__ == "__main__":
    for report_line in run():
        print(report_line)
