"""Helpers that read what the product logged during a test."""

from __future__ import annotations

import logging

import pytest


def captured_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log record as text: its message and every attribute the product attached to it."""
    standard = set(vars(logging.makeLogRecord({}))) - {"msg", "args"}
    return "\n".join(
        record.getMessage() + " " + repr({k: v for k, v in vars(record).items() if k not in standard})
        for record in caplog.records
    )
