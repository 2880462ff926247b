"""Opaque cursors of lists that page through one partition in sort-key order (api.md: ``limit``, ``cursor``).

A cursor is the sort key of the last item of a page, base64url-encoded. It is only accepted by the list that
issued it: the key must start with that list's prefix (a month's time entries, a patient's appointments, a
month's billing records), so a cursor of another list or another month is a 422 naming ``query.cursor``.
"""

from __future__ import annotations

import base64
import binascii

from rpm_billing.errors import invalid_field

#: Longer cursors are refused before decoding (the sort keys of these lists are far shorter).
MAX_CURSOR_LENGTH = 512


def encode_cursor(sort_key: str | None) -> str | None:
    """The ``next_cursor`` of a page that ended at ``sort_key`` (``None`` after the last page).

    Args:
        sort_key: The ``SK`` of the page's last item, or ``None`` when no item follows.

    Returns:
        The opaque cursor, or ``None``.
    """
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=") if sort_key else None


def decode_cursor(cursor: str | None, prefix: str) -> str | None:
    """The sort key a ``cursor`` stands for, checked against the list's ``prefix``.

    Args:
        cursor: The caller's ``cursor`` query parameter (``None`` or empty: the first page).
        prefix: The sort-key prefix of every item of the list.

    Returns:
        The sort key to start after, or ``None`` for the first page.

    Raises:
        Invalid: 422 naming ``query.cursor`` when the cursor was not issued for this list.
    """
    if not cursor:
        return None
    sort_key = ""
    if len(cursor) <= MAX_CURSOR_LENGTH:
        try:
            sort_key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sort_key = ""
    if not sort_key.startswith(prefix) or sort_key == prefix:
        raise invalid_field("query.cursor", "is not a cursor of this list")
    return sort_key
