"""The patient a request is about: deployment, time zones and config, cached per warm container.

A time entry must cost one DynamoDB request (architecture §4), so the patient's deployment and zone are
kept for ``settings.config_cache_seconds`` in the container, as the deployment config is. Staleness is
safe: every write carries a ``ConditionCheck`` that the enrollment is active *in that deployment*.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rpm_billing.auth import Action, Principal
from rpm_billing.db.enrollment import get_config_cached, get_patient
from rpm_billing.db.time_tracking import Scope
from rpm_billing.errors import Conflict, NotFound
from rpm_billing.ids import ID_RE
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings


@dataclass(frozen=True)
class PatientContext:
    """What a write needs to know about the patient and the deployment."""

    scope: Scope
    patient_zone: ZoneInfo
    practice_zone: ZoneInfo
    offline_appointments: bool


_cache: dict[tuple[str, str], tuple[float, str, str]] = {}
_lock = threading.Lock()


def _zone(name: str | None, fallback: ZoneInfo | None = None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else (fallback or ZoneInfo("UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone, using fallback")
        return fallback or ZoneInfo("UTC")


def _patient(org_id: str, patient_id: str) -> tuple[str, str] | None:
    ttl = get_settings().config_cache_seconds
    with _lock:
        hit = _cache.get((org_id, patient_id))
    if ttl > 0 and hit is not None and time.monotonic() - hit[0] < ttl:
        return hit[1], hit[2]
    patient = get_patient(org_id, patient_id)
    if patient is None:
        return None
    with _lock:
        _cache[(org_id, patient_id)] = (time.monotonic(), patient.deployment_id, patient.time_zone)
    return patient.deployment_id, patient.time_zone


def patient_context(principal: Principal, patient_id: str) -> PatientContext:
    """The patient's context, or 404 when the patient is missing or outside the caller's scope.

    Raises:
        NotFound: no such patient in the caller's organisation and deployments (identical either way).
        Conflict: billing is not configured (or disabled) for the patient's deployment.
    """
    found = _patient(principal.org_id, patient_id) if ID_RE.match(patient_id) else None
    if found is None or not principal.may_in(Action.TRACK, found[0]):
        raise NotFound("patient not found")
    deployment_id, patient_zone = found
    config = get_config_cached(principal.org_id, deployment_id)
    if config is None or not config.enabled:
        raise Conflict("billing is not configured for the patient's deployment")
    practice = _zone(config.time_zone)
    return PatientContext(
        scope=Scope(principal.org_id, deployment_id, patient_id),
        patient_zone=_zone(patient_zone, practice),
        practice_zone=practice,
        offline_appointments=config.offline_appointments,
    )


def forget_patients() -> None:
    """Drop every cached patient (tests, and after a profile change in this container)."""
    with _lock:
        _cache.clear()
