"""Time entries over moto: creation, budgets, replays, validation, corrections, month closure."""

from __future__ import annotations

from typing import Any

from rpm_billing.db import keys

from .conftest import ENTRIES, ORG, PAT, entry_body, get, month_item, put


def test_post_entry_returns_entry_and_month_total(seeded: None, api: Any) -> None:
    # Given: an enrolled patient

    # When
    status, body = api("POST", ENTRIES, entry_body(duration=600), key="k1")

    # Then
    assert status == 201
    assert body["month_total_seconds"] == 600
    assert body["entry"]["activity"] == "data_review"
    assert body["entry"]["clinician_id"] == "clin-1"
    assert body["entry"]["month"] == "2026-03"


def test_post_entry_writes_month_aggregate_per_data_model(seeded: None, api: Any) -> None:
    # Given
    call = entry_body(activity="call", modality="audio", duration=300)

    # When
    _, body = api("POST", ENTRIES, call, key="k1")

    # Then
    month = month_item("2026-03")
    assert month is not None
    assert month["total_seconds"] == 300
    assert month["entry_count"] == 1
    assert month["interactive_calls"] == 1
    assert month["GSI1PK"] == keys.month_gsi(ORG, "dep1", "2026-03")
    fact = month[f"E#{body['entry']['entry_id']}"]
    assert fact["interactive"] is True
    assert fact["modality"] == "audio"
    assert "note" not in fact
