"""Patient registration and the deployment's patient list."""

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import DEP, ENROLLMENT, PATIENT, admin, staff

Api = Callable[..., Any]
LIST = f"/v1/deployments/{DEP}/patients"


def test_put_patient_creates_with_deployment_zone(configured: Api) -> None:
    # Given: a configured deployment in America/Chicago
    # When
    status, _, body = configured("PUT", f"{LIST}/p2", body=PATIENT)
    # Then
    assert status == 201
    assert body["time_zone"] == "America/Chicago"
    assert body["billing_state"] == "awaiting"


def test_put_patient_update_is_200_and_keeps_state(enrolled: Api) -> None:
    # Given: p1 enrolled
    # When
    status, _, body = enrolled("PUT", f"{LIST}/p1", body={**PATIENT, "family_name": "Other", "time_zone": "UTC"})
    # Then
    assert status == 200
    assert body["family_name"] == "Other"
    assert body["time_zone"] == "UTC"
    assert body["billing_state"] == "enrolled"


def test_put_patient_without_config_needs_time_zone(api: Api) -> None:
    # Given: no configuration
    # When
    status, _, body = api("PUT", f"{LIST}/p9", body=PATIENT)
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "body.time_zone"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"birth_date": "2027-01-01"}, "body.birth_date"),
        ({"birth_date": "01/02/1950"}, "body.birth_date"),
        ({"given_name": ""}, "body.given_name"),
        ({"time_zone": "Nowhere/Land"}, "body.time_zone"),
        ({"ssn": "x"}, "body.ssn"),
    ],
)
def test_put_patient_invalid_names_field(configured: Api, change: dict[str, Any], field: str) -> None:
    # Given
    body = {**PATIENT, **change}
    # When
    status, _, answer = configured("PUT", f"{LIST}/p3", body=body)
    # Then
    assert status == 422
    assert [f["path"] for f in answer["error"]["fields"]] == [field]


def test_put_patient_bad_id_is_422(configured: Api) -> None:
    # Given / When
    status, _, body = configured("PUT", f"{LIST}/bad%id", body=PATIENT)
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "path.patient_id"


def test_put_patient_of_other_deployment_is_404(configured: Api) -> None:
    # Given: p1 belongs to dep1
    # When: registered again under dep2
    status, _, _ = configured("PUT", "/v1/deployments/dep2/patients/p1", body=PATIENT)
    # Then
    assert status == 404


def test_list_patients_filters_by_billing_state(configured: Api) -> None:
    # Given: p1 enrolled, p2 awaiting
    configured("PUT", f"{LIST}/p2", body=PATIENT)
    configured("POST", "/v1/patients/p1/billing/enrollment", body=ENROLLMENT)
    # When
    awaiting = configured("GET", LIST, query="billing=awaiting")[2]
    enrolled = configured("GET", LIST, query="billing=enrolled")[2]
    every = configured("GET", LIST, query="billing=all")[2]
    # Then
    assert [p["patient_id"] for p in awaiting["items"]] == ["p2"]
    assert [p["patient_id"] for p in enrolled["items"]] == ["p1"]
    assert sorted(p["patient_id"] for p in every["items"]) == ["p1", "p2"]


def test_list_patients_ended_episode_awaits_again(enrolled: Api) -> None:
    # Given: p1's episode ended
    enrolled("DELETE", "/v1/patients/p1/billing/enrollment")
    # When
    awaiting = enrolled("GET", LIST, query="billing=awaiting")[2]
    # Then
    assert [(p["patient_id"], p["billing_state"]) for p in awaiting["items"]] == [("p1", "ended")]


def test_list_patients_paginates_with_opaque_cursor(configured: Api) -> None:
    # Given: five patients
    for index in range(2, 6):
        configured("PUT", f"{LIST}/p{index}", body=PATIENT)
    # When
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, _, page = configured("GET", LIST, query=query)
        assert status == 200
        seen += [p["patient_id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert "ORG#" not in cursor
    # Then
    assert sorted(seen) == ["p1", "p2", "p3", "p4", "p5"]
    assert pages >= 3


@pytest.mark.parametrize("cursor", ["garbage", "eyJQSyI6ICJ4In0", "A" * 2000])
def test_list_patients_bad_cursor_is_422(configured: Api, cursor: str) -> None:
    # Given / When
    status, _, body = configured("GET", LIST, query={"cursor": cursor})
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "query.cursor"


def test_list_patients_cursor_of_other_deployment_is_422(configured: Api) -> None:
    # Given: a cursor from dep1
    configured("PUT", f"{LIST}/p2", body=PATIENT)
    cursor = configured("GET", LIST, query={"limit": "1"})[2]["next_cursor"]
    # When: replayed against dep2
    status, _, _ = configured("GET", "/v1/deployments/dep2/patients", query={"cursor": cursor})
    # Then
    assert status == 422


@pytest.mark.parametrize("query", ["billing=maybe", "limit=0", "limit=101", "limit=x"])
def test_list_patients_bad_query_is_422(configured: Api, query: str) -> None:
    # Given / When
    status, _, body = configured("GET", LIST, query=query)
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"].startswith("query.")


def test_list_patients_other_deployment_staff_is_404(configured: Api) -> None:
    # Given: staff of dep2 only
    # When
    status, _, _ = configured("GET", LIST, claims=staff("dep2"))
    # Then
    assert status == 404


def test_list_patients_other_org_sees_nothing(configured: Api) -> None:
    # Given: patient p1 registered in the first organisation
    # When: org2's admin lists the same deployment id
    status, _, body = configured("GET", LIST, claims=admin("org2"))
    # Then
    assert status == 200
    assert body["items"] == []
