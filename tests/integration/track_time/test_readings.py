"""Device and manual readings over moto: batches, replays, patient-local days, the 30-day period, budgets."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rpm_billing import clock
from rpm_billing.db import keys
from tests.capture import captured_logs

from .conftest import DEP, NOW, ORG, PAT, claims, get, month_item, put, seed

READINGS = f"/v1/patients/{PAT}/readings"


def reading(reading_id: str, measured_at: str, source: str = "device", **extra: Any) -> dict[str, Any]:
    """One reading as a client sends it; a device reading carries its device id."""
    body: dict[str, Any] = {
        "reading_id": reading_id,
        "measured_at": measured_at,
        "type": "blood_pressure",
        "source": source,
        "value": {"systolic": 128, "diastolic": 82},
        "unit": "mmHg",
    }
    if source == "device":
        body["device_id"] = "dev-1"
    body.update(extra)
    return body


def batch(*readings: dict[str, Any]) -> dict[str, Any]:
    return {"readings": list(readings)}


def daily(first: date, days: int, per_day: int = 1, prefix: str = "r", source: str = "device") -> list[dict]:
    """``per_day`` readings a day from ``first``, at 14:00Z plus a minute each (mid-morning in New York)."""
    return [
        reading(
            f"{prefix}-{(first + timedelta(days=d)).isoformat()}-{n}",
            (datetime(first.year, first.month, first.day, 14, tzinfo=UTC) + timedelta(days=d, minutes=n)).isoformat(),
            source,
        )
        for d in range(days)
        for n in range(per_day)
    ]


def day_item(day: str, patient: str = PAT, org: str = ORG) -> dict[str, Any] | None:
    return get(keys.patient_pk(org, patient), keys.reading_day_sk(day))


def enrollment() -> dict[str, Any]:
    item = get(keys.patient_pk(ORG, PAT), keys.ENROLLMENT_SK)
    assert item is not None
    return item


def device_days(month: str) -> set[str]:
    item = month_item(month)
    return set((item or {}).get("device_days") or ())


def manual_days(month: str) -> set[str]:
    item = month_item(month)
    return set((item or {}).get("manual_days") or ())


def reading_days() -> list[str]:
    """Every stored reading day of the patient (a scan: tests only)."""
    from rpm_billing.db.client import dynamodb
    from rpm_billing.settings import get_settings

    items = dynamodb().scan(TableName=get_settings().table_name)["Items"]
    prefix = keys.reading_day_sk("")
    return sorted(item["SK"]["S"].removeprefix(prefix) for item in items if item["SK"]["S"].startswith(prefix))


def seed_rtm(category: str = "musculoskeletal") -> None:
    """An RTM deployment: the seeded RPM config with ``program`` and ``rtm_category`` changed."""
    seed()
    config = get(keys.deployment_pk(ORG, DEP), keys.CONFIG_SK)
    assert config is not None
    put({**config, "program": "RTM", "rtm_category": category})


@pytest.fixture
def billing_status(call_api: Any) -> Any:
    """The patient's live billing status (as of today, or ``as_of``)."""
    from evaluate.app import lambda_handler

    def read(as_of: str | None = None) -> dict[str, Any]:
        query = {"as_of": as_of} if as_of else None
        path = f"/v1/patients/{PAT}/billing/status"
        status, _, body = call_api(lambda_handler, "GET", path, claims=claims(), query=query)
        assert status == 200
        return dict(body)

    return read


@pytest.fixture
def device_code(billing_status: Any) -> Any:
    """The live status of the patient's device-supply code (``99454`` for RPM, the category's for RTM)."""

    def read(code: str = "99454", as_of: str | None = None) -> dict[str, Any]:
        return next(item for item in billing_status(as_of)["codes"] if item["code"] == code)

    return read


def evaluate_month(month: str) -> int:
    """Run the monthly evaluation of ``month`` for the seeded patient (a past month is closed); records written."""
    from evaluate import service
    from rpm_billing.db import billing

    config = billing.load_config(ORG, DEP)
    return service.evaluate_patient_month(
        org_id=ORG,
        deployment_id=DEP,
        patient_id=PAT,
        month=month,
        evaluation_id=f"cpt-{DEP}-{month}-r1",
        run=1,
        config=config,
        through=service.records_through(month, config),
    )


def concurrently(update: str, values: dict[str, Any], names: dict[str, str] | None = None) -> None:
    """Change the enrollment as another writer would: through a client of its own (not counted as ours)."""
    import boto3

    from rpm_billing.settings import get_settings

    request: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "Key": keys.key(keys.patient_pk(ORG, PAT), keys.ENROLLMENT_SK),
        "UpdateExpression": update,
        "ExpressionAttributeValues": values,
    }
    if names:
        request["ExpressionAttributeNames"] = names
    boto3.client("dynamodb").update_item(**request)


def logged(caplog: Any, message: str) -> list[dict[str, Any]]:
    """The captured log records with ``message``: message, level and the extra keys the product logged."""
    standard = set(vars(logging.makeLogRecord({})))
    return [
        {
            "message": record.getMessage(),
            "level": record.levelname,
            **{k: v for k, v in vars(record).items() if k not in standard},
        }
        for record in caplog.records
        if record.getMessage() == message
    ]


# Batches ----------------------------------------------------------------------------------------------------


def test_post_readings_batch_of_100_is_accepted(seeded: None, api: Any) -> None:
    # Given: ten readings a day on March 1-10
    readings = daily(date(2026, 3, 1), 10, per_day=10)

    # When
    status, body = api("POST", READINGS, batch(*readings), key="b1")

    # Then
    assert status == 200
    assert body["accepted"] == 100
    assert body["already_known"] == 0
    assert body["new_device_days"] == [f"2026-03-{day:02d}" for day in range(1, 11)]
    assert body["new_manual_days"] == []
    assert device_days("2026-03") == set(body["new_device_days"])


def test_post_readings_stores_each_reading_on_its_day(seeded: None, api: Any) -> None:
    # Given
    first = reading("r-1", "2026-03-10T14:00:00-04:00", unit="mmHg")
    second = reading("r-2", "2026-03-10T18:30:00+00:00", type="heart_rate", value={"bpm": 61}, unit="bpm")

    # When
    api("POST", READINGS, batch(first, second), key="b1")

    # Then: one day item with both readings, times in UTC
    item = day_item("2026-03-10")
    assert item is not None
    assert item["type"] == "reading_day"
    assert item["reading_ids"] == {"r-1", "r-2"}
    assert item["R#r-1"] == {
        "measured_at": "2026-03-10T18:00:00+00:00",
        "type": "blood_pressure",
        "source": "device",
        "device_id": "dev-1",
        "value": {"systolic": 128, "diastolic": 82},
        "unit": "mmHg",
    }
    assert item["R#r-2"]["value"] == {"bpm": 61}


def test_post_readings_batch_of_101_is_422(seeded: None, api: Any) -> None:
    # Given
    readings = daily(date(2026, 3, 1), 11, per_day=10)[:101]

    # When
    status, body = api("POST", READINGS, batch(*readings), key="b1")

    # Then: nothing stored
    assert len(readings) == 101
    assert status == 422
    assert "body.readings" in [problem["path"] for problem in body["error"]["fields"]]
    assert reading_days() == []
    assert month_item("2026-03") is None


def test_post_readings_empty_batch_is_422(seeded: None, api: Any) -> None:
    # Given / When
    status, body = api("POST", READINGS, batch(), key="b1")

    # Then
    assert status == 422
    assert "body.readings" in [problem["path"] for problem in body["error"]["fields"]]


def test_post_readings_duplicate_id_in_batch_is_422(seeded: None, api: Any) -> None:
    # Given
    readings = [reading("same", "2026-03-10T14:00:00+00:00"), reading("same", "2026-03-11T14:00:00+00:00")]

    # When
    status, body = api("POST", READINGS, batch(*readings), key="b1")

    # Then
    assert status == 422
    assert "body.readings" in [problem["path"] for problem in body["error"]["fields"]]
    assert reading_days() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"device_id": None}, "body.readings.1.device_id"),
        ({"source": "typed"}, "body.readings.1.source"),
        ({"measured_at": "2026-03-10T14:00:00"}, "body.readings.1.measured_at"),
        ({"measured_at": None}, "body.readings.1.measured_at"),
        ({"reading_id": "has space"}, "body.readings.1.reading_id"),
        ({"type": "Blood Pressure"}, "body.readings.1.type"),
        ({"unit": "<b>"}, "body.readings.1.unit"),
        ({"value": {"blob": "x" * 2100}}, "body.readings.1.value"),
        ({"patient_id": "pat2"}, "body.readings.1.patient_id"),
    ],
)
def test_post_readings_invalid_reading_is_422_naming_it(seeded: None, api: Any, change: dict, field: str) -> None:
    # Given: the second reading of the batch is invalid
    bad = {k: v for k, v in {**reading("r-2", "2026-03-11T14:00:00+00:00"), **change}.items() if v is not None}

    # When
    status, body = api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00"), bad), key="b1")

    # Then: the whole batch is refused
    assert status == 422
    assert field in [problem["path"] for problem in body["error"]["fields"]]
    assert reading_days() == []


def test_post_readings_without_idempotency_key_is_428(seeded: None, api: Any) -> None:
    # Given / When
    status, body = api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")))

    # Then
    assert status == 428
    assert body["error"]["fields"][0]["path"] == "header.Idempotency-Key"
    assert reading_days() == []


# Replays ----------------------------------------------------------------------------------------------------


def test_post_readings_replayed_ids_under_new_key_change_nothing(seeded: None, api: Any) -> None:
    # Given: five readings on three days
    readings = daily(date(2026, 3, 2), 3, per_day=2)[:5]
    api("POST", READINGS, batch(*readings), key="first")
    before = {day: day_item(day) for day in reading_days()}

    # When: the device sends them again under another key
    status, body = api("POST", READINGS, batch(*readings), key="second")

    # Then
    assert status == 200
    assert body == {"accepted": 0, "already_known": 5, "new_device_days": [], "new_manual_days": []}
    assert {day: day_item(day) for day in reading_days()} == before
    assert device_days("2026-03") == {"2026-03-02", "2026-03-03", "2026-03-04"}


def test_post_readings_replayed_id_keeps_first_value(seeded: None, api: Any) -> None:
    # Given
    api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="first")

    # When: the same reading id arrives with another value
    changed = reading("r-1", "2026-03-10T14:00:00+00:00", value={"systolic": 190, "diastolic": 120})
    _, body = api("POST", READINGS, batch(changed), key="second")

    # Then
    assert body["already_known"] == 1
    assert day_item("2026-03-10")["R#r-1"]["value"] == {"systolic": 128, "diastolic": 82}


def test_post_readings_partial_replay_counts_only_new_readings(seeded: None, api: Any) -> None:
    # Given: two readings on March 10
    known = [reading("r-1", "2026-03-10T14:00:00+00:00"), reading("r-2", "2026-03-10T15:00:00+00:00")]
    api("POST", READINGS, batch(*known), key="first")

    # When: resent with one new reading on March 11
    _, body = api("POST", READINGS, batch(*known, reading("r-3", "2026-03-11T14:00:00+00:00")), key="second")

    # Then
    assert body["accepted"] == 1
    assert body["already_known"] == 2
    assert body["new_device_days"] == ["2026-03-11"]
    assert day_item("2026-03-10")["reading_ids"] == {"r-1", "r-2"}
    assert day_item("2026-03-11")["reading_ids"] == {"r-3"}


def test_post_readings_new_day_recorded_once(seeded: None, api: Any) -> None:
    # Given: a reading on March 10
    api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="first")

    # When: another reading on the same day
    _, body = api("POST", READINGS, batch(reading("r-2", "2026-03-10T20:00:00+00:00")), key="second")

    # Then: a new reading, not a new day
    assert body["accepted"] == 1
    assert body["new_device_days"] == []
    assert month_item("2026-03")["device_days"] == {"2026-03-10"}
    assert day_item("2026-03-10")["reading_ids"] == {"r-1", "r-2"}


def test_post_readings_same_key_replay_returns_first_response(seeded: None, api: Any, ddb_requests: Any) -> None:
    # Given
    readings = daily(date(2026, 3, 1), 3)
    first = api("POST", READINGS, batch(*readings), key="b1")
    ddb_requests.reset()

    # When
    again = api("POST", READINGS, batch(*readings), key="b1")

    # Then: the first answer, from one read
    assert again == first
    assert first[1]["accepted"] == 3
    assert dict(ddb_requests.calls) == {"BatchGetItem": 1}


def test_post_readings_same_key_other_body_is_409(seeded: None, api: Any) -> None:
    # Given
    api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="b1")

    # When
    status, body = api("POST", READINGS, batch(reading("r-2", "2026-03-11T14:00:00+00:00")), key="b1")

    # Then
    assert status == 409
    assert "Idempotency-Key" in body["error"]["message"]
    assert reading_days() == ["2026-03-10"]


def test_post_readings_same_key_other_user_gets_own_answer(seeded: None, api: Any) -> None:
    # Given: clin-1 sent a batch under a key
    readings = daily(date(2026, 3, 1), 2)
    _, mine = api("POST", READINGS, batch(*readings), key="shared", user="clin-1")

    # When: clin-2 sends the same batch under the same key
    status, theirs = api("POST", READINGS, batch(*readings), key="shared", user="clin-2")

    # Then: clin-2's request ran (nothing new), not clin-1's stored answer
    assert status == 200
    assert mine["accepted"] == 2
    assert theirs["accepted"] == 0
    assert theirs["already_known"] == 2


# Patient-local days ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured_at", "day"),
    [
        ("2026-03-10T03:30:00+00:00", "2026-03-09"),  # 23:30 EDT on the 9th; UTC already says the 10th
        ("2026-03-10T04:30:00+00:00", "2026-03-10"),  # 00:30 EDT on the 10th; Chicago still says the 9th
        ("2026-03-05T04:30:00+00:00", "2026-03-04"),  # 23:30 EST before the change to summer time
        ("2026-03-09T23:30:00-07:00", "2026-03-10"),  # another offset: 06:30Z, 02:30 EDT
    ],
)
def test_post_readings_day_is_patients_local_date(seeded: None, api: Any, measured_at: str, day: str) -> None:
    # Given: a patient in New York, a practice in Chicago

    # When
    _, body = api("POST", READINGS, batch(reading("r-1", measured_at)), key="b1")

    # Then
    assert body["new_device_days"] == [day]
    assert reading_days() == [day]
    assert device_days("2026-03") == {day}


def test_post_readings_day_follows_patient_zone_not_practice(aws: None, api: Any) -> None:
    # Given: a patient in Los Angeles, a practice in Chicago
    seed(patient_zone="America/Los_Angeles")

    # When: 06:30Z on March 10 is 23:30 on March 9 in Los Angeles, 01:30 on March 10 in Chicago
    _, body = api("POST", READINGS, batch(reading("r-1", "2026-03-10T06:30:00+00:00")), key="b1")

    # Then
    assert body["new_device_days"] == ["2026-03-09"]


def test_post_readings_month_is_patients_local_month(seeded: None, api: Any) -> None:
    # Given: 03:30Z on April 1 is still March 31 in New York
    clock.pin(datetime(2026, 4, 2, tzinfo=UTC))

    # When
    _, body = api("POST", READINGS, batch(reading("r-1", "2026-04-01T03:30:00+00:00")), key="b1")

    # Then
    assert body["new_device_days"] == ["2026-03-31"]
    assert device_days("2026-03") == {"2026-03-31"}
    assert month_item("2026-04") is None


def test_post_readings_across_spring_forward_land_on_local_dates(seeded: None, api: Any) -> None:
    # Given: New York moves from EST (-5) to EDT (-4) at 07:00Z on 2026-03-08
    readings = [
        reading("a", "2026-03-08T04:30:00+00:00"),  # 23:30 EST on the 7th
        reading("b", "2026-03-08T05:30:00+00:00"),  # 00:30 EST on the 8th
        reading("c", "2026-03-08T06:30:00+00:00"),  # 01:30 EST on the 8th
        reading("d", "2026-03-08T07:30:00+00:00"),  # 03:30 EDT on the 8th
        reading("e", "2026-03-09T03:30:00+00:00"),  # 23:30 EDT on the 8th
        reading("f", "2026-03-09T04:30:00+00:00"),  # 00:30 EDT on the 9th (a fixed -5 would say the 8th)
    ]

    # When
    _, body = api("POST", READINGS, batch(*readings), key="b1")

    # Then
    assert body["new_device_days"] == ["2026-03-07", "2026-03-08", "2026-03-09"]
    assert day_item("2026-03-07")["reading_ids"] == {"a"}
    assert day_item("2026-03-08")["reading_ids"] == {"b", "c", "d", "e"}
    assert day_item("2026-03-09")["reading_ids"] == {"f"}


def test_post_readings_across_fall_back_land_on_local_dates(seeded: None, api: Any) -> None:
    # Given: New York moves from EDT (-4) back to EST (-5) at 06:00Z on 2026-11-01
    clock.pin(datetime(2026, 11, 3, tzinfo=UTC))
    readings = [
        reading("a", "2026-11-01T03:30:00+00:00"),  # 23:30 EDT on October 31
        reading("b", "2026-11-01T04:30:00+00:00"),  # 00:30 EDT on November 1
        reading("c", "2026-11-01T05:30:00+00:00"),  # 01:30 EDT, the first one
        reading("d", "2026-11-01T06:30:00+00:00"),  # 01:30 EST, the repeated hour
        reading("e", "2026-11-02T04:30:00+00:00"),  # 23:30 EST on November 1 (a fixed -4 would say the 2nd)
        reading("f", "2026-11-02T05:30:00+00:00"),  # 00:30 EST on November 2
    ]

    # When
    _, body = api("POST", READINGS, batch(*readings), key="b1")

    # Then: October's day in October's aggregate, November's in November's
    assert body["new_device_days"] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert day_item("2026-11-01")["reading_ids"] == {"b", "c", "d", "e"}
    assert device_days("2026-10") == {"2026-10-31"}
    assert device_days("2026-11") == {"2026-11-01", "2026-11-02"}


# Future readings and enrollment ------------------------------------------------------------------------------


def test_post_readings_future_reading_is_422(seeded: None, api: Any) -> None:
    # Given: the second reading is one second ahead of the clock
    readings = [reading("r-1", "2026-03-10T14:00:00+00:00"), reading("r-2", (NOW + timedelta(seconds=1)).isoformat())]

    # When
    status, body = api("POST", READINGS, batch(*readings), key="b1")

    # Then: the batch is refused, the field named
    assert status == 422
    assert [problem["path"] for problem in body["error"]["fields"]] == ["body.readings.1.measured_at"]
    assert reading_days() == []


def test_post_readings_at_current_instant_is_accepted(seeded: None, api: Any) -> None:
    # Given / When
    status, body = api("POST", READINGS, batch(reading("r-1", NOW.isoformat())), key="b1")

    # Then
    assert status == 200
    assert body["new_device_days"] == ["2026-03-20"]


@pytest.mark.parametrize("status_value", [None, "ended"])
def test_post_readings_patient_not_enrolled_is_409(aws: None, api: Any, status_value: str | None) -> None:
    # Given
    seed(status=status_value)

    # When
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 3)), key="b1")

    # Then
    assert status == 409
    assert "not enrolled" in body["error"]["message"]
    assert reading_days() == []
    assert month_item("2026-03") is None


def test_post_readings_enrolled_in_other_deployment_is_409(seeded: None, api: Any) -> None:
    # Given: the enrollment names another deployment than the patient's profile
    put({**enrollment(), "deployment_id": "dep-old"})

    # When
    status, _ = api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="b1")

    # Then
    assert status == 409
    assert reading_days() == []


# Request budget ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "days", "per_day"), [(date(2026, 3, 12), 1, 100), (date(2026, 2, 20), 25, 4)])
def test_post_readings_costs_two_requests_in_warm_container(
    seeded: None, api: Any, ddb_requests: Any, first: date, days: int, per_day: int
) -> None:
    # Given: a first batch warmed the container (patient context, config)
    api("POST", READINGS, batch(reading("warm", "2026-01-15T14:00:00+00:00")), key="warm")
    ddb_requests.reset()

    # When: 100 readings, on one day or on 25 days across a month boundary
    status, body = api("POST", READINGS, batch(*daily(first, days, per_day)), key="b1")

    # Then: one read and one transaction
    assert status == 200
    assert body["accepted"] == 100
    assert len(body["new_device_days"]) == days
    assert dict(ddb_requests.calls) == {"BatchGetItem": 1, "TransactWriteItems": 1}


def test_post_readings_replay_under_new_key_costs_two_requests(seeded: None, api: Any, ddb_requests: Any) -> None:
    # Given
    readings = daily(date(2026, 2, 20), 25, 4)
    api("POST", READINGS, batch(*readings), key="first")
    ddb_requests.reset()

    # When
    _, body = api("POST", READINGS, batch(*readings), key="second")

    # Then
    assert body["already_known"] == 100
    assert ddb_requests.total <= 2


# Manual readings, RPM and RTM -------------------------------------------------------------------------------


def _device_and_manual() -> dict[str, Any]:
    """Device readings on March 2-3, manual ones on March 3-5."""
    return batch(*daily(date(2026, 3, 2), 2, prefix="dev"), *daily(date(2026, 3, 3), 3, prefix="man", source="manual"))


def test_post_readings_manual_readings_are_stored_as_manual_days(seeded: None, api: Any) -> None:
    # Given / When
    _, body = api("POST", READINGS, _device_and_manual(), key="b1")

    # Then: stored with their source, in their own day set
    assert body["accepted"] == 5
    assert body["new_device_days"] == ["2026-03-02", "2026-03-03"]
    assert body["new_manual_days"] == ["2026-03-03", "2026-03-04", "2026-03-05"]
    assert device_days("2026-03") == {"2026-03-02", "2026-03-03"}
    assert manual_days("2026-03") == {"2026-03-03", "2026-03-04", "2026-03-05"}
    stored = day_item("2026-03-05")["R#man-2026-03-05-0"]
    assert stored["source"] == "manual"
    assert stored["device_id"] is None


def test_post_readings_manual_readings_not_days_with_data_for_rpm(seeded: None, api: Any, device_code: Any) -> None:
    # Given: an RPM deployment
    api("POST", READINGS, _device_and_manual(), key="b1")

    # When
    code = device_code("99454")

    # Then: only the two device days count
    assert code["evidence"]["days_with_data"] == 2


def test_post_readings_manual_readings_are_days_with_data_for_rtm(aws: None, api: Any, device_code: Any) -> None:
    # Given: an RTM (musculoskeletal) deployment
    seed_rtm("musculoskeletal")
    api("POST", READINGS, _device_and_manual(), key="b1")

    # When
    code = device_code("98977")

    # Then: the union of device and manual days
    assert code["evidence"]["days_with_data"] == 4


def test_post_readings_only_manual_days_for_rpm_count_nothing(seeded: None, api: Any, device_code: Any) -> None:
    # Given
    api("POST", READINGS, batch(*daily(date(2026, 3, 2), 3, source="manual")), key="b1")

    # When
    code = device_code("99454")

    # Then
    assert code["evidence"]["days_with_data"] == 0
    assert manual_days("2026-03") == {"2026-03-02", "2026-03-03", "2026-03-04"}


# The 30-day period ------------------------------------------------------------------------------------------


def test_post_readings_first_day_starts_the_period(seeded: None, api: Any, device_code: Any) -> None:
    # Given / When: readings on March 1-10
    api("POST", READINGS, batch(*daily(date(2026, 3, 1), 10)), key="b1")

    # Then
    assert enrollment()["first_reading_day"] == "2026-03-01"
    code = device_code()
    assert (code["period_start"], code["period_end"]) == ("2026-03-01", "2026-03-30")
    assert code["evidence"]["days_with_data"] == 10


def test_post_readings_period_day_count_grows_with_new_days_only(seeded: None, api: Any, device_code: Any) -> None:
    # Given: an established patient with readings on March 1-10
    put({**enrollment(), "established_patient": True})
    api("POST", READINGS, batch(*daily(date(2026, 3, 1), 10)), key="b1")

    # When: readings on March 9-16 (two days already known), some resent
    resent = daily(date(2026, 3, 9), 2)
    api("POST", READINGS, batch(*resent, *daily(date(2026, 3, 9), 8, prefix="more")), key="b2")

    # Then: sixteen days, the long device code is met
    code = device_code()
    assert code["evidence"]["days_with_data"] == 16
    assert code["status"] == "met"


def test_post_readings_period_spanning_two_months_counts_both(seeded: None, api: Any, device_code: Any) -> None:
    # Given / When: readings on February 20 - March 7 (the period runs February 20 - March 21)
    _, body = api("POST", READINGS, batch(*daily(date(2026, 2, 20), 16)), key="b1")

    # Then
    assert len(body["new_device_days"]) == 16
    assert len(device_days("2026-02")) == 9
    assert len(device_days("2026-03")) == 7
    code = device_code()
    assert (code["period_start"], code["period_end"]) == ("2026-02-20", "2026-03-21")
    assert code["evidence"]["days_with_data"] == 16


def test_post_readings_later_batch_keeps_first_reading_day(seeded: None, api: Any) -> None:
    # Given
    api("POST", READINGS, batch(*daily(date(2026, 3, 1), 2)), key="b1")

    # When
    api("POST", READINGS, batch(*daily(date(2026, 3, 12), 2)), key="b2")

    # Then
    assert enrollment()["first_reading_day"] == "2026-03-01"


def test_post_readings_backfilled_earlier_days_are_recorded(seeded: None, api: Any) -> None:
    # Given: a device sent March 5-10 first
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")

    # When: another device syncs its stored readings of March 1-4 later
    _, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 4, prefix="late")), key="b2")

    # Then: the earlier days are new days of March
    assert body["new_device_days"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert device_days("2026-03") == {f"2026-03-{day:02d}" for day in range(1, 11)}


# Late-synced readings and the monitoring start ----------------------------------------------------------------

LATE_LOG = "late-synced reading days fall before a monitoring start that stays"


def test_post_readings_late_sync_moves_first_reading_day_back(seeded: None, api: Any, device_code: Any) -> None:
    # Given: a device synced March 5-10 first; no explicit monitoring start
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    assert enrollment()["first_reading_day"] == "2026-03-05"

    # When: the readings it had buffered for March 1-4 arrive later
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 4, prefix="late")), key="b2")

    # Then: the first period starts on March 1 and counts all ten days
    assert status == 200
    assert body["new_device_days"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert enrollment()["first_reading_day"] == "2026-03-01"
    assert "days_before_start" not in enrollment()
    code = device_code()
    assert (code["period_start"], code["period_end"]) == ("2026-03-01", "2026-03-30")
    assert code["evidence"]["days_with_data"] == 10


def test_post_readings_late_sync_in_one_batch_with_later_days_moves_start(seeded: None, api: Any) -> None:
    # Given: March 5-10 stored
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")

    # When: one batch mixes a late March 3 with new days after the start
    late = daily(date(2026, 3, 3), 1, prefix="late") + daily(date(2026, 3, 11), 2, prefix="new")
    api("POST", READINGS, batch(*late), key="b2")

    # Then
    assert enrollment()["first_reading_day"] == "2026-03-03"


def test_post_readings_late_sync_never_moves_explicit_monitoring_start(
    seeded: None, api: Any, device_code: Any, billing_status: Any
) -> None:
    # Given: monitoring explicitly started on March 5, readings of March 5-10
    put({**enrollment(), "monitoring_start": "2026-03-05"})
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")

    # When: readings of March 1-4 sync late
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 4, prefix="late")), key="b2")

    # Then: stored, but the period still starts on the explicit date; nothing is flagged
    assert status == 200
    assert body["accepted"] == 4
    assert device_days("2026-03") == {f"2026-03-{day:02d}" for day in range(1, 11)}
    stored = enrollment()
    assert (stored["monitoring_start"], stored["first_reading_day"]) == ("2026-03-05", "2026-03-05")
    assert "days_before_start" not in stored
    code = device_code()
    assert (code["period_start"], code["evidence"]["days_with_data"]) == ("2026-03-05", 6)
    assert "readings_before_monitoring_start" not in [w["code"] for w in billing_status()["warnings"]]


def test_post_readings_late_sync_after_first_period_billed_keeps_start(
    seeded: None, api: Any, device_code: Any, billing_status: Any, caplog: Any
) -> None:
    # Given: an established patient with readings on March 5-20, and April's evaluation billed the first
    # period (March 5 - April 3: set-up and 99454)
    put({**enrollment(), "established_patient": True})
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 16)), key="b1")
    clock.pin(datetime(2026, 5, 2, 15, tzinfo=UTC))
    assert evaluate_month("2026-04") >= 2
    assert enrollment()["periods_billed"]["period_start"] == "2026-03-05"
    caplog.clear()

    # When: readings of March 1-4 sync late
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 4, prefix="late")), key="b2")

    # Then: the readings are stored, the start stays, the late days are recorded and reported
    assert status == 200
    assert body["new_device_days"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert [day for day in reading_days() if day < "2026-03-05"] == body["new_device_days"]
    assert len(device_days("2026-03")) == 20
    stored = enrollment()
    assert stored["first_reading_day"] == "2026-03-05"
    assert stored["days_before_start"] == set(body["new_device_days"])
    assert device_code(as_of="2026-04-03")["period_start"] == "2026-03-05"
    warnings = {w["code"]: w["message"] for w in billing_status()["warnings"]}
    assert warnings["readings_before_monitoring_start"].startswith("4 days with readings")
    # ... and logged as a warning with ids and counts only
    [record] = logged(caplog, LATE_LOG)
    assert (record["level"], record["patient_id"], record["reason"], record["late_days"]) == (
        "WARNING",
        PAT,
        "billed",
        4,
    )
    assert not [value for value in record.values() if "2026-03" in str(value)]


@pytest.mark.parametrize("flag", ["periods_billed", "setup_billed"])
def test_post_readings_late_sync_with_billed_flag_keeps_start(seeded: None, api: Any, flag: str) -> None:
    # Given: March 5-10 stored and the evaluation's flag on the enrollment (setup_billed: items billed
    # before periods_billed existed)
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    billed = {"code": "99453", "period_start": "2026-03-05", "episode_id": "01EPISODE"}
    put({**enrollment(), flag: billed})

    # When
    status, _ = api("POST", READINGS, batch(*daily(date(2026, 3, 3), 2, prefix="late")), key="b2")

    # Then
    assert status == 200
    assert reading_days()[:2] == ["2026-03-03", "2026-03-04"]
    assert enrollment()["first_reading_day"] == "2026-03-05"
    assert enrollment()["days_before_start"] == {"2026-03-03", "2026-03-04"}


def test_post_readings_late_sync_keeps_start_when_moved_period_would_end_in_closed_month(
    seeded: None, api: Any, device_code: Any
) -> None:
    # Given: March 5-10 stored; on April 2 March is evaluated and closed (no period ended in it yet)
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    clock.pin(datetime(2026, 4, 2, 15, tzinfo=UTC))
    assert evaluate_month("2026-03") == 0
    assert month_item("2026-03")["closed"] is True

    # When: March 1-4 sync late (a first period from March 1 would end on March 30, in the closed month)
    status, _ = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 4, prefix="late")), key="b2")

    # Then: stored and flagged; the first period still ends in April, where its codes can be billed
    assert status == 200
    assert len(device_days("2026-03")) == 10
    assert enrollment()["first_reading_day"] == "2026-03-05"
    assert enrollment()["days_before_start"] == {"2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"}
    assert device_code()["period_end"] == "2026-04-03"


def test_post_readings_late_sync_moves_start_when_moved_period_ends_in_open_month(
    seeded: None, api: Any, device_code: Any
) -> None:
    # Given: March 20-25 stored; on April 2 March is evaluated and closed
    clock.pin(datetime(2026, 3, 26, 15, tzinfo=UTC))
    api("POST", READINGS, batch(*daily(date(2026, 3, 20), 6)), key="b1")
    clock.pin(datetime(2026, 4, 2, 15, tzinfo=UTC))
    evaluate_month("2026-03")

    # When: March 15-19 sync late (a first period from March 15 ends on April 13, in the open April)
    api("POST", READINGS, batch(*daily(date(2026, 3, 15), 5, prefix="late")), key="b2")

    # Then
    assert enrollment()["first_reading_day"] == "2026-03-15"
    code = device_code()
    assert (code["period_start"], code["period_end"]) == ("2026-03-15", "2026-04-13")
    assert code["evidence"]["days_with_data"] == 11


@pytest.mark.parametrize(
    "enrollment_change",
    [
        {},
        {"monitoring_start": "2026-03-05"},
        {"periods_billed": {"code": "99454", "period_start": "2026-03-05", "episode_id": "01EPISODE"}},
    ],
    ids=["moved", "explicit_start", "billed"],
)
def test_post_readings_late_sync_costs_two_requests(
    seeded: None, api: Any, ddb_requests: Any, enrollment_change: dict[str, Any]
) -> None:
    # Given: March 5-10 stored (which warmed the container), then the enrollment as the case needs
    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    put({**enrollment(), **enrollment_change})
    ddb_requests.reset()

    # When: 100 readings of March 1-4 sync late
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 4, per_day=25, prefix="late")), key="b2")

    # Then: one read and one transaction, whatever the start does
    assert status == 200
    assert body["accepted"] == 100
    assert dict(ddb_requests.calls) == {"BatchGetItem": 1, "TransactWriteItems": 1}


def test_post_readings_start_moved_meanwhile_by_other_batch_is_not_moved_later(
    seeded: None, api: Any, ddb_requests: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: March 5-10 stored; between this batch's read and its write another batch moves the start to March 1
    from rpm_billing.db import readings as repo

    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    read = repo.read_known

    def read_then_other_batch(*args: Any) -> Any:
        known = read(*args)
        concurrently("SET first_reading_day = :d", {":d": {"S": "2026-03-01"}})
        return known

    monkeypatch.setattr(repo, "read_known", read_then_other_batch)
    ddb_requests.reset()

    # When: this batch brings March 2-3 (earlier than the start it read, later than the current one)
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 2), 2, prefix="late")), key="b2")
    requests = dict(ddb_requests.calls)

    # Then: its transaction was cancelled once, chosen again from the current enrollment (no move), and committed
    assert status == 200
    assert body["new_device_days"] == ["2026-03-02", "2026-03-03"]
    assert requests == {"BatchGetItem": 1, "TransactWriteItems": 2}
    assert enrollment()["first_reading_day"] == "2026-03-01"
    assert reading_days()[:2] == ["2026-03-02", "2026-03-03"]


def test_post_readings_start_moved_meanwhile_to_later_day_is_moved_again(
    seeded: None, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: March 5-10 stored; between this batch's read and its write another batch moves the start to March 3
    from rpm_billing.db import readings as repo

    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    read = repo.read_known

    def read_then_other_batch(*args: Any) -> Any:
        known = read(*args)
        concurrently("SET first_reading_day = :d", {":d": {"S": "2026-03-03"}})
        return known

    monkeypatch.setattr(repo, "read_known", read_then_other_batch)

    # When: this batch brings March 1-2
    status, _ = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 2, prefix="late")), key="b2")

    # Then: the earliest day wins
    assert status == 200
    assert enrollment()["first_reading_day"] == "2026-03-01"


def test_post_readings_periods_fixed_meanwhile_keep_start_and_store_readings(
    seeded: None, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: March 5-10 stored; between this batch's read and its write the evaluation bills the first period
    from rpm_billing.db import readings as repo

    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    read = repo.read_known

    def read_then_billed(*args: Any) -> Any:
        known = read(*args)
        billed = {"M": {"code": {"S": "99453"}, "period_start": {"S": "2026-03-05"}}}
        concurrently("SET periods_billed = :p", {":p": billed})
        return known

    monkeypatch.setattr(repo, "read_known", read_then_billed)

    # When: March 1-2 sync late
    status, _ = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 2, prefix="late")), key="b2")

    # Then: the readings are stored, the start is not moved under the billed period, the days are flagged
    assert status == 200
    assert reading_days()[:2] == ["2026-03-01", "2026-03-02"]
    assert enrollment()["first_reading_day"] == "2026-03-05"
    assert enrollment()["days_before_start"] == {"2026-03-01", "2026-03-02"}


def test_post_readings_enrollment_changing_on_every_attempt_still_stores_batch(
    seeded: None, api: Any, ddb_requests: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    # Given: March 5-10 stored; before each send of this batch's transaction another batch moves the start
    # one day earlier
    import track_time.readings as use_case

    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    earlier = iter(["2026-03-04", "2026-03-03", "2026-03-02"])
    send = use_case.send

    def send_after_other_batch(transaction: Any) -> None:
        concurrently("SET first_reading_day = :d", {":d": {"S": next(earlier)}})
        send(transaction)

    monkeypatch.setattr(use_case, "send", send_after_other_batch)
    ddb_requests.reset()
    caplog.clear()

    # When: this batch brings March 1
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 1, prefix="late")), key="b2")
    requests = dict(ddb_requests.calls)

    # Then: after the bounded attempts the batch is stored without moving the start, and that is logged
    assert status == 200
    assert body["accepted"] == 1
    assert requests == {"BatchGetItem": 1, "TransactWriteItems": 3}
    assert reading_days()[0] == "2026-03-01"
    assert enrollment()["first_reading_day"] == "2026-03-02"
    [record] = logged(caplog, LATE_LOG)
    assert (record["reason"], record["late_days"]) == ("contended", 1)


def test_post_readings_enrollment_ended_meanwhile_is_409(
    seeded: None, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: March 5-10 stored; between this batch's read and its write the episode ends
    from rpm_billing.db import readings as repo

    api("POST", READINGS, batch(*daily(date(2026, 3, 5), 6)), key="b1")
    read = repo.read_known

    def read_then_ended(*args: Any) -> Any:
        known = read(*args)
        concurrently("SET #s = :ended", {":ended": {"S": "ended"}}, {"#s": "status"})
        return known

    monkeypatch.setattr(repo, "read_known", read_then_ended)

    # When: March 1-2 sync late
    status, body = api("POST", READINGS, batch(*daily(date(2026, 3, 1), 2, prefix="late")), key="b2")

    # Then: refused as not enrolled, nothing of the batch stored
    assert status == 409
    assert "not enrolled" in body["error"]["message"]
    assert reading_days()[0] == "2026-03-05"
    assert enrollment()["first_reading_day"] == "2026-03-05"


# Roles and tenants ------------------------------------------------------------------------------------------


def test_post_readings_other_org_patient_is_404_like_missing(seeded: None, api: Any) -> None:
    # Given: the patient exists in org1 only
    body = batch(reading("r-1", "2026-03-10T14:00:00+00:00"))

    # When
    other_org = api("POST", READINGS, body, key="b1", org="org2", role="Admin")
    missing = api("POST", "/v1/patients/ghost/readings", body, key="b1", role="Admin")

    # Then
    assert other_org[0] == 404
    assert other_org == missing
    assert reading_days() == []


def test_post_readings_other_org_same_patient_id_stays_apart(seeded: None, api: Any) -> None:
    # Given: org2 has its own patient under the same id
    seed(org="org2")

    # When
    api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="b1", org="org2")

    # Then: org1's patient has no readings
    assert day_item("2026-03-10") is None
    assert day_item("2026-03-10", org="org2")["reading_ids"] == {"r-1"}


def test_post_readings_deployment_outside_scope_is_404(seeded: None, api: Any) -> None:
    # Given: a Contributor of another deployment of the same org

    # When
    status, _ = api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="b1", dep="dep2")

    # Then
    assert status == 404
    assert reading_days() == []


def test_post_readings_roleless_user_is_403(seeded: None, api: Any) -> None:
    # Given / When
    status, _ = api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="b1", role="")

    # Then
    assert status == 403
    assert reading_days() == []


@pytest.mark.parametrize("role", ["Admin", "AccessController", "DeploymentStaff", "Contributor", "OrganisationStaff"])
def test_post_readings_every_role_may_ingest(seeded: None, api: Any, role: str) -> None:
    # Given / When
    status, _ = api("POST", READINGS, batch(reading("r-1", "2026-03-10T14:00:00+00:00")), key="b1", role=role)

    # Then
    assert status == 200


def test_post_readings_never_logs_or_echoes_values(seeded: None, api: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Given: a value and an invalid unit carrying a canary, and logs captured at the production level
    caplog.set_level(logging.INFO)
    good = reading("r-1", "2026-03-10T14:00:00+00:00", value={"comment": "ZQXCANARY felt dizzy"})
    bad = reading("r-2", "2026-03-10T15:00:00+00:00", unit="ZQXCANARY<>")

    # When
    accepted, _ = api("POST", READINGS, batch(good), key="b1")
    status, refused = api("POST", READINGS, batch(bad), key="b2")

    # Then: both requests were logged, and neither the logs nor the error carry the canary
    logs = captured_logs(caplog)
    assert (accepted, status) == (200, 422)
    assert caplog.records
    assert "ZQXCANARY" not in logs
    assert "ZQXCANARY" not in str(refused)
