"""GET /v1/deployments/{deployment_id}/billing/worklist over moto."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from evaluate.app import lambda_handler
from local.events import claims_for

from .conftest import Tenant, days, entry


@pytest.fixture
def cohort(tenant: Tenant) -> dict[str, str]:
    """Four enrolled patients around 2026-12-04 (99454 periods ending 12-05 and 12-10) and one awaiting."""
    named: dict[str, str] = {}
    for name, start, count in (("C", date(2026, 11, 6), 15), ("A", date(2026, 11, 11), 11)):
        named[name] = tenant.patient(f"pat-{name}", monitoring_start=start)
        tenant.month(named[name], "2026-11", device_days=days(start, count))
    for name, count in (("B", 8), ("D", 16)):
        named[name] = tenant.patient(f"pat-{name}", monitoring_start=date(2026, 11, 11))
        tenant.month(named[name], "2026-11", device_days=days(date(2026, 11, 11), count))
    tenant.month(named["A"], "2026-12", entries=[entry("2026-12-02T15:00:00+00:00", 5, call=True)])
    tenant.patient("pat-waiting", enrolled=False)
    return named


def _worklist(call_api: Any, tenant: Tenant, claims: dict[str, str] | None = None, **query: str) -> Any:
    path = f"/v1/deployments/{tenant.deployment_id}/billing/worklist"
    return call_api(lambda_handler, "GET", path, claims=claims or tenant.claims("Contributor"), query=query or None)


def test_worklist_sorts_by_deadline_then_most_missing_days(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: C's period ends 12-05; A, B and D's end 12-10 with 5, 8 and 0 days missing
    # When
    status, _, body = _worklist(call_api, tenant, code="99454")
    # Then
    assert status == 200
    assert [p["patient_id"] for p in body["patients"]] == ["pat-C", "pat-B", "pat-A", "pat-D"]
    assert [p["deadline"] for p in body["patients"]] == ["2026-12-05", "2026-12-10", "2026-12-10", "2026-12-10"]


def test_worklist_colours_urgency(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: D met, B unable to reach 16 days, A and C pending with slack
    # When
    _, _, body = _worklist(call_api, tenant, code="99454")
    # Then
    colours = {p["patient_id"]: p["urgency"] for p in body["patients"]}
    assert colours == {"pat-D": "green", "pat-B": "red", "pat-A": "amber", "pat-C": "amber"}


def test_worklist_counts_missing_calls_of_enrolled_patients(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: only A had an interactive call in December; an awaiting patient is not counted
    # When
    _, _, body = _worklist(call_api, tenant)
    # Then
    assert body["missing_calls"] == 3
    assert body["total"] == 4
    assert body["code"] == "99454"


def test_worklist_paginates_with_an_opaque_cursor(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: four patients, two per page
    # When
    _, _, first = _worklist(call_api, tenant, code="99454", limit="2")
    _, _, second = _worklist(call_api, tenant, code="99454", limit="2", cursor=first["next_cursor"])
    # Then
    assert [p["patient_id"] for p in first["patients"]] == ["pat-C", "pat-B"]
    assert [p["patient_id"] for p in second["patients"]] == ["pat-A", "pat-D"]
    assert second["next_cursor"] is None


def test_worklist_refuses_a_cursor_of_another_query(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: a cursor of the 99454 list
    _, _, first = _worklist(call_api, tenant, code="99454", limit="2")
    # When: it is replayed on the 99457 list
    status, _, body = _worklist(call_api, tenant, code="99457", limit="2", cursor=first["next_cursor"])
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == "query.cursor"


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"code": "98977"}, "query.code"),
        ({"month": "2027-01"}, "query.month"),
        ({"month": "11-2026"}, "query.month"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
    ],
)
def test_worklist_bad_query_is_422_naming_the_field(
    call_api: Any, tenant: Tenant, query: dict[str, str], path: str
) -> None:
    # Given: an RPM deployment
    # When
    status, _, body = _worklist(call_api, tenant, **query)
    # Then
    assert status == 422
    assert body["error"]["fields"][0]["path"] == path


def test_worklist_of_a_past_month_is_judged_at_its_last_day(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: the cohort
    # When
    status, _, body = _worklist(call_api, tenant, month="2026-11")
    # Then
    assert status == 200
    assert body["as_of"] == "2026-11-30"
    assert body["total"] == 4


def test_worklist_outside_the_callers_deployment_is_404(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: a Contributor of another deployment and an Admin of another organisation
    contributor = claims_for("Contributor", tenant.org_id, "dep-elsewhere")
    foreign_admin = claims_for("Admin", "org-elsewhere")
    # When
    scoped = _worklist(call_api, tenant, claims=contributor)
    foreign = _worklist(call_api, tenant, claims=foreign_admin)
    # Then
    assert scoped[0] == foreign[0] == 404
    assert "pat-" not in str(scoped[2]) + str(foreign[2])


def test_worklist_never_returns_profile_phi(call_api: Any, tenant: Tenant, cohort: Any) -> None:
    # Given: profiles holding canary names
    # When
    _, _, body = _worklist(call_api, tenant)
    # Then
    assert "ZQX" not in str(body)


def test_worklist_reads_partitions_by_query_only(call_api: Any, tenant: Tenant, cohort: Any, ddb_requests: Any) -> None:
    # Given: a warm config cache
    _worklist(call_api, tenant)
    ddb_requests.reset()
    # When
    _worklist(call_api, tenant)
    # Then: ENROLLED, enrolled PATIENTS, MONTH 2026-11 and 2026-12 (one page each), no per-patient read
    assert dict(ddb_requests.calls) == {"Query": 4}
