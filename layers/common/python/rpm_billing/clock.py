"""The one place the product reads the wall clock, so tests and the local stack can pin it."""

from __future__ import annotations

from datetime import UTC, datetime

_fixed: datetime | None = None


def now() -> datetime:
    """Return the current instant as an aware UTC datetime (or the pinned one)."""
    return _fixed if _fixed is not None else datetime.now(UTC)


def pin(instant: datetime | None) -> None:
    """Pin the clock to ``instant`` (aware), or release it with ``None``. For tests and demos only."""
    global _fixed
    if instant is not None and instant.tzinfo is None:
        raise ValueError("pinned instant must be timezone-aware")
    _fixed = instant.astimezone(UTC) if instant is not None else None
