"""Request models of the time-tracking API: bounds, literals and cross-field rules live here."""

import json
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from rpm_billing.db.attributes import serialize
from rpm_billing.ids import ID_PATTERN

Activity = Literal["call", "note", "flag_review", "data_review", "profile_update", "care_coordination", "other"]
Modality = Literal["audio", "video"]

#: One entry may not exceed 4 hours (api.md).
MAX_ENTRY_SECONDS = 4 * 3600
MAX_NOTE = 2000
MAX_REASON = 500
MAX_VALUE_BYTES = 2048


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


def _check_modality(value: str | None, activity: str | None) -> str | None:
    if activity == "call" and value is None:
        raise ValueError("a call needs a modality (audio or video)")
    if activity not in (None, "call") and value is not None:
        raise ValueError("only a call has a modality")
    return value


class TimeEntryIn(_Body):
    """A time entry: the clinician is the verified caller, never a field."""

    activity: Activity
    started_at: AwareDatetime
    duration_seconds: int = Field(ge=1, le=MAX_ENTRY_SECONDS, strict=True)
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    modality: Modality | None = Field(default=None, validate_default=True)

    @field_validator("modality")
    @classmethod
    def _modality(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _check_modality(value, info.data.get("activity"))


class TimeEntryPatch(_Body):
    """A correction: every field optional but the reason."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)
    activity: Activity | None = None
    started_at: AwareDatetime | None = None
    duration_seconds: int | None = Field(default=None, ge=1, le=MAX_ENTRY_SECONDS, strict=True)
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    modality: Modality | None = None


class TimeEntryDelete(_Body):
    """A removal: the reason is required (audited with the entry)."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class CompletionIn(_Body):
    """The call of an appointment happened."""

    started_at: AwareDatetime
    duration_seconds: int = Field(ge=1, le=MAX_ENTRY_SECONDS, strict=True)
    modality: Modality
    note: str | None = Field(default=None, max_length=MAX_NOTE)


class AppointmentIn(_Body):
    """Schedule a call; with ``completed`` it logs a call that was never scheduled (offline appointment)."""

    scheduled_at: AwareDatetime
    duration_minutes: int = Field(ge=1, le=MAX_ENTRY_SECONDS // 60, strict=True)
    completed: CompletionIn | None = None


def _decimalise(value: Any) -> Any:
    """JSON numbers as ``Decimal`` (DynamoDB stores no floats); refuses what DynamoDB cannot store."""
    converted = json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)
    serialize(converted)
    return converted


class ReadingIn(_Body):
    """One device or manual reading. ``value`` is PHI: never logged."""

    reading_id: str = Field(pattern=ID_PATTERN)
    measured_at: AwareDatetime
    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    source: Literal["device", "manual"]
    device_id: str | None = Field(default=None, pattern=ID_PATTERN, validate_default=True)
    value: dict[str, Any] | None = None
    unit: str | None = Field(default=None, pattern=r"^[A-Za-z0-9%/._ -]{1,32}$")

    @field_validator("device_id")
    @classmethod
    def _device(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("source") == "device" and value is None:
            raise ValueError("a device reading needs a device_id")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(json.dumps(value)) > MAX_VALUE_BYTES:
            raise ValueError(f"must be at most {MAX_VALUE_BYTES} bytes of JSON")
        try:
            return dict(_decimalise(value))
        except (TypeError, ValueError, ArithmeticError):
            raise ValueError("holds a number that cannot be stored") from None


class ReadingsIn(_Body):
    """A batch of up to 100 readings of one patient."""

    readings: list[ReadingIn] = Field(min_length=1, max_length=100)

    @field_validator("readings")
    @classmethod
    def _unique(cls, readings: list[ReadingIn]) -> list[ReadingIn]:
        ids = [reading.reading_id for reading in readings]
        if len(set(ids)) != len(ids):
            raise ValueError("reading_id values must be unique within a batch")
        return readings
