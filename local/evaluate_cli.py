"""``python -m local evaluate``: run the monthly evaluation of a deployment now, with progress and a summary.

The schedule that starts the run in AWS cannot fire locally; this command starts it the way a user of the API
does (``POST .../billing/evaluations``), against a running local stack, or against one it starts in-process.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from local.tokens import mint

POLL_SECONDS = 0.5
TIMEOUT_SECONDS = 300


class Client:
    """A tiny JSON client for the local API."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, None


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _count_enrolled(call: Client, deployment_id: str) -> int:
    total, cursor = 0, None
    while True:
        query = "billing=enrolled&limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, page = call("GET", f"/v1/deployments/{deployment_id}/patients?{query}")
        if status != 200 or not isinstance(page, dict):
            return total
        total += len(page.get("items") or [])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def evaluate_over_http(url: str, org_id: str, deployment_id: str, month: str, out: Any = sys.stdout) -> int:
    """Start a run through the API, show its progress, print a summary table; 0 when it succeeded."""
    call = Client(url, mint("Admin", org_id, deployment_id, user_id="local-evaluate"))
    enrolled = _count_enrolled(call, deployment_id)
    status, started = call("POST", f"/v1/deployments/{deployment_id}/billing/evaluations", {"month": month})
    if status != 202:
        code = (started or {}).get("error", {}).get("message") if isinstance(started, dict) else None
        print(f"could not start the evaluation: HTTP {status} {code or ''}", file=out)
        return 1
    evaluation_id = started["evaluation_id"]
    print(f"evaluation {evaluation_id}: {enrolled} enrolled patients, month {month}", file=out)
    began, run = time.monotonic(), started
    while time.monotonic() - began < TIMEOUT_SECONDS:
        _, run = call("GET", f"/v1/deployments/{deployment_id}/billing/evaluations/{evaluation_id}")
        run = run or {}
        done = int(run.get("patients_evaluated") or 0)
        state = run.get("status", "running")
        print(
            f"\r{_bar(done, enrolled)} {done}/{enrolled} {state:<10} {time.monotonic() - began:5.1f} s",
            end="",
            file=out,
        )
        out.flush()
        if state in ("succeeded", "failed"):
            break
        time.sleep(POLL_SECONDS)
    print(file=out)
    _summary(call, run, deployment_id, month, out)
    return 0 if run.get("status") == "succeeded" else 1


def _summary(call: Client, run: dict[str, Any], deployment_id: str, month: str, out: Any) -> None:
    failures = run.get("failures") or []
    print(f"status             {run.get('status')}", file=out)
    print(f"patients evaluated {run.get('patients_evaluated', 0)}", file=out)
    print(f"records written    {run.get('records_written', 0)}", file=out)
    print(f"failures           {run.get('failure_count', len(failures))}", file=out)
    patients = {str(f.get("patient_id")) for f in failures if isinstance(f, dict)}
    codes: Counter[str] = Counter()
    units: Counter[str] = Counter()
    if run.get("status") == "succeeded":
        _, page = call("GET", f"/v1/deployments/{deployment_id}/patients?billing=enrolled&limit=200")
        for item in (page or {}).get("items", []):
            patient_id = item.get("patient_id")
            if patient_id in patients:
                continue
            _, records = call("GET", f"/v1/patients/{patient_id}/billing/records?month={month}")
            for record in (records or {}).get("items", []):
                codes[str(record.get("code"))] += 1
                units[str(record.get("code"))] += int(record.get("units") or 0)
    if codes:
        print("", file=out)
        print(f"{'code':<8}{'records':>9}{'units':>7}", file=out)
        for code in sorted(codes):
            print(f"{code:<8}{codes[code]:>9}{units[code]:>7}", file=out)


def run_evaluation(deployment_id: str, month: str, org_id: str, url: str, in_process: bool = False) -> int:
    """The command: use the running stack at ``url``, or start a seeded one in this process."""
    if not in_process and _healthy(url):
        return evaluate_over_http(url, org_id, deployment_id, month)
    if not in_process:
        print(f"no local stack answers at {url}; starting one in this process (demo data)", flush=True)
    from local.stack import LocalStack

    stack = LocalStack(port=0).start()
    try:
        return evaluate_over_http(stack.url, org_id, deployment_id, month)
    finally:
        stack.stop()
