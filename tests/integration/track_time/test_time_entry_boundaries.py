"""Time entries at calendar boundaries: the practice's month decides, whatever the offset of the instant."""

from __future__ import annotations

from typing import Any

from .conftest import ENTRIES, entry_body, month_item, seed


def test_post_entry_year_end_is_practice_local(seeded: None, api: Any) -> None:
    # Given: 23:59 on 2025-12-31 and 00:01 on 2026-01-01 in Chicago (CST, -06:00)
    late = entry_body("2025-12-31T23:59:00-06:00", 60)
    early = entry_body("2026-01-01T00:01:00-06:00", 60)

    # When
    _, december = api("POST", ENTRIES, late, key="late")
    _, january = api("POST", ENTRIES, early, key="early")

    # Then: two months, two years
    assert december["entry"]["month"] == "2025-12"
    assert january["entry"]["month"] == "2026-01"
    assert month_item("2025-12")["total_seconds"] == 60
    assert month_item("2026-01")["total_seconds"] == 60


def test_post_entry_utc_new_year_still_practice_december(seeded: None, api: Any) -> None:
    # Given: 05:59Z on January 1 is 23:59 on December 31 in Chicago; 06:01Z is 00:01 on January 1
    late = entry_body("2026-01-01T05:59:00+00:00", 60)
    early = entry_body("2026-01-01T06:01:00+00:00", 60)

    # When
    _, december = api("POST", ENTRIES, late, key="late")
    _, january = api("POST", ENTRIES, early, key="early")

    # Then
    assert december["entry"]["month"] == "2025-12"
    assert january["entry"]["month"] == "2026-01"
    assert month_item("2025-12")["entry_count"] == 1
    assert month_item("2026-01")["entry_count"] == 1


def test_post_entry_across_midnight_counts_in_start_month(seeded: None, api: Any) -> None:
    # Given: ten minutes from 23:55 on December 31 in Chicago, ending in the new year

    # When
    status, body = api("POST", ENTRIES, entry_body("2025-12-31T23:55:00-06:00", 600), key="k")

    # Then: the whole entry belongs to December
    assert status == 201
    assert body["entry"]["month"] == "2025-12"
    assert month_item("2025-12")["total_seconds"] == 600
    assert month_item("2026-01") is None


def test_post_entry_month_follows_configured_practice_zone(aws: None, api: Any) -> None:
    # Given: a practice in Los Angeles; 07:30Z on January 1 is 23:30 on December 31 there (01:30 in Chicago)
    seed(practice_zone="America/Los_Angeles")

    # When
    _, body = api("POST", ENTRIES, entry_body("2026-01-01T07:30:00+00:00", 60), key="k")

    # Then
    assert body["entry"]["month"] == "2025-12"
    assert month_item("2026-01") is None


def test_get_entries_year_end_months_list_apart(seeded: None, api: Any) -> None:
    # Given: one entry each side of the practice's new year
    _, december = api("POST", ENTRIES, entry_body("2025-12-31T23:59:00-06:00", 60), key="late")
    _, january = api("POST", ENTRIES, entry_body("2026-01-01T00:01:00-06:00", 60), key="early")

    # When
    _, listed_december = api("GET", ENTRIES, query={"month": "2025-12"})
    _, listed_january = api("GET", ENTRIES, query={"month": "2026-01"})

    # Then
    assert [e["entry_id"] for e in listed_december["items"]] == [december["entry"]["entry_id"]]
    assert [e["entry_id"] for e in listed_january["items"]] == [january["entry"]["entry_id"]]
