"""Physician order documents: presigned upload, list, presigned download."""

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from rpm_billing.db.keys import record_sk
from rpm_billing.paging import encode_cursor

from .conftest import staff

Api = Callable[..., Any]
DOCS = "/v1/patients/p1/billing/documents"
PDF = {"content_type": "application/pdf", "size": 2048}


def _policy(upload: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(upload["fields"]["policy"])))


def test_post_document_returns_presigned_post_held_to_type_and_size(configured: Api) -> None:
    # Given / When
    status, _, body = configured("POST", DOCS, body=PDF)
    # Then
    assert status == 201
    conditions = _policy(body["upload"])["conditions"]
    assert {"Content-Type": "application/pdf"} in conditions
    assert ["content-length-range", 1, 2048] in conditions
    assert body["upload"]["fields"]["key"] == f"orders/org1/{body['document_id']}.pdf"
    assert body["expires_in"] == 300


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"content_type": "image/png"}, "body.content_type"),
        ({"size": 10 * 1024 * 1024 + 1}, "body.size"),
        ({"size": 0}, "body.size"),
        ({"name": "x.pdf"}, "body.name"),
    ],
)
def test_post_document_invalid_names_field(configured: Api, change: dict[str, Any], field: str) -> None:
    # Given
    body = {**PDF, **change}
    # When
    status, _, answer = configured("POST", DOCS, body=body)
    # Then
    assert status == 422
    assert [f["path"] for f in answer["error"]["fields"]] == [field]


def test_post_document_idempotent_replay_same_document(configured: Api) -> None:
    # Given
    headers = {"Idempotency-Key": "doc-1"}
    first = configured("POST", DOCS, body=PDF, headers=headers)[2]
    # When
    replay = configured("POST", DOCS, body=PDF, headers=headers)[2]
    listed = configured("GET", DOCS)[2]
    # Then
    assert replay["document_id"] == first["document_id"]
    assert len(listed["items"]) == 1


def test_post_document_same_key_other_body_is_409(configured: Api) -> None:
    # Given
    headers = {"Idempotency-Key": "doc-2"}
    configured("POST", DOCS, body=PDF, headers=headers)
    # When
    status, _, _ = configured("POST", DOCS, body={**PDF, "size": 99}, headers=headers)
    # Then
    assert status == 409


def test_list_documents_returns_items(configured: Api) -> None:
    # Given
    created = configured("POST", DOCS, body=PDF)[2]
    # When
    status, _, body = configured("GET", DOCS)
    # Then
    assert status == 200
    assert [d["document_id"] for d in body["items"]] == [created["document_id"]]
    assert body["items"][0]["status"] == "pending"


def test_get_document_is_presigned_get_with_generic_name(configured: Api) -> None:
    # Given
    created = configured("POST", DOCS, body=PDF)[2]
    # When
    status, _, body = configured("GET", f"{DOCS}/{created['document_id']}")
    # Then
    assert status == 200
    query = parse_qs(urlparse(body["url"]).query)
    assert query["response-content-disposition"] == ['attachment; filename="physician-order.pdf"']
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


def test_get_document_missing_is_404(configured: Api) -> None:
    # Given / When
    status, _, _ = configured("GET", f"{DOCS}/01NOTHERE")
    # Then
    assert status == 404


def test_documents_other_deployment_staff_is_404(configured: Api) -> None:
    # Given
    created = configured("POST", DOCS, body=PDF)[2]
    outsider = staff("dep2")
    # When
    listed = configured("GET", DOCS, claims=outsider)
    one = configured("GET", f"{DOCS}/{created['document_id']}", claims=outsider)
    upload = configured("POST", DOCS, body=PDF, claims=outsider)
    # Then
    assert (listed[0], one[0], upload[0]) == (404, 404, 404)


def test_post_document_is_audited_in_its_transaction(configured: Api, ddb_requests: Any) -> None:
    # Given
    ddb_requests.reset()
    # When
    status, _, _ = configured("POST", DOCS, body=PDF)
    # Then: profile read + one transaction (document + audit)
    assert status == 201
    assert ddb_requests.calls["TransactWriteItems"] == 1
    assert ddb_requests.total == 2


def test_list_documents_pages_with_a_cursor(configured: Api) -> None:
    # Given: three order documents
    created = [configured("POST", DOCS, body=PDF, headers={"Idempotency-Key": f"d{i}"})[2] for i in range(3)]

    # When: the list is read two at a time
    _, _, first = configured("GET", DOCS, query={"limit": "2"})
    _, _, second = configured("GET", DOCS, query={"limit": "2", "cursor": first["next_cursor"]})

    # Then: both pages together hold each document once, and the last page has no cursor
    listed = [d["document_id"] for d in first["items"] + second["items"]]
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    assert second["next_cursor"] is None
    assert sorted(listed) == sorted(d["document_id"] for d in created)


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "eyJQSyI6ICJ4In0", str(encode_cursor(record_sk("2026-11", "99454", "2026-11-01")))],
)
def test_list_documents_foreign_cursor_is_422(configured: Api, cursor: str) -> None:
    # Given: a cursor this list did not issue
    # When
    status, _, body = configured("GET", DOCS, query={"cursor": cursor})
    # Then
    assert status == 422
    assert [f["path"] for f in body["error"]["fields"]] == ["query.cursor"]
