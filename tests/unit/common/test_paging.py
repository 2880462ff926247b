"""Sort-key cursors: a list accepts only the cursors it issued."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpm_billing.errors import Invalid
from rpm_billing.paging import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor

PREFIX = "RECORD#2026-11#"


@given(st.text(min_size=1, max_size=80))
def test_a_cursor_stands_for_the_sort_key_it_was_made_from(rest: str) -> None:
    # Given a sort key of the list
    sort_key = PREFIX + rest
    # When it is encoded and decoded by the same list
    cursor = encode_cursor(sort_key)
    # Then the key comes back unchanged, and the cursor is URL-safe with no padding
    assert cursor is not None
    assert decode_cursor(cursor, PREFIX) == sort_key
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_cursor_is_the_first_page_and_no_key_ends_the_list() -> None:
    # Given / When / Then
    assert decode_cursor(None, PREFIX) is None
    assert decode_cursor("", PREFIX) is None
    assert encode_cursor(None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("RECORD#2026-10#99454#2026-10-01"),  # another month
        encode_cursor(PREFIX),  # the bare prefix, never issued
        "not base64 !",
        "A" * (MAX_CURSOR_LENGTH + 1),
        "_w",  # decodes to a byte that is not UTF-8
    ],
)
def test_a_cursor_of_another_list_is_a_422_naming_the_parameter(cursor: str | None) -> None:
    # Given a cursor this list did not issue
    # When it is decoded
    with pytest.raises(Invalid) as refused:
        decode_cursor(cursor, PREFIX)
    # Then the 422 names query.cursor and does not echo the cursor
    assert [problem.path for problem in refused.value.fields] == ["query.cursor"]
    assert str(cursor) not in str(refused.value)
