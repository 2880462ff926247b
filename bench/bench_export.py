"""Export worker memory: peak for 10,000 patients against 100, and rows per second, on moto's server.

The goal (architecture §4 and §7, the issue's acceptance line): the worker reads page by page and streams the ZIP
into an S3 multipart upload, so its peak memory for ``LARGE`` patients must be within ``GOAL`` times its peak for
``SMALL`` patients, for the same request (all enrolled patients, one month, billing status + time entries, CSV).

How it is measured:

- moto runs as a separate server process on 127.0.0.1, so its copy of the table and of the uploaded ZIP parts
  is not in the worker's figure. The parent creates the product's table and the exports bucket there and seeds
  the deployments with ``BatchWriteItem``: per patient the profile, the enrollment (carriers with member ids,
  billing provider, diagnosis), the aggregates of the month and the one before (device days, ``E#`` time-entry
  facts with one interactive call) and the month's time entries; patients differ in names, zones and amounts
  but have the same billing shape, so every one has the same number of billing status rows. A tiny third
  deployment serves as a warm-up.
- Each export runs in a fresh child process pointed at the server with ``AWS_ENDPOINT_URL``, through the
  worker's entry point as Lambda calls it. The child first builds the tiny export (imports, clients, the rules
  engine and the ZIP path are then warm, as in a warm Lambda container), then the measured one, with
  ``tracemalloc`` started and its peak reset right before the call: the figure is that peak minus the traced
  memory at the start (Python allocations only). The same run also resets the kernel's RSS high-water mark
  (``/proc/self/clear_refs``) and reads ``VmHWM`` afterwards, so the peak RSS growth counts C allocations too
  (zlib, the HTTP buffers) and tracemalloc's own bookkeeping, which is printed beside it.
- The large export's ZIP is downloaded and opened: every seeded patient must have the same number of billing
  status rows as in the small export and exactly its time entries, and the manifest must agree.

Emulator cost, not the worker's: moto sorts the whole table for every ``Query`` (even on a partition key) and
encodes every read answer through a generic model walk (about 5 ms per item). The server process therefore
narrows each query's candidates to the partition (base table) or to the index partition (GSI, kept until the
next write; past the start key and ``Limit`` + 1 when no range condition applies), and answers reads with plain
JSON of moto's own result; moto still applies its conditions, paging and limits, so the answers are the same.
Rows per second are still an emulator figure with ``tracemalloc`` on (one local HTTP round trip per request),
not an AWS one.

Run with ``python -m bench bench_export`` (or ``make bench``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PATHS = [str(ROOT / "layers/common/python"), str(ROOT / "functions"), str(ROOT)]
TABLE = "rpm-billing-bench-export"
BUCKET = "rpm-billing-exports-bench"
ORG = "org-bench-export"
SMALL, LARGE, WARM = 100, 10_000, 3
GOAL = 1.3
MONTH = "2026-11"
REQUEST: dict[str, Any] = {
    "patients": "all",
    "from": MONTH,
    "to": MONTH,
    "include": ["billing_status", "time_entries"],
    "format": "csv",
}
#: Per patient: time entries in the month (the first is the interactive call) and device days in it.
ENTRIES = 4
DEVICE_DAYS = 18
ZONES = ("America/Chicago", "America/New_York")
#: Items per ``BatchWriteItem`` (the DynamoDB maximum) and concurrent writers while seeding.
BATCH = 25
WRITERS = 3
CHILD_TIMEOUT = 600

#: moto's server with queries narrowed to their candidates and reads answered as plain JSON (module docstring).
SERVER = """
import bisect, json, logging, sys, threading
from moto.core.responses import ActionResult
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
import moto.server

READS = {"GetItem", "Query", "BatchGetItem", "Scan", "DescribeTable", "ListTables"}
_narrowed = threading.local()
_index = {}
_all_items = Table.all_items
_query = Table.query
_serialized = DynamoHandler.serialized
_call_action = DynamoHandler.call_action


def all_items(self):
    items = getattr(_narrowed, "items", None)
    return _all_items(self) if items is None else items


def _matches(found, expected):
    return found is not None and found == expected


def _index_members(self, index_name, wanted):
    # One index partition in moto's own order (GSI range key, table keys), with the sort keys for bisecting;
    # found by one scan and kept until the next write of any kind. None when an item lacks a key attribute.
    key = (self.name, index_name, tuple((name, value.type, str(value.value)) for name, value in wanted))
    if key not in _index:
        index = {i.name: i for i in self.all_indexes()}[index_name]
        order = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        order += [self.hash_key_attr, self.range_key_attr]
        members = [
            item
            for partition in self.items.values()
            for item in partition.values()
            if all(_matches(item.attrs.get(name), value) for name, value in wanted)
        ]
        if all(name in item.attrs for item in members for name in order):
            ranked = sorted((tuple(item.attrs[name].cast_value for name in order), item) for item in members)
            _index[key] = (order, [r[0] for r in ranked], [r[1] for r in ranked])
        else:
            _index[key] = None
    return _index[key]


def query(self, hash_key, *args, **kwargs):
    if len(args) < 5 or (hash_key is None and not kwargs.get("hash_key_conditions")):
        return _query(self, hash_key, *args, **kwargs)
    range_comparison, _, limit, start, forward = args[:5]
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    # moto applies a filter expression after the limit, but range conditions and legacy filters before it.
    filtered = range_comparison or kwargs.get("range_key_conditions") or set(kwargs) - {
        "index_name", "consistent_read", "filter_expression", "hash_key_conditions", "range_key_conditions"
    }
    wanted = list(kwargs.get("hash_key_conditions") or [])
    if index_name:
        found = _index_members(self, index_name, wanted) if wanted else None
        if found is None:
            return _query(self, hash_key, *args, **kwargs)
        order, ranks, items = found
        first = 0
        if start and forward and all(name in start for name in order):
            first = bisect.bisect_right(ranks, tuple(DynamoType(start[name]).cast_value for name in order))
        last = len(items) if filtered or not limit or not forward else first + limit + 1
        items = items[first:last] if forward else list(items)
    else:
        items = sorted(self.items[hash_key].values(), key=lambda item: item.range_key) if hash_key in self.items else []
    _narrowed.items = items
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _narrowed.items = None


def serialized(self, action_result):
    # Reads answer with plain JSON of moto's own result (its model-driven serializer costs ~5 ms per item).
    result = action_result.result
    if self._get_action() in ("GetItem", "Query", "BatchGetItem") and isinstance(result, dict):
        try:
            body = json.dumps(result)
        except TypeError:  # binary values: moto's serializer encodes them
            return _serialized(self, action_result)
        status, headers, _ = _serialized(self, ActionResult({}))
        return status, headers, body
    return _serialized(self, action_result)


def call_action(self):
    if self._get_action() in READS:
        return _call_action(self)
    _index.clear()
    try:
        return _call_action(self)
    finally:
        _index.clear()


Table.all_items = all_items
Table.query = query
DynamoHandler.serialized = serialized
DynamoHandler.call_action = call_action
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
moto.server.main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""

CHILD = """
import gc, json, sys, time, tracemalloc
sys.path[:0] = %(paths)r
from datetime import UTC, datetime
from rpm_billing import clock
from rpm_billing.db import exports
from rpm_billing.observability import logger
from export import worker


def status_kib(name):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(name + ":"))


clock.pin(datetime(2026, 12, 4, 15, 0, tzinfo=UTC))
logger.setLevel("WARNING")
# Through the deployed entry point, which turns the cyclic collector back on (rpm_billing.coldstart).
if worker.lambda_handler({"org_id": %(org)r, "export_id": %(warm)r}, None) != {"status": "succeeded"}:
    raise SystemExit("warm-up export failed")
gc.collect()
rss_before = status_kib("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the high-water mark restarts at the current RSS
    hwm_reset = True
except OSError:
    hwm_reset = False
hwm_before = status_kib("VmHWM")
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
tracemalloc.reset_peak()
own_before = tracemalloc.get_tracemalloc_memory()
started = time.perf_counter()
status = worker.lambda_handler({"org_id": %(org)r, "export_id": %(export)r}, None)["status"]
elapsed = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1] - base
own = tracemalloc.get_tracemalloc_memory() - own_before
tracemalloc.stop()
hwm_after = status_kib("VmHWM")
job = exports.get_export(%(org)r, %(export)r) or {}
rows = {str(f["name"]): int(f["rows"]) for f in job.get("files", [])}
print("BENCH " + json.dumps({"status": status, "seconds": elapsed, "peak": peak, "own": own, "rss_before": rss_before,
                              "hwm_before": hwm_before, "hwm_after": hwm_after, "hwm_reset": hwm_reset, "rows": rows}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    """moto's server in its own process (query narrowed), ready to answer."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto server exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto server did not start within 30 s")


def _env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_NAME": TABLE,
            "EXPORTS_BUCKET": BUCKET,
            "EXPORT_MAX_PATIENTS": str(max(LARGE, SMALL)),
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _config(deployment_id: str) -> dict[str, Any]:
    from rpm_billing.db import keys

    return {
        "PK": keys.deployment_pk(ORG, deployment_id),
        "SK": keys.CONFIG_SK,
        "type": "billing_config",
        "org_id": ORG,
        "deployment_id": deployment_id,
        "enabled": True,
        "program": "RPM",
        "time_zone": "America/Chicago",
        "offline_appointments": False,
        "insurance_carriers": [{"name": "Medicare"}, {"name": "Acme Health"}],
        "billing_providers": [{"name": "Dr Example", "npi": "1234567893"}],
        "icd10_codes": [{"code": "I10", "description": "Essential hypertension"}],
        "policy": {},
        "version": 1,
    }


def _patient(deployment_id: str, index: int) -> list[dict[str, Any]]:
    """The items of one enrolled patient, as docs/data-model.md describes them (same billing shape for all)."""
    from rpm_billing.db import keys

    pid = f"pat-{deployment_id[-1]}{index:06d}"
    pk = keys.patient_pk(ORG, pid)
    zone = ZONES[index % len(ZONES)]
    common = {"PK": pk, "org_id": ORG, "deployment_id": deployment_id, "patient_id": pid}
    october = [date(2026, 10, 15) + timedelta(days=i) for i in range(0, 17)]
    november = [date(2026, 11, 1) + timedelta(days=i + index % 5) for i in range(DEVICE_DAYS)]
    minutes = [8 + index % 6, 7, 6, 5]
    entries: list[dict[str, Any]] = [
        {
            "entry_id": f"ent-{pid}-{n}",
            "started_at": f"2026-11-{3 + 5 * n:02d}T15:{index % 60:02d}:00+00:00",
            "duration_seconds": minutes[n] * 60,
            "activity": "call" if n == 0 else "data_review",
            "clinician_id": f"clin-{index % 7}",
            "clinical_role": "clinical_staff",
            "interactive": n == 0,
            "modality": "audio" if n == 0 else None,
        }
        for n in range(ENTRIES)
    ]
    facts = {f"E#{e['entry_id']}": {k: v for k, v in e.items() if k != "entry_id"} for e in entries}
    items: list[dict[str, Any]] = [
        {
            **common,
            "SK": keys.PROFILE_SK,
            "GSI1PK": keys.patients_gsi(ORG, deployment_id),
            "GSI1SK": f"enrolled#{pid}",
            "type": "profile",
            "given_name": f"Given{index}",
            "family_name": f"Family, {index % 97}",
            "birth_date": f"19{40 + index % 50}-0{1 + index % 9}-1{index % 10}",
            "mrn": f"MRN-{index:07d}",
            "time_zone": zone,
            "billing_state": "enrolled",
        },
        {
            **common,
            "SK": keys.ENROLLMENT_SK,
            "GSI1PK": keys.enrolled_gsi(ORG, deployment_id),
            "GSI1SK": pid,
            "type": "enrollment",
            "status": "active",
            "episode_id": f"ep-{pid}",
            "version": 1,
            "insurance_carriers": [
                {"name": "Medicare", "member_id": f"M{index:08d}"},
                {"name": "Acme Health", "member_id": f"A{index:08d}"},
            ],
            "billing_provider": {"name": "Dr Example", "npi": "1234567893"},
            "primary_diagnosis": "I10",
            "consent_date": "2026-09-01",
            "monitoring_start": "2026-10-15",
            "first_reading_day": "2026-10-15",
            "established_patient": True,
            "enrolled_at": "2026-09-01T00:00:00+00:00",
        },
    ]
    for month, device_days, month_facts in (("2026-10", october, {}), (MONTH, november, facts)):
        items.append(
            {
                **common,
                "SK": keys.month_sk(month),
                "GSI1PK": keys.month_gsi(ORG, deployment_id, month),
                "GSI1SK": pid,
                "type": "patient_month",
                "month": month,
                "total_seconds": sum(int(f["duration_seconds"]) for f in month_facts.values()),
                "entry_count": len(month_facts),
                "interactive_calls": sum(1 for f in month_facts.values() if f["interactive"]),
                "device_days": {d.isoformat() for d in device_days},
                **month_facts,
            }
        )
    for entry in entries:
        items.append(
            {
                **common,
                **entry,
                "SK": keys.entry_sk(MONTH, str(entry["entry_id"])),
                "type": "time_entry",
                "note": "reviewed readings, adjusted plan" if entry["activity"] == "data_review" else None,
                "appointment_id": f"apt-{pid}" if entry["interactive"] else None,
                "version": 1,
            }
        )
    return items


def _job(deployment_id: str, export_id: str) -> dict[str, Any]:
    """A pending export job, as the API writes it after its checks."""
    from rpm_billing.db import keys

    return {
        "PK": keys.export_pk(ORG, export_id),
        "SK": keys.EXPORT_SK,
        "type": "export",
        "org_id": ORG,
        "deployment_id": deployment_id,
        "export_id": export_id,
        "requested_by": "user-bench",
        "request": REQUEST,
        "status": "pending",
        "patient_count": 0,
        "patients_written": 0,
        "files": [],
        "object_key": f"exports/{ORG}/{export_id}.zip",
    }


def _write(client: Any, items: list[dict[str, Any]]) -> int:
    """Put the items with ``BatchWriteItem``, retrying unprocessed ones; returns how many were written."""
    from rpm_billing.db.client import to_item

    pending: list[dict[str, Any]] = [{"PutRequest": {"Item": to_item(item)}} for item in items]
    for _ in range(10):
        response = client.batch_write_item(RequestItems={TABLE: pending})
        pending = list(response.get("UnprocessedItems", {}).get(TABLE, []))
        if not pending:
            return len(items)
    raise RuntimeError("BatchWriteItem kept unprocessed items")


def _seed(client: Any, deployments: dict[str, int], jobs: list[dict[str, Any]]) -> int:
    """Every deployment's configuration and patients, and the jobs; returns the number of items written."""

    def chunks() -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = [*(_config(dep) for dep in deployments), *jobs]
        for dep, count in deployments.items():
            for index in range(count):
                chunk.extend(_patient(dep, index))
                while len(chunk) >= BATCH:
                    yield chunk[:BATCH]
                    chunk = chunk[BATCH:]
        if chunk:
            yield chunk

    written = 0
    with ThreadPoolExecutor(WRITERS) as pool:
        for done in pool.map(lambda chunk: _write(client, chunk), chunks()):
            written += done
    return written


def _measure(endpoint: str, export_id: str, warm_id: str) -> dict[str, Any]:
    """One export in a fresh process (after a warm-up export); its figures."""
    code = CHILD % {"paths": PATHS, "org": ORG, "warm": warm_id, "export": export_id}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(endpoint),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    lines = [line[6:] for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"export child failed: {done.stderr.strip().splitlines()[-3:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result["status"] != "succeeded":
        raise RuntimeError(f"export {export_id} ended {result['status']}")
    return result


def _verify(s3: Any, export_id: str, patients: int, billing_per_patient: int) -> int:
    """Open the large export's ZIP and check its row counts; returns the ZIP's size in bytes."""
    body = s3.get_object(Bucket=BUCKET, Key=f"exports/{ORG}/{export_id}.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        counted: dict[str, Counter[str]] = {}
        for name in ("billing_status.csv", "time_entries.csv"):
            with archive.open(name) as member:
                reader = csv.reader(io.TextIOWrapper(member, encoding="utf-8", newline=""))
                header = next(reader)
                column = header.index("patient_id")
                counted[name] = Counter(row[column] for row in reader)
    expected = {"billing_status.csv": billing_per_patient, "time_entries.csv": ENTRIES}
    listed = {str(f["name"]): int(f["rows"]) for f in manifest["files"]}
    for name, per_patient in expected.items():
        rows = sum(counted[name].values())
        if len(counted[name]) != patients or set(counted[name].values()) != {per_patient}:
            raise AssertionError(
                f"{name}: {len(counted[name])} patients with {sorted(set(counted[name].values()))} rows each, "
                f"expected {patients} with {per_patient}"
            )
        if listed.get(name) != rows or rows != patients * per_patient:
            raise AssertionError(f"{name}: {rows} rows, manifest says {listed.get(name)}")
    if manifest["patient_count"] != patients:
        raise AssertionError(f"manifest patient_count {manifest['patient_count']} != {patients}")
    return len(body)


def _mib(value: float) -> str:
    return f"{value / 1024 / 1024:.2f} MiB"


def run() -> list[str]:
    """Seed, export both deployments in fresh processes, check the large ZIP and report the figures."""
    sys.path[:0] = [path for path in PATHS if path not in sys.path]
    import boto3
    from botocore.config import Config

    from export.zipstream import MIN_PART_SIZE
    from rpm_billing.db.schema import create_table_request

    started = time.perf_counter()
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = _start_server(port)
    lines: list[str] = []
    try:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        # The seeding client skips botocore's client-side validation of every item (the server checks them).
        ddb = session.client(
            "dynamodb", endpoint_url=endpoint, config=Config(parameter_validation=False, max_pool_connections=WRITERS)
        )
        s3 = session.client("s3", endpoint_url=endpoint)
        ddb.create_table(**create_table_request(TABLE))
        s3.create_bucket(Bucket=BUCKET)
        sizes = {"dep-bench-w": WARM, "dep-bench-s": SMALL, "dep-bench-l": LARGE}
        jobs = [_job(dep, f"exp-{dep}") for dep in sizes if dep != "dep-bench-w"]
        jobs += [_job("dep-bench-w", f"exp-dep-bench-w-{n}") for n in range(2)]
        seeded = time.perf_counter()
        written = _seed(ddb, sizes, jobs)
        lines.append(
            f"seeded {SMALL} + {LARGE} (+{WARM} warm-up) patients, {written} items, in "
            f"{time.perf_counter() - seeded:.1f} s (moto server process, BatchWriteItem)"
        )
        small = _measure(endpoint, "exp-dep-bench-s", "exp-dep-bench-w-0")
        large = _measure(endpoint, "exp-dep-bench-l", "exp-dep-bench-w-1")
        billing_small = small["rows"]["billing_status.csv"]
        if billing_small % SMALL:
            raise AssertionError(f"small export: {billing_small} billing rows for {SMALL} patients")
        zip_size = _verify(s3, "exp-dep-bench-l", LARGE, billing_small // SMALL)
        ratio = large["peak"] / small["peak"]
        lines.append(f"request: patients all, {MONTH}, {', '.join(REQUEST['include'])}, csv; one process per export")
        for count, result in ((SMALL, small), (LARGE, large)):
            lines.append(f"peak Python memory (tracemalloc), {count:>6} patients: {_mib(result['peak'])}")
        verdict = "PASS" if ratio <= GOAL else "FAIL"
        lines.append(f"ratio {LARGE}/{SMALL}: {ratio:.2f} (goal <= {GOAL}): {verdict}")
        lines.append(
            f"peak difference {_mib(large['peak'] - small['peak'])}; the multipart sink keeps the ZIP in memory until "
            f"a part of {MIN_PART_SIZE // 1024 // 1024} MiB is full, and this ZIP ({_mib(zip_size)}) never fills one"
            if zip_size < MIN_PART_SIZE
            else f"peak difference {_mib(large['peak'] - small['peak'])}; the ZIP ({_mib(zip_size)}) left in parts"
        )
        growths = []
        for count, result in ((SMALL, small), (LARGE, large)):
            before = result["rss_before"] if result["hwm_reset"] else result["hwm_before"]
            growths.append((result["hwm_after"] - before) * 1024)
            how = "peak RSS" if result["hwm_reset"] else "max RSS (high-water mark not resettable here)"
            lines.append(
                f"{how} growth, {count:>6} patients: {_mib(growths[-1])} over {_mib(result['rss_before'] * 1024)} "
                f"(includes tracemalloc's own {_mib(result['own'])})"
            )
        lines.append(f"RSS growth ratio {growths[1] / max(growths[0], 1):.2f} (informative; the goal is on the peak)")
        for count, result in ((SMALL, small), (LARGE, large)):
            rows = sum(result["rows"].values())
            lines.append(
                f"{count:>6} patients: {rows} rows ({', '.join(f'{k} {v}' for k, v in result['rows'].items())}) "
                f"in {result['seconds']:.1f} s: {rows / result['seconds']:.0f} rows/s on moto, tracemalloc on"
            )
        lines.append(f"ZIP of {LARGE} patients: {zip_size / 1024 / 1024:.2f} MiB, opened and row counts checked")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    lines.append(f"total run time {time.perf_counter() - started:.1f} s")
    return lines


if __name__ == "__main__":
    for report_line in run():
        print(report_line)
