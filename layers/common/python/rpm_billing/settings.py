"""Runtime settings, read from the environment once per container on first use (never at import)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Environment of a function. Each function sets only what it uses; the rest keep their defaults."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(default="rpm-billing", min_length=3)
    documents_bucket: str = "rpm-billing-documents"
    exports_bucket: str = "rpm-billing-exports"
    state_machine_arn: str = ""
    #: Bucket for workflow work files (monthly evaluation batch manifests under ``runs/``).
    work_bucket: str = "rpm-billing-work"
    export_worker_function: str = ""
    #: Lifetime of presigned links, seconds (capped at 900 whatever the environment says).
    presign_ttl_seconds: int = Field(default=300, ge=30, le=900)
    #: Daily export requests per user.
    export_daily_quota: int = Field(default=20, ge=1)
    #: Patients per export.
    export_max_patients: int = Field(default=20_000, ge=1)
    #: Seconds the deployment configuration is cached in a warm container.
    config_cache_seconds: int = Field(default=60, ge=0)
    #: Comma-separated origins allowed by CORS; empty means no CORS headers.
    cors_origins: str = ""
    tracing_enabled: bool = False


_ENV = {
    "table_name": "TABLE_NAME",
    "documents_bucket": "DOCUMENTS_BUCKET",
    "exports_bucket": "EXPORTS_BUCKET",
    "state_machine_arn": "STATE_MACHINE_ARN",
    "work_bucket": "WORK_BUCKET",
    "export_worker_function": "EXPORT_WORKER_FUNCTION",
    "presign_ttl_seconds": "PRESIGN_TTL_SECONDS",
    "export_daily_quota": "EXPORT_DAILY_QUOTA",
    "export_max_patients": "EXPORT_MAX_PATIENTS",
    "config_cache_seconds": "CONFIG_CACHE_SECONDS",
    "cors_origins": "CORS_ORIGINS",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings of this container, read from the environment on first call."""
    values: dict[str, object] = {field: os.environ[var] for field, var in _ENV.items() if var in os.environ}
    values["tracing_enabled"] = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() not in ("1", "true")
    return Settings.model_validate(values)


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
