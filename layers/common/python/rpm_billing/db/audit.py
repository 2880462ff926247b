"""Audit records: who did what to which object, when, and with what outcome. Never any PHI value.

A mutation's audit record goes into the same ``TransactWriteItems`` as the change (``audit_put``), so a
change without its record cannot exist. Reads and refusals are audited as structured log lines
(``audit_log``) to keep reads at one request.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from rpm_billing import clock
from rpm_billing.auth import Principal
from rpm_billing.db import keys
from rpm_billing.db.client import to_item
from rpm_billing.ids import new_ulid
from rpm_billing.observability import logger
from rpm_billing.settings import get_settings

#: Audit records are kept about six years (45 CFR 164.316(b)(2)(i)); TTL is set beyond that.
RETENTION_DAYS = 6 * 366 + 30


def audit_record(
    principal: Principal,
    *,
    action: str,
    target_type: str,
    target_id: str,
    deployment_id: str | None = None,
    outcome: str = "success",
    request_id: str = "",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The audit item (plain dict) for one action on one object."""
    instant = at or clock.now()
    record_id = new_ulid()
    shard = zlib.crc32(record_id.encode())
    return {
        "PK": keys.audit_pk(principal.org_id, instant.date().isoformat(), shard),
        "SK": f"{instant.isoformat()}#{record_id}",
        "type": "audit",
        "actor": principal.user_id,
        "role": principal.primary_role,
        "org_id": principal.org_id,
        "deployment_id": deployment_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "request_id": request_id,
        "at": instant.isoformat(),
        "expires_at": int(instant.timestamp()) + RETENTION_DAYS * 86400,
    }


def audit_put(principal: Principal, **fields: Any) -> dict[str, Any]:
    """A ``TransactWriteItems`` Put of an audit record (append-only: it never overwrites)."""
    return {
        "Put": {
            "TableName": get_settings().table_name,
            "Item": to_item(audit_record(principal, **fields)),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def audit_log(principal: Principal, *, action: str, target_type: str, target_id: str, outcome: str = "success") -> None:
    """Audit a read or a refusal as a structured log line (opaque ids only)."""
    logger.info(
        "audit",
        actor=principal.user_id,
        role=principal.primary_role,
        audit_action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
    )
