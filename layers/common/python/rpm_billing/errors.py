"""Domain errors. Raise these anywhere; ``rpm_billing.api`` maps each to one HTTP status and error body.

Messages are written for the caller and never contain submitted values (they may hold PHI).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: its path (``body.consent_date``, ``query.month``, ``line 3``) and what is wrong."""

    path: str
    problem: str


class DomainError(Exception):
    """Base class: an expected failure with an HTTP status and a stable machine code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class PreconditionFailed(DomainError):
    status, code = 412, "precondition_failed"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class Invalid(DomainError):
    status, code = 422, "invalid"


class PreconditionRequired(DomainError):
    status, code = 428, "precondition_required"


class TooManyRequests(DomainError):
    status, code = 429, "too_many_requests"


class Unavailable(DomainError):
    """A dependency failed in a way the client may retry (throttling, timeouts)."""

    status, code = 503, "unavailable"


def invalid_field(path: str, problem: str, message: str | None = None) -> Invalid:
    """Shortcut for a 422 about one field."""
    return Invalid(message or f"{path}: {problem}", [FieldProblem(path, problem)])
