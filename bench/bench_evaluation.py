"""Monthly evaluation throughput: synthetic patients through the batch step's entry point on moto (in-process).

Prints patients per second and DynamoDB requests per patient-month. moto is far slower than DynamoDB, so the
rate is a floor for the handler's own cost (engine, serialisation, one read and one write per patient), not an
AWS figure. The run stops at a time budget and says how many patients it measured.

moto deep-copies the whole table once per action of every ``TransactWriteItems`` (its rollback copy), so a
transaction would cost O(table size): about 1 s per patient with a few thousand seeded. That is an emulator
artefact, so the bench uses the local stack's rollback, which saves only the items a transaction names and puts
them back if it fails (the all-or-nothing behaviour stays), and says so in its output.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: The scale asked for. moto answers some tens of patient-months per second here, so the run takes minutes.
PATIENTS = 10_000
BATCH = 50
#: Wall-clock budget of the evaluation phase; the printout says when it cut the run short.
BUDGET_SECONDS = 900.0
TABLE = "rpm-billing-bench"
ORG, DEP = "org-bench", "dep-bench"


def _items(index: int) -> list[dict[str, Any]]:
    from rpm_billing.db import keys

    pid = f"pat-{index:06d}"
    pk = keys.patient_pk(ORG, pid)
    start = date(2026, 10, 1) + timedelta(days=index % 30)
    oct_days = {(start + timedelta(days=i)).isoformat() for i in range(40) if (start + timedelta(days=i)).month == 10}
    nov_days = {(start + timedelta(days=i)).isoformat() for i in range(40) if (start + timedelta(days=i)).month == 11}
    entries = {
        f"E#e{n}": {
            "started_at": f"2026-11-{n + 2:02d}T15:00:00+00:00",
            "duration_seconds": 300 + 60 * (index % 7),
            "activity": "call" if n == 0 else "data_review",
            "clinician_id": "clin-1",
            "clinical_role": "clinical_staff",
            "interactive": n == 0,
            "modality": "audio" if n == 0 else None,
        }
        for n in range(6)
    }
    common = {"org_id": ORG, "deployment_id": DEP, "patient_id": pid}
    return [
        {
            "PK": pk,
            "SK": keys.PROFILE_SK,
            "type": "profile",
            "time_zone": "America/Chicago",
            "GSI1PK": keys.patients_gsi(ORG, DEP),
            "GSI1SK": f"enrolled#{pid}",
            **common,
        },
        {
            "PK": pk,
            "SK": keys.ENROLLMENT_SK,
            "type": "enrollment",
            "status": "active",
            "episode_id": f"ep-{pid}",
            "consent_date": "2026-09-01",
            "monitoring_start": start.isoformat(),
            "established_patient": True,
            "GSI1PK": keys.enrolled_gsi(ORG, DEP),
            "GSI1SK": pid,
            **common,
        },
        {"PK": pk, "SK": keys.month_sk("2026-10"), "month": "2026-10", "device_days": oct_days, **common},
        {"PK": pk, "SK": keys.month_sk("2026-11"), "month": "2026-11", "device_days": nov_days, **entries, **common},
    ]


def _seed(count: int) -> None:
    from rpm_billing.db import keys
    from rpm_billing.db.client import dynamodb, to_item

    config = {
        "PK": keys.deployment_pk(ORG, DEP),
        "SK": keys.CONFIG_SK,
        "type": "billing_config",
        "org_id": ORG,
        "deployment_id": DEP,
        "enabled": True,
        "program": "RPM",
        "time_zone": "America/Chicago",
        "policy": {},
        "version": 1,
    }
    pending = [config] + [item for i in range(count) for item in _items(i)]
    for start in range(0, len(pending), 25):
        chunk = [{"PutRequest": {"Item": to_item(item)}} for item in pending[start : start + 25]]
        dynamodb().batch_write_item(RequestItems={TABLE: chunk})  # type: ignore[dict-item]


def _compute_only(ids: list[str]) -> str:
    """The handler's own work without the emulator: facts from items and the engine, on windows read once."""
    from rpm_billing.db import billing
    from rpm_billing.db.enrollment import get_config_cached
    from rpm_billing.facts import facts_from_items, policy_of
    from rpm_billing.rules import evaluate_month

    config = get_config_cached(ORG, DEP)
    policy = policy_of(config)
    windows = [billing.read_patient_window(ORG, pid, ["2026-10", "2026-11"]) for pid in ids]
    started = time.perf_counter()
    for window in windows:
        assert window.enrollment is not None
        facts = facts_from_items(window.profile, window.enrollment, config, window.month_items())
        evaluate_month(facts, month="2026-11", policy=policy)
    elapsed = time.perf_counter() - started
    return f"facts + engine alone: {len(ids) / elapsed:.0f} patient-months/s ({elapsed / len(ids) * 1e6:.0f} us each)"


def run() -> list[str]:
    """Seed, evaluate through the batch step within the budget, and report the measured figures."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    os.environ["TABLE_NAME"] = TABLE
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import boto3
    from moto import mock_aws

    from evaluate import steps
    from local.emulator import cheap_transaction_snapshots
    from rpm_billing import clock
    from rpm_billing.db import billing, client
    from rpm_billing.db.schema import create_table_request
    from rpm_billing.observability import logger
    from rpm_billing.settings import reset_settings

    cheap_transaction_snapshots()
    reset_settings()
    client.reset_clients()
    logger.setLevel("WARNING")
    clock.pin(datetime(2026, 12, 4, 15, 0, tzinfo=UTC))
    lines: list[str] = []
    try:
        with mock_aws():
            boto3.client("dynamodb").create_table(**create_table_request(TABLE))
            seeded = time.perf_counter()
            _seed(PATIENTS)
            lines.append(f"seeded {PATIENTS} patients ({4 * PATIENTS} items) in {time.perf_counter() - seeded:.1f} s")
            ids = list(billing.iter_enrolled_patient_ids(ORG, DEP))
            billing.load_config(ORG, DEP)
            calls: Counter[str] = Counter()

            def count(model: Any, **_: Any) -> None:
                calls[model.name] += 1

            client.dynamodb().meta.events.register("before-call.dynamodb", count)
            evaluated = written = failures = 0
            started = time.perf_counter()
            for offset in range(0, len(ids), BATCH):
                result = steps.evaluate_batch_handler(
                    {
                        "org_id": ORG,
                        "deployment_id": DEP,
                        "month": "2026-11",
                        "evaluation_id": "cpt-dep-bench-2026-11-r1",
                        "run": 1,
                        "batch": {"batch": offset // BATCH, "patient_ids": ids[offset : offset + BATCH]},
                    },
                    None,
                )
                evaluated += result["patients_evaluated"]
                written += result["records_written"]
                failures += len(result["failures"])
                if time.perf_counter() - started > BUDGET_SECONDS:
                    break
            elapsed = time.perf_counter() - started
            client.dynamodb().meta.events.unregister("before-call.dynamodb", count)
            patients = evaluated + failures
            scope = "all" if patients == len(ids) else f"budget of {BUDGET_SECONDS:.0f} s reached: {patients} of"
            lines.append(
                f"evaluated {scope} {len(ids)} patients in {elapsed:.1f} s on moto: {patients / elapsed:.0f}/s"
            )
            lines.append("(moto's whole-table rollback copy replaced by saving the named items: see the docstring)")
            lines.append(
                f"records written {written} ({written / max(patients, 1):.2f} per patient), failures {failures}"
            )
            lines.append(_compute_only(ids[: min(patients, 300)]))
            per = {name: n / max(patients, 1) for name, n in sorted(calls.items())}
            lines.append(
                "dynamodb requests per patient-month: "
                + ", ".join(f"{name} {value:.2f}" for name, value in per.items())
                + f" (total {sum(calls.values()) / max(patients, 1):.2f})"
            )
    finally:
        clock.pin(None)
        client.reset_clients()
        reset_settings()
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
