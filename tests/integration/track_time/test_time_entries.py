"""Time entries over moto: creation, budgets, replays, validation, corrections, month closure."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from rpm_billing.db import keys
from tests.capture import captured_logs

from .conftest import ENTRIES, ORG, PAT, entry_body, get, month_item, put, seed


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


def test_post_entry_costs_one_request_in_warm_container(seeded: None, api: Any, ddb_requests: Any) -> None:
    # Given: a first entry warmed the container (patient context, config, month total)
    api("POST", ENTRIES, entry_body("2026-03-10T14:00:00+00:00"), key="warm")
    ddb_requests.reset()

    # When
    status, body = api("POST", ENTRIES, entry_body("2026-03-11T14:00:00+00:00"), key="k2")

    # Then
    assert status == 201
    assert body["month_total_seconds"] == 1200
    assert dict(ddb_requests.calls) == {"TransactWriteItems": 1}


def test_post_entry_cold_container_with_existing_month_is_exact(seeded: None, api: Any) -> None:
    # Given: an entry recorded, then the container forgets what it saw (another container writes next)
    from rpm_billing.db.time_tracking import forget_totals

    api("POST", ENTRIES, entry_body("2026-03-10T14:00:00+00:00", 600), key="a")
    forget_totals()

    # When
    _, body = api("POST", ENTRIES, entry_body("2026-03-11T14:00:00+00:00", 300), key="b")

    # Then: the stale expectation was corrected from the cancellation reason
    assert body["month_total_seconds"] == 900
    assert month_item("2026-03")["total_seconds"] == 900


def test_post_entry_replayed_ten_times_records_one_entry(seeded: None, api: Any, ddb_requests: Any) -> None:
    # Given
    first = api("POST", ENTRIES, entry_body(), key="same")
    budgets = []

    # When
    replies = []
    for _ in range(10):
        ddb_requests.reset()
        replies.append(api("POST", ENTRIES, entry_body(), key="same"))
        budgets.append(ddb_requests.total)

    # Then
    assert all(reply == first for reply in replies)
    assert max(budgets) <= 2
    month = month_item("2026-03")
    assert month["total_seconds"] == 600
    assert month["entry_count"] == 1


def test_post_entry_same_key_other_user_gets_own_entry(seeded: None, api: Any) -> None:
    # Given
    _, mine = api("POST", ENTRIES, entry_body(), key="shared", user="clin-1")

    # When
    status, theirs = api("POST", ENTRIES, entry_body(), key="shared", user="clin-2")

    # Then
    assert status == 201
    assert theirs["entry"]["clinician_id"] == "clin-2"
    assert theirs["entry"]["entry_id"] != mine["entry"]["entry_id"]
    assert theirs["month_total_seconds"] == 1200


def test_post_entry_same_key_other_body_is_409(seeded: None, api: Any) -> None:
    # Given
    api("POST", ENTRIES, entry_body(duration=600), key="k")

    # When
    status, body = api("POST", ENTRIES, entry_body(duration=900), key="k")

    # Then
    assert status == 409
    assert "Idempotency-Key" in body["error"]["message"]
    assert month_item("2026-03")["total_seconds"] == 600


def test_post_entry_without_idempotency_key_is_428(seeded: None, api: Any) -> None:
    # Given / When
    status, body = api("POST", ENTRIES, entry_body())

    # Then
    assert status == 428
    assert body["error"]["fields"][0]["path"] == "header.Idempotency-Key"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_seconds": 0}, "body.duration_seconds"),
        ({"duration_seconds": -5}, "body.duration_seconds"),
        ({"duration_seconds": 14401}, "body.duration_seconds"),
        ({"activity": "coffee"}, "body.activity"),
        ({"activity": "call"}, "body.modality"),
        ({"started_at": "2026-03-10T14:00:00"}, "body.started_at"),
        ({"started_at": "2026-03-20T18:00:01+00:00"}, "body.started_at"),
        ({"clinician_id": "someone-else"}, "body.clinician_id"),
    ],
)
def test_post_entry_invalid_field_is_422_naming_it(seeded: None, api: Any, change: dict, field: str) -> None:
    # Given
    body = {**entry_body(), **change}

    # When
    status, reply = api("POST", ENTRIES, body, key="k")

    # Then
    assert status == 422
    assert field in [problem["path"] for problem in reply["error"]["fields"]]
    assert month_item("2026-03") is None


def test_post_entry_four_hours_exactly_is_accepted(seeded: None, api: Any) -> None:
    # Given: 4 h spanning five UTC hour items (10:30 to 14:30)

    # When
    status, body = api("POST", ENTRIES, entry_body("2026-03-10T10:30:30+00:00", 14400), key="k")

    # Then
    assert status == 201
    assert body["month_total_seconds"] == 14400


@pytest.mark.parametrize("status_value", [None, "ended"])
def test_post_entry_patient_not_enrolled_is_409(aws: None, api: Any, status_value: str | None) -> None:
    # Given
    seed(status=status_value)

    # When
    status, body = api("POST", ENTRIES, entry_body(), key="k")

    # Then
    assert status == 409
    assert "not enrolled" in body["error"]["message"]
    assert month_item("2026-03") is None


def test_post_entry_closed_month_is_409(seeded: None, api: Any) -> None:
    # Given: the monthly run closed March
    put({"PK": keys.patient_pk(ORG, PAT), "SK": keys.month_sk("2026-03"), "closed": True, "total_seconds": 0})

    # When
    status, body = api("POST", ENTRIES, entry_body(), key="k")

    # Then
    assert status == 409
    assert "closed" in body["error"]["message"]


# Overlaps ---------------------------------------------------------------------------------------------------


def test_post_entry_overlapping_same_clinician_is_422(seeded: None, api: Any) -> None:
    # Given: 14:00:00-14:10:00
    api("POST", ENTRIES, entry_body("2026-03-10T14:00:00+00:00", 600), key="a")

    # When: 14:09:59 for 60 s
    status, body = api("POST", ENTRIES, entry_body("2026-03-10T14:09:59+00:00", 60), key="b")

    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.started_at"
    assert month_item("2026-03")["total_seconds"] == 600


def test_post_entry_overlap_across_offsets_is_detected(seeded: None, api: Any) -> None:
    # Given: 14:00Z-14:10Z
    api("POST", ENTRIES, entry_body("2026-03-10T14:00:00+00:00", 600), key="a")

    # When: the same instant written in Chicago time
    status, _ = api("POST", ENTRIES, entry_body("2026-03-10T09:05:00-05:00", 60), key="b")

    # Then
    assert status == 422


def test_post_entry_back_to_back_inside_minute_is_accepted(seeded: None, api: Any) -> None:
    # Given: one entry ends at 10:15:20
    api("POST", ENTRIES, entry_body("2026-03-10T10:05:00+00:00", 620), key="a")

    # When: the next starts at 10:15:20
    status, body = api("POST", ENTRIES, entry_body("2026-03-10T10:15:20+00:00", 300), key="b")

    # Then
    assert status == 201
    assert body["month_total_seconds"] == 920


def test_post_entry_back_to_back_before_is_accepted(seeded: None, api: Any) -> None:
    # Given: one entry starts at 10:15:20
    api("POST", ENTRIES, entry_body("2026-03-10T10:15:20+00:00", 300), key="a")

    # When: another ends exactly there, crossing an hour boundary on the way
    status, _ = api("POST", ENTRIES, entry_body("2026-03-10T09:50:00+00:00", 1520), key="b")

    # Then
    assert status == 201


def test_post_entry_overlapping_other_clinician_is_accepted(seeded: None, api: Any) -> None:
    # Given
    api("POST", ENTRIES, entry_body("2026-03-10T14:00:00+00:00", 600), key="a", user="clin-1")

    # When
    status, _ = api("POST", ENTRIES, entry_body("2026-03-10T14:00:00+00:00", 600), key="a", user="clin-2")

    # Then
    assert status == 201


def test_post_entry_sub_minute_inside_partial_minute_is_422(seeded: None, api: Any) -> None:
    # Given: 10:00:00-10:00:40
    api("POST", ENTRIES, entry_body("2026-03-10T10:00:00+00:00", 40), key="a")

    # When: 10:00:30-10:00:35
    status, _ = api("POST", ENTRIES, entry_body("2026-03-10T10:00:30+00:00", 5), key="b")

    # Then
    assert status == 422


def test_post_entry_two_disjoint_sub_minute_middles_conflict_by_choice(seeded: None, api: Any) -> None:
    # Given: 10:00:10-10:00:20 (inside one minute)
    api("POST", ENTRIES, entry_body("2026-03-10T10:00:10+00:00", 10), key="a")

    # When: 10:00:30-10:00:40, disjoint but also inside the same minute
    status, _ = api("POST", ENTRIES, entry_body("2026-03-10T10:00:30+00:00", 10), key="b")

    # Then: the documented approximation refuses it (one sub-minute middle per minute)
    assert status == 422


# Month boundaries and DST ----------------------------------------------------------------------------------


def test_post_entry_month_is_practice_local(seeded: None, api: Any) -> None:
    # Given: 23:59 on March 31 and 00:01 on April 1 in Chicago (practice zone)
    late = entry_body("2026-03-31T23:59:00-05:00", 60)
    early = entry_body("2026-04-01T00:01:00-05:00", 60)
    from rpm_billing import clock

    clock.pin(datetime(2026, 4, 2, tzinfo=UTC))

    # When
    _, march = api("POST", ENTRIES, late, key="late")
    _, april = api("POST", ENTRIES, early, key="early")

    # Then
    assert march["entry"]["month"] == "2026-03"
    assert april["entry"]["month"] == "2026-04"
    assert month_item("2026-03")["total_seconds"] == 60
    assert month_item("2026-04")["total_seconds"] == 60


def test_post_entry_across_spring_forward_counts_elapsed_seconds(seeded: None, api: Any) -> None:
    # Given: 01:30 CST on 2026-03-08 for one hour: the clock reads 03:30 CDT at the end
    body = entry_body("2026-03-08T01:30:00-06:00", 3600)

    # When
    status, reply = api("POST", ENTRIES, body, key="k")

    # Then
    assert status == 201
    assert reply["month_total_seconds"] == 3600


def test_post_entry_repeated_fall_back_hour_is_two_instants(seeded: None, api: Any) -> None:
    # Given: 01:30 CDT on 2026-11-01 (the first 01:30 of the night)
    from rpm_billing import clock

    clock.pin(datetime(2026, 11, 2, tzinfo=UTC))
    api("POST", ENTRIES, entry_body("2026-11-01T01:30:00-05:00", 600), key="a")

    # When: 01:30 CST, one hour later in absolute time
    status, _ = api("POST", ENTRIES, entry_body("2026-11-01T01:30:00-06:00", 600), key="b")

    # Then: no overlap
    assert status == 201
    assert month_item("2026-11")["total_seconds"] == 1200


# Corrections ------------------------------------------------------------------------------------------------


def _entry(api: Any, started: str = "2026-03-10T14:00:00+00:00", duration: int = 600, key: str = "k") -> str:
    status, body = api("POST", ENTRIES, entry_body(started, duration), key=key)
    assert status == 201
    return str(body["entry"]["entry_id"])


def test_patch_entry_changes_total_and_is_audited(seeded: None, api: Any) -> None:
    # Given
    entry_id = _entry(api)

    # When
    status, body = api("PATCH", f"{ENTRIES}/{entry_id}", {"duration_seconds": 900, "reason": "typo"})

    # Then
    assert status == 200
    assert body["month_total_seconds"] == 900
    assert body["entry"]["version"] == 2
    month = month_item("2026-03")
    assert month[f"E#{entry_id}"]["duration_seconds"] == 900
    assert month["entry_count"] == 1
    assert _audit_actions().count("time_entry.update") == 1


def test_patch_entry_extending_over_itself_is_accepted(seeded: None, api: Any) -> None:
    # Given: 14:00:30-14:10:30
    entry_id = _entry(api, "2026-03-10T14:00:30+00:00", 600)

    # When: start earlier and end later, covering its own old minutes
    status, _ = api(
        "PATCH",
        f"{ENTRIES}/{entry_id}",
        {"started_at": "2026-03-10T13:59:10+00:00", "duration_seconds": 1300, "reason": "r"},
    )

    # Then
    assert status == 200


def test_patch_entry_into_another_entry_is_422(seeded: None, api: Any) -> None:
    # Given
    _entry(api, "2026-03-10T14:00:00+00:00", 600, key="a")
    second = _entry(api, "2026-03-10T15:00:00+00:00", 600, key="b")

    # When
    status, body = api("PATCH", f"{ENTRIES}/{second}", {"started_at": "2026-03-10T14:05:00+00:00", "reason": "r"})

    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.started_at"


def test_patch_entry_without_reason_is_422(seeded: None, api: Any) -> None:
    # Given
    entry_id = _entry(api)

    # When
    status, body = api("PATCH", f"{ENTRIES}/{entry_id}", {"duration_seconds": 900})

    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.reason"


def test_patch_entry_in_closed_month_is_409(seeded: None, api: Any) -> None:
    # Given
    entry_id = _entry(api)
    from rpm_billing.db.client import dynamodb
    from rpm_billing.settings import get_settings

    dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=keys.key(keys.patient_pk(ORG, PAT), keys.month_sk("2026-03")),
        UpdateExpression="SET closed = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )

    # When
    status, _ = api("PATCH", f"{ENTRIES}/{entry_id}", {"duration_seconds": 900, "reason": "r"})
    deleted, _ = api("DELETE", f"{ENTRIES}/{entry_id}", {"reason": "r"})

    # Then
    assert status == 409
    assert deleted == 409
    assert month_item("2026-03")["total_seconds"] == 600


def test_delete_entry_keeps_item_drops_fact_and_frees_interval(seeded: None, api: Any) -> None:
    # Given
    entry_id = _entry(api, "2026-03-10T14:00:20+00:00", 600)

    # When
    status, body = api("DELETE", f"{ENTRIES}/{entry_id}", {"reason": "wrong patient"})
    again, _ = api("POST", ENTRIES, entry_body("2026-03-10T14:00:20+00:00", 600), key="again")

    # Then
    assert status == 200
    assert body["month_total_seconds"] == 0
    stored = get(keys.patient_pk(ORG, PAT), keys.entry_sk("2026-03", entry_id))
    assert stored["deleted"] is True
    assert stored["deleted_reason"] == "wrong patient"
    assert f"E#{entry_id}" not in month_item("2026-03")
    assert again == 201


def test_delete_unknown_entry_is_404(seeded: None, api: Any) -> None:
    # Given / When
    status, _ = api("DELETE", f"{ENTRIES}/NOPE", {"reason": "r"})

    # Then
    assert status == 404


# Listing ----------------------------------------------------------------------------------------------------


def test_get_entries_pages_through_month(seeded: None, api: Any) -> None:
    # Given: three entries in March, one in February
    for day in (10, 11, 12):
        _entry(api, f"2026-03-{day}T14:00:00+00:00", 60, key=f"k{day}")
    _entry(api, "2026-02-10T14:00:00+00:00", 60, key="feb")

    # When
    _, first = api("GET", ENTRIES, query={"month": "2026-03", "limit": "2"})
    _, second = api("GET", ENTRIES, query={"month": "2026-03", "limit": "2", "cursor": first["next_cursor"]})

    # Then: the contract's list shape, the month as an extra field, no cursor after the last page
    assert set(first) == set(second) == {"month", "items", "next_cursor"}
    assert (first["month"], second["month"]) == ("2026-03", "2026-03")
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    assert second["next_cursor"] is None
    ids = [e["entry_id"] for e in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3
    assert all(e["month"] == "2026-03" for e in first["items"] + second["items"])


def test_get_entries_cursor_of_other_month_is_422(seeded: None, api: Any) -> None:
    # Given: a cursor issued for February's entries
    for day in (10, 11):
        _entry(api, f"2026-02-{day}T14:00:00+00:00", 60, key=f"feb{day}")
    _, february = api("GET", ENTRIES, query={"month": "2026-02", "limit": "1"})

    # When: it is sent with March
    status, body = api("GET", ENTRIES, query={"month": "2026-03", "cursor": february["next_cursor"]})

    # Then
    assert february["next_cursor"]
    assert status == 422
    assert [problem["path"] for problem in body["error"]["fields"]] == ["query.cursor"]


def test_get_entries_openapi_documents_limit_and_cursor() -> None:
    # Given
    from track_time.app import app

    # When
    operation = app.openapi_schema()["paths"]["/v1/patients/{patient_id}/time-entries"]["get"]

    # Then: the contract's pagination parameters, not the old token
    names = {parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "query"}
    assert names == {"month", "limit", "cursor"}


def test_get_entries_bad_month_is_422(seeded: None, api: Any) -> None:
    # Given / When
    status, body = api("GET", ENTRIES, query={"month": "2026-13"})

    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "query.month"


# Roles and tenants ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Admin", "AccessController", "DeploymentStaff", "Contributor", "OrganisationStaff"])
def test_post_entry_every_role_may_track(seeded: None, api: Any, role: str) -> None:
    # Given / When
    status, _ = api("POST", ENTRIES, entry_body(), key="k", role=role)

    # Then
    assert status == 201


def test_post_entry_roleless_user_is_403(seeded: None, api: Any) -> None:
    # Given / When
    status, _ = api("POST", ENTRIES, entry_body(), key="k", role="")

    # Then
    assert status == 403
    assert month_item("2026-03") is None


def test_post_entry_other_org_patient_is_404_like_missing(seeded: None, api: Any) -> None:
    # Given: the same patient id exists in org1 only
    # When
    other_org = api("POST", ENTRIES, entry_body(), key="k", org="org2", role="Admin")
    missing = api("POST", "/v1/patients/ghost/time-entries", entry_body(), key="k", role="Admin")

    # Then
    assert other_org[0] == 404
    assert other_org == missing


def test_post_entry_deployment_outside_scope_is_404(seeded: None, api: Any) -> None:
    # Given: a Contributor of another deployment of the same org
    # When
    status, _ = api("POST", ENTRIES, entry_body(), key="k", dep="dep2")

    # Then
    assert status == 404


def test_post_entry_never_logs_the_note(seeded: None, api: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Given: a note carrying a canary, and logs captured at the production level
    caplog.set_level(logging.INFO)
    body = entry_body(note="ZQXCANARY patient said something")

    # When: one entry is accepted and one refused
    created, _ = api("POST", ENTRIES, body, key="k")
    refused, error = api("POST", ENTRIES, {**body, "duration_seconds": 0}, key="k2")

    # Then: the product logged both requests, and neither the logs nor the error carry the note
    logs = captured_logs(caplog)
    assert (created, refused) == (201, 422)
    assert "time entry recorded" in logs
    assert "ZQXCANARY" not in logs
    assert "ZQXCANARY" not in str(error)


def _audit_actions() -> list[str]:
    from rpm_billing.db.client import dynamodb
    from rpm_billing.settings import get_settings

    items = dynamodb().scan(TableName=get_settings().table_name)["Items"]
    return [item["action"]["S"] for item in items if item["PK"]["S"].startswith("AUDIT#")]


def _contended(monkeypatch: pytest.MonkeyPatch, api: Any) -> None:
    """Another clinician's 900 s in March, this container's remembered total stale, and every attempt sent as
    under contention (without the exact-total expectation, the total read back after the commit)."""
    from rpm_billing.db import time_tracking

    api("POST", ENTRIES, entry_body(duration=900), key="theirs", user="clin-2")
    time_tracking.forget_totals()
    monkeypatch.setattr(time_tracking, "EXACT_ATTEMPTS", 0)


def test_a_replay_after_contention_answers_what_the_first_request_did(
    seeded: None, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a write under contention, whose total was estimated as 600 s before the commit
    _contended(monkeypatch, api)
    first = api("POST", ENTRIES, entry_body(duration=600), key="mine")

    # When: the same request is replayed
    replay = api("POST", ENTRIES, entry_body(duration=600), key="mine")

    # Then: both report the total read back after the commit, not the estimate
    assert first[0] == 201
    assert first[1]["month_total_seconds"] == 1500
    assert replay == first
    assert month_item("2026-03")["entry_count"] == 2


def test_a_failed_replay_update_still_answers_the_committed_entry(
    seeded: None, api: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: a write under contention, and the marker's update failing after the commit
    from botocore.exceptions import ClientError

    from rpm_billing.db import time_tracking

    _contended(monkeypatch, api)

    def refuse(*_: Any) -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")

    monkeypatch.setattr(time_tracking, "store_marker_response", refuse)

    # When
    with caplog.at_level(logging.INFO):
        status, body = api("POST", ENTRIES, entry_body(duration=600), key="mine")

    # Then: the entry is committed and answered with the total read back; the failure is logged without PHI
    assert (status, body["month_total_seconds"]) == (201, 1500)
    assert month_item("2026-03")["entry_count"] == 2
    logs = captured_logs(caplog)
    assert "replay response keeps the estimated month total" in logs
    assert "ProvisionedThroughputExceededException" in logs
