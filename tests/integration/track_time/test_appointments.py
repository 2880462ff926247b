"""Appointments over moto: scheduling, listing, completion (the interactive call entry), offline calls."""

from __future__ import annotations

from typing import Any

import pytest

from rpm_billing.db import keys

from .conftest import ORG, PAT, get, month_item, seed

APPOINTMENTS = f"/v1/patients/{PAT}/appointments"


def appointment_body(scheduled_at: str = "2026-03-19T10:00:00-05:00", minutes: int = 20, **extra: Any) -> dict:
    return {"scheduled_at": scheduled_at, "duration_minutes": minutes, **extra}


def completion_body(
    started_at: str = "2026-03-19T15:02:00+00:00", duration: int = 900, modality: str = "video", **extra: Any
) -> dict:
    return {"started_at": started_at, "duration_seconds": duration, "modality": modality, **extra}


def complete_path(appointment_id: str, patient: str = PAT) -> str:
    return f"/v1/patients/{patient}/appointments/{appointment_id}/complete"


def _schedule(api: Any, **kwargs: Any) -> str:
    status, body = api("POST", APPOINTMENTS, appointment_body(), **kwargs)
    assert status == 201
    return str(body["appointment"]["appointment_id"])


def _stored(appointment_id: str, patient: str = PAT, org: str = ORG) -> dict[str, Any] | None:
    return get(keys.patient_pk(org, patient), keys.appointment_sk(appointment_id))


def _listed(api: Any) -> list[dict[str, Any]]:
    status, body = api("GET", APPOINTMENTS, query={"limit": "200"})
    assert status == 200
    return list(body["items"])


# Scheduling -------------------------------------------------------------------------------------------------


def test_post_appointment_returns_201_with_scheduled_appointment(seeded: None, api: Any) -> None:
    # Given: an enrolled patient

    # When: a call at 10:00 in Chicago
    status, body = api("POST", APPOINTMENTS, appointment_body("2026-03-25T10:00:00-05:00", 30))

    # Then: stored in UTC, scheduled, no entry yet
    assert status == 201
    appointment = body["appointment"]
    assert appointment["patient_id"] == PAT
    assert appointment["scheduled_at"] == "2026-03-25T15:00:00+00:00"
    assert appointment["duration_minutes"] == 30
    assert appointment["status"] == "scheduled"
    assert appointment["entry_id"] is None
    assert appointment["offline"] is False
    assert appointment["created_by"] == "clin-1"


def test_post_appointment_stores_item_per_data_model(seeded: None, api: Any) -> None:
    # Given / When
    appointment_id = _schedule(api)

    # Then
    stored = _stored(appointment_id)
    assert stored is not None
    assert stored["type"] == "appointment"
    assert stored["status"] == "scheduled"
    assert stored["duration_minutes"] == 20
    assert (stored["org_id"], stored["deployment_id"], stored["patient_id"]) == (ORG, "dep1", PAT)


def test_post_appointment_does_not_touch_month_aggregate(seeded: None, api: Any) -> None:
    # Given / When: scheduling is not time spent
    _schedule(api)

    # Then
    assert month_item("2026-03") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (appointment_body(minutes=0), "body.duration_minutes"),
        (appointment_body(minutes=-15), "body.duration_minutes"),
        (appointment_body(minutes=241), "body.duration_minutes"),
        (appointment_body(minutes="20"), "body.duration_minutes"),  # type: ignore[arg-type]
        ({"duration_minutes": 20}, "body.scheduled_at"),
        ({"scheduled_at": "2026-03-25T15:00:00+00:00"}, "body.duration_minutes"),
        (appointment_body("2026-03-25T15:00:00"), "body.scheduled_at"),
        (appointment_body("next tuesday"), "body.scheduled_at"),
        (appointment_body(patient_id="pat2"), "body.patient_id"),
    ],
)
def test_post_appointment_invalid_field_is_422_naming_it(seeded: None, api: Any, body: dict, field: str) -> None:
    # Given: an invalid schedule request

    # When
    status, reply = api("POST", APPOINTMENTS, body)

    # Then
    assert status == 422
    assert field in [problem["path"] for problem in reply["error"]["fields"]]
    assert _listed(api) == []


def test_post_appointment_four_hours_is_accepted(seeded: None, api: Any) -> None:
    # Given / When: 240 minutes, the longest entry a call may become
    status, body = api("POST", APPOINTMENTS, appointment_body(minutes=240))

    # Then
    assert status == 201
    assert body["appointment"]["duration_minutes"] == 240


@pytest.mark.parametrize("status_value", [None, "ended"])
def test_post_appointment_patient_not_enrolled_is_409(aws: None, api: Any, status_value: str | None) -> None:
    # Given
    seed(status=status_value)

    # When
    status, body = api("POST", APPOINTMENTS, appointment_body())

    # Then
    assert status == 409
    assert "not enrolled" in body["error"]["message"]
    assert _listed(api) == []


def test_post_appointment_same_key_replay_returns_same_appointment(seeded: None, api: Any) -> None:
    # Given
    first = api("POST", APPOINTMENTS, appointment_body(), key="appt-1")

    # When
    again = api("POST", APPOINTMENTS, appointment_body(), key="appt-1")

    # Then
    assert first[0] == again[0] == 201
    assert again[1] == first[1]
    assert [a["appointment_id"] for a in _listed(api)] == [first[1]["appointment"]["appointment_id"]]


def test_post_appointment_same_key_other_body_is_409(seeded: None, api: Any) -> None:
    # Given
    api("POST", APPOINTMENTS, appointment_body(minutes=20), key="appt-1")

    # When
    status, body = api("POST", APPOINTMENTS, appointment_body(minutes=45), key="appt-1")

    # Then
    assert status == 409
    assert "Idempotency-Key" in body["error"]["message"]
    assert [a["duration_minutes"] for a in _listed(api)] == [20]


def test_post_appointment_same_key_other_user_gets_own_appointment(seeded: None, api: Any) -> None:
    # Given
    _, mine = api("POST", APPOINTMENTS, appointment_body(), key="shared", user="clin-1")

    # When
    status, theirs = api("POST", APPOINTMENTS, appointment_body(), key="shared", user="clin-2")

    # Then
    assert status == 201
    assert theirs["appointment"]["created_by"] == "clin-2"
    assert theirs["appointment"]["appointment_id"] != mine["appointment"]["appointment_id"]
    assert len(_listed(api)) == 2


def test_post_appointment_without_key_schedules_each_request(seeded: None, api: Any) -> None:
    # Given: the key is optional for scheduling
    first = _schedule(api)

    # When
    second = _schedule(api)

    # Then
    assert first != second
    assert sorted(a["appointment_id"] for a in _listed(api)) == sorted([first, second])


def test_post_appointment_bad_idempotency_key_is_422(seeded: None, api: Any) -> None:
    # Given / When
    status, body = api("POST", APPOINTMENTS, appointment_body(), key="not a key!")

    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "header.Idempotency-Key"


# Listing ----------------------------------------------------------------------------------------------------


def test_get_appointments_pages_through_patients_appointments(seeded: None, api: Any) -> None:
    # Given: three appointments of this patient
    scheduled = {_schedule(api) for _ in range(3)}

    # When
    _, first = api("GET", APPOINTMENTS, query={"limit": "2"})
    _, second = api("GET", APPOINTMENTS, query={"limit": "2", "cursor": first["next_cursor"]})

    # Then: the contract's list shape, no cursor after the last page
    assert set(first) == set(second) == {"items", "next_cursor"}
    assert first["next_cursor"]
    assert second["next_cursor"] is None
    listed = [a["appointment_id"] for a in first["items"] + second["items"]]
    assert len(first["items"]) == 2
    assert len(listed) == len(set(listed)) == 3
    assert set(listed) == scheduled


def test_get_appointments_lists_only_this_patients(seeded: None, api: Any) -> None:
    # Given: another patient of the same deployment with an appointment
    seed(patient="pat2")
    _, other = api("POST", "/v1/patients/pat2/appointments", appointment_body())
    mine = _schedule(api)

    # When
    listed = _listed(api)

    # Then
    assert [a["appointment_id"] for a in listed] == [mine]
    assert other["appointment"]["appointment_id"] != mine


def test_get_appointments_foreign_cursor_is_422(seeded: None, api: Any) -> None:
    # Given: a cursor of another listing (time entries of March)
    from rpm_billing.paging import encode_cursor

    cursor = encode_cursor(keys.entry_sk("2026-03", "X"))

    # When
    status, body = api("GET", APPOINTMENTS, query={"cursor": cursor})

    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "query.cursor"


def test_get_appointments_openapi_documents_limit_and_cursor() -> None:
    # Given
    from track_time.app import app

    # When
    operation = app.openapi_schema()["paths"]["/v1/patients/{patient_id}/appointments"]["get"]

    # Then: the contract's pagination parameters, not the old token
    names = {parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "query"}
    assert names == {"limit", "cursor"}


def test_get_appointments_other_org_is_404_like_missing(seeded: None, api: Any) -> None:
    # Given: the patient exists in org1 only
    _schedule(api)

    # When
    other_org = api("GET", APPOINTMENTS, org="org2", role="Admin")
    missing = api("GET", "/v1/patients/ghost/appointments", role="Admin")

    # Then
    assert other_org[0] == 404
    assert other_org == missing


# Completion -------------------------------------------------------------------------------------------------


def test_complete_appointment_records_interactive_call_entry(seeded: None, api: Any) -> None:
    # Given
    appointment_id = _schedule(api)

    # When
    status, body = api("POST", complete_path(appointment_id), completion_body(duration=900, modality="video"))

    # Then: a call entry of the caller, linked to the appointment
    assert status == 201
    entry = body["entry"]
    assert entry["activity"] == "call"
    assert entry["modality"] == "video"
    assert entry["interactive"] is True
    assert entry["duration_seconds"] == 900
    assert entry["clinician_id"] == "clin-1"
    assert entry["appointment_id"] == appointment_id
    assert entry["month"] == "2026-03"
    assert body["month_total_seconds"] == 900


def test_complete_appointment_moves_month_aggregate(seeded: None, api: Any) -> None:
    # Given: ten minutes of data review already logged this month
    api(
        "POST",
        f"/v1/patients/{PAT}/time-entries",
        {"activity": "data_review", "started_at": "2026-03-10T14:00:00+00:00", "duration_seconds": 600},
        key="review",
    )
    appointment_id = _schedule(api)

    # When
    _, body = api("POST", complete_path(appointment_id), completion_body(duration=300, modality="audio"))

    # Then
    month = month_item("2026-03")
    assert month is not None
    assert month["total_seconds"] == 900
    assert month["entry_count"] == 2
    assert month["interactive_calls"] == 1
    fact = month[f"E#{body['entry']['entry_id']}"]
    assert fact["activity"] == "call"
    assert fact["interactive"] is True
    assert fact["modality"] == "audio"
    assert body["month_total_seconds"] == 900


def test_complete_appointment_marks_it_completed_with_its_entry(seeded: None, api: Any) -> None:
    # Given
    appointment_id = _schedule(api)

    # When
    _, body = api("POST", complete_path(appointment_id), completion_body())

    # Then
    listed = _listed(api)
    assert len(listed) == 1
    assert listed[0]["status"] == "completed"
    assert listed[0]["entry_id"] == body["entry"]["entry_id"]
    stored = _stored(appointment_id)
    assert stored is not None
    assert stored["completed_at"] == "2026-03-20T18:00:00+00:00"


def test_complete_appointment_entry_is_listed_with_time_entries(seeded: None, api: Any) -> None:
    # Given
    appointment_id = _schedule(api)
    _, body = api("POST", complete_path(appointment_id), completion_body())

    # When
    status, listed = api("GET", f"/v1/patients/{PAT}/time-entries", query={"month": "2026-03"})

    # Then
    assert status == 200
    assert [e["entry_id"] for e in listed["items"]] == [body["entry"]["entry_id"]]
    assert listed["items"][0]["appointment_id"] == appointment_id


def test_complete_appointment_twice_is_409(seeded: None, api: Any) -> None:
    # Given: completed once
    appointment_id = _schedule(api)
    api("POST", complete_path(appointment_id), completion_body(), key="first")

    # When: a second completion under another key
    status, body = api(
        "POST", complete_path(appointment_id), completion_body("2026-03-19T17:00:00+00:00"), key="second"
    )

    # Then: refused, the month counts one call
    assert status == 409
    assert "already completed" in body["error"]["message"]
    month = month_item("2026-03")
    assert month["interactive_calls"] == 1
    assert month["entry_count"] == 1
    assert month["total_seconds"] == 900


def test_complete_appointment_by_other_clinician_after_completion_is_409(seeded: None, api: Any) -> None:
    # Given: clin-1 completed the call
    appointment_id = _schedule(api)
    api("POST", complete_path(appointment_id), completion_body(), user="clin-1")

    # When: clin-2 completes it too
    status, _ = api("POST", complete_path(appointment_id), completion_body(), user="clin-2")

    # Then
    assert status == 409
    assert month_item("2026-03")["interactive_calls"] == 1


def test_complete_appointment_changed_retry_without_key_is_409(seeded: None, api: Any) -> None:
    # Given: completed without an Idempotency-Key
    appointment_id = _schedule(api)
    api("POST", complete_path(appointment_id), completion_body(duration=900))

    # When: completed again with another duration
    status, _ = api("POST", complete_path(appointment_id), completion_body(duration=1200))

    # Then
    assert status == 409
    assert month_item("2026-03")["total_seconds"] == 900


def test_complete_appointment_retry_without_key_returns_same_entry(seeded: None, api: Any, ddb_requests: Any) -> None:
    # Given: a completion whose response was lost
    appointment_id = _schedule(api)
    first = api("POST", complete_path(appointment_id), completion_body())
    ddb_requests.reset()

    # When: the identical request is sent again
    again = api("POST", complete_path(appointment_id), completion_body())

    # Then: the same answer, one call counted
    assert first[0] == 201
    assert again == first
    assert ddb_requests.total <= 2
    month = month_item("2026-03")
    assert month["interactive_calls"] == 1
    assert month["entry_count"] == 1


def test_complete_appointment_same_key_replay_returns_same_entry(seeded: None, api: Any) -> None:
    # Given
    appointment_id = _schedule(api)
    first = api("POST", complete_path(appointment_id), completion_body(), key="done-1")

    # When
    again = api("POST", complete_path(appointment_id), completion_body(), key="done-1")

    # Then
    assert again == first
    assert month_item("2026-03")["interactive_calls"] == 1


def test_complete_appointment_same_key_other_body_is_409(seeded: None, api: Any) -> None:
    # Given
    appointment_id = _schedule(api)
    api("POST", complete_path(appointment_id), completion_body(duration=900), key="done-1")

    # When
    status, body = api("POST", complete_path(appointment_id), completion_body(duration=600), key="done-1")

    # Then
    assert status == 409
    assert "Idempotency-Key" in body["error"]["message"]
    assert month_item("2026-03")["total_seconds"] == 900


def test_complete_unknown_appointment_is_404(seeded: None, api: Any) -> None:
    # Given: no appointment

    # When
    status, body = api("POST", complete_path("01NOSUCHAPPOINTMENT"), completion_body())

    # Then: nothing recorded, no appointment created by the attempt
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert month_item("2026-03") is None
    assert _listed(api) == []


def test_complete_appointment_overlong_id_is_404(seeded: None, api: Any) -> None:
    # Given / When
    status, _ = api("POST", complete_path("A" * 65), completion_body())

    # Then
    assert status == 404


def test_complete_appointment_of_another_patient_is_404(seeded: None, api: Any) -> None:
    # Given: an appointment of pat2
    seed(patient="pat2")
    _, body = api("POST", "/v1/patients/pat2/appointments", appointment_body())
    appointment_id = body["appointment"]["appointment_id"]

    # When: completed through pat1
    status, _ = api("POST", complete_path(appointment_id), completion_body())

    # Then
    assert status == 404
    assert month_item("2026-03") is None
    assert _stored(appointment_id, patient="pat2")["status"] == "scheduled"


def test_complete_appointment_of_other_tenant_is_404_like_missing(seeded: None, api: Any) -> None:
    # Given: org1's appointment, and org2 with a patient under the same id
    appointment_id = _schedule(api)
    seed(org="org2")

    # When: an org2 clinician completes org1's appointment id on org2's patient
    foreign = api("POST", complete_path(appointment_id), completion_body(), org="org2")
    missing = api("POST", complete_path("01NOSUCHAPPOINTMENT"), completion_body(), org="org2")

    # Then: identical to a missing appointment; org1's appointment untouched
    assert foreign[0] == 404
    assert foreign == missing
    assert _stored(appointment_id)["status"] == "scheduled"
    assert month_item("2026-03", org="org2") is None


def test_complete_appointment_other_org_patient_is_404_like_missing(seeded: None, api: Any) -> None:
    # Given: org1's appointment; org2 has no such patient
    appointment_id = _schedule(api)

    # When
    other_org = api("POST", complete_path(appointment_id), completion_body(), org="org2", role="Admin")
    missing = api("POST", complete_path(appointment_id, "ghost"), completion_body(), org="org2", role="Admin")

    # Then
    assert other_org[0] == 404
    assert other_org == missing
    assert _stored(appointment_id)["status"] == "scheduled"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"modality": None}, "body.modality"),
        ({"modality": "chat"}, "body.modality"),
        ({"duration_seconds": 0}, "body.duration_seconds"),
        ({"duration_seconds": -60}, "body.duration_seconds"),
        ({"duration_seconds": 14401}, "body.duration_seconds"),
        ({"started_at": None}, "body.started_at"),
        ({"started_at": "2026-03-20T18:00:01+00:00"}, "body.started_at"),
    ],
)
def test_complete_appointment_invalid_field_is_422_naming_it(seeded: None, api: Any, change: dict, field: str) -> None:
    # Given
    appointment_id = _schedule(api)
    body = {name: value for name, value in {**completion_body(), **change}.items() if value is not None}

    # When
    status, reply = api("POST", complete_path(appointment_id), body)

    # Then: the appointment stays scheduled, nothing is counted
    assert status == 422
    assert field in [problem["path"] for problem in reply["error"]["fields"]]
    assert _stored(appointment_id)["status"] == "scheduled"
    assert month_item("2026-03") is None


def test_complete_appointment_after_enrollment_ended_is_409(seeded: None, api: Any) -> None:
    # Given: scheduled while enrolled, then the episode ended
    appointment_id = _schedule(api)
    seed(status="ended")

    # When
    status, body = api("POST", complete_path(appointment_id), completion_body())

    # Then
    assert status == 409
    assert "not enrolled" in body["error"]["message"]
    assert _stored(appointment_id)["status"] == "scheduled"


def test_complete_appointment_overlapping_own_entry_is_422(seeded: None, api: Any) -> None:
    # Given: the clinician logged 15:00-15:10Z on this patient
    api(
        "POST",
        f"/v1/patients/{PAT}/time-entries",
        {"activity": "data_review", "started_at": "2026-03-19T15:00:00+00:00", "duration_seconds": 600},
        key="review",
    )
    appointment_id = _schedule(api)

    # When: the call is said to start at 15:05Z
    status, body = api("POST", complete_path(appointment_id), completion_body("2026-03-19T15:05:00+00:00"))

    # Then: refused, the appointment is still open
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.started_at"
    assert _stored(appointment_id)["status"] == "scheduled"


def test_complete_appointment_call_lands_in_practice_month(seeded: None, api: Any) -> None:
    # Given: a call at 23:30 on February 28 in Chicago (05:30Z on March 1)
    appointment_id = _schedule(api)

    # When
    _, body = api("POST", complete_path(appointment_id), completion_body("2026-02-28T23:30:00-06:00", 600))

    # Then: February's interactive call, not March's
    assert body["entry"]["month"] == "2026-02"
    assert month_item("2026-02")["interactive_calls"] == 1
    assert month_item("2026-03") is None


# Offline appointments ---------------------------------------------------------------------------------------


def offline_body(**completion: Any) -> dict:
    return appointment_body("2026-03-19T10:00:00-05:00", 15, completed=completion_body(**completion))


def test_post_offline_appointment_enabled_records_call(aws: None, api: Any) -> None:
    # Given: a deployment that allows logging calls that were never scheduled
    seed(offline=True)

    # When
    status, body = api("POST", APPOINTMENTS, offline_body(duration=600, modality="audio"), key="offline-1")

    # Then: a completed offline appointment and its call entry
    assert status == 201
    appointment, entry = body["appointment"], body["entry"]
    assert appointment["offline"] is True
    assert appointment["status"] == "completed"
    assert appointment["entry_id"] == entry["entry_id"]
    assert entry["activity"] == "call"
    assert entry["modality"] == "audio"
    assert entry["appointment_id"] == appointment["appointment_id"]
    assert body["month_total_seconds"] == 600
    month = month_item("2026-03")
    assert month["interactive_calls"] == 1
    assert month["total_seconds"] == 600


def test_post_offline_appointment_is_listed_as_completed(aws: None, api: Any) -> None:
    # Given
    seed(offline=True)
    _, body = api("POST", APPOINTMENTS, offline_body(), key="offline-1")

    # When
    listed = _listed(api)

    # Then
    assert listed == [body["appointment"]]


def test_post_offline_appointment_disabled_is_409(seeded: None, api: Any) -> None:
    # Given: the deployment does not allow offline appointments (the default)

    # When
    status, body = api("POST", APPOINTMENTS, offline_body(), key="offline-1")

    # Then: a clear refusal, nothing stored
    assert status == 409
    assert "offline appointments are not enabled" in body["error"]["message"]
    assert month_item("2026-03") is None
    assert _listed(api) == []


def test_post_offline_appointment_replay_records_one_call(aws: None, api: Any) -> None:
    # Given
    seed(offline=True)
    first = api("POST", APPOINTMENTS, offline_body(), key="offline-1")

    # When
    again = api("POST", APPOINTMENTS, offline_body(), key="offline-1")

    # Then
    assert again == first
    assert len(_listed(api)) == 1
    month = month_item("2026-03")
    assert month["interactive_calls"] == 1
    assert month["entry_count"] == 1


def test_post_offline_appointment_same_key_other_body_is_409(aws: None, api: Any) -> None:
    # Given
    seed(offline=True)
    api("POST", APPOINTMENTS, offline_body(duration=600), key="offline-1")

    # When
    status, _ = api("POST", APPOINTMENTS, offline_body(duration=900), key="offline-1")

    # Then
    assert status == 409
    assert month_item("2026-03")["total_seconds"] == 600


def test_post_offline_appointment_without_key_is_428(aws: None, api: Any) -> None:
    # Given
    seed(offline=True)

    # When
    status, body = api("POST", APPOINTMENTS, offline_body())

    # Then
    assert status == 428
    assert body["error"]["fields"][0]["path"] == "header.Idempotency-Key"
    assert month_item("2026-03") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"modality": "sms"}, "body.completed.modality"),
        ({"duration_seconds": 0}, "body.completed.duration_seconds"),
        ({"started_at": "2026-03-21T09:00:00+00:00"}, "body.completed.started_at"),
    ],
)
def test_post_offline_appointment_invalid_completion_is_422(aws: None, api: Any, change: dict, field: str) -> None:
    # Given
    seed(offline=True)

    # When
    status, body = api("POST", APPOINTMENTS, offline_body(**change), key="offline-1")

    # Then
    assert status == 422
    assert field in [problem["path"] for problem in body["error"]["fields"]]
    assert _listed(api) == []


def test_post_offline_appointment_overlapping_own_call_names_completed_start(aws: None, api: Any) -> None:
    # Given: an offline call 15:02-15:17Z already logged by this clinician
    seed(offline=True)
    api("POST", APPOINTMENTS, offline_body(started_at="2026-03-19T15:02:00+00:00", duration=900), key="offline-1")

    # When: another one said to start at 15:10Z
    status, body = api("POST", APPOINTMENTS, offline_body(started_at="2026-03-19T15:10:00+00:00"), key="offline-2")

    # Then
    assert status == 422
    assert [problem["path"] for problem in body["error"]["fields"]] == ["body.completed.started_at"]
    assert len(_listed(api)) == 1


# Roles ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Admin", "AccessController", "DeploymentStaff", "Contributor", "OrganisationStaff"])
def test_complete_appointment_every_role_may_track(seeded: None, api: Any, role: str) -> None:
    # Given
    appointment_id = _schedule(api, role=role)

    # When
    status, _ = api("POST", complete_path(appointment_id), completion_body(), role=role)

    # Then
    assert status == 201


def test_post_appointment_roleless_user_is_403(seeded: None, api: Any) -> None:
    # Given / When
    scheduled, _ = api("POST", APPOINTMENTS, appointment_body(), role="")
    listed, _ = api("GET", APPOINTMENTS, role="")

    # Then
    assert scheduled == 403
    assert listed == 403


def test_post_appointment_deployment_outside_scope_is_404(seeded: None, api: Any) -> None:
    # Given: a Contributor of another deployment of the same org

    # When
    status, _ = api("POST", APPOINTMENTS, appointment_body(), dep="dep2")

    # Then
    assert status == 404
