"""Key design of the single table. Every key starts with the tenant (organisation), so no read or write can
reach another tenant's item: tenant isolation is in the key condition itself. Ids are opaque.

Item                        PK / SK                                        GSI1PK / GSI1SK
--------------------------  ---------------------------------------------  -----------------------------------------
Deployment billing config   ORG#{org}#DEP#{dep} / CONFIG                   ORG#{org}#DEPLOYMENTS / {dep}
Evaluation run              ORG#{org}#DEP#{dep} / EVAL#{evaluation_id}     -
Evaluation run counter      ORG#{org}#DEP#{dep} / EVALRUNS#{YYYY-MM}       -
Billing-enabled deployment  DEPLOYMENTS / ORG#{org}#DEP#{dep}              -
Patient profile             ORG#{org}#PAT#{pat} / PROFILE                  ORG#{org}#DEP#{dep}#PATIENTS / {state}#{pat}
Enrollment (episode)        ORG#{org}#PAT#{pat} / ENROLLMENT               ORG#{org}#DEP#{dep}#ENROLLED / {pat} (active)
Patient-month aggregate     ORG#{org}#PAT#{pat} / MONTH#{YYYY-MM}          ORG#{org}#DEP#{dep}#MONTH#{YYYY-MM} / {pat}
Time entry                  ORG#{org}#PAT#{pat} / ENTRY#{YYYY-MM}#{entry}  -
Busy minutes (overlaps)     ORG#{org}#PAT#{pat} / BUSY#{user}#{UTC hour}   -
Readings of a local day     ORG#{org}#PAT#{pat} / RDAY#{YYYY-MM-DD}        -
Appointment                 ORG#{org}#PAT#{pat} / APPT#{appointment_id}    -
Physician order document    ORG#{org}#PAT#{pat} / DOC#{document_id}        -
Billing record              ORG#{org}#PAT#{pat} /                          ORG#{org}#DEP#{dep}#RECORDS#{YYYY-MM} /
                            RECORD#{YYYY-MM}#{code}#{period_start}         {pat}#{code}#{period_start}
Export job                  ORG#{org}#EXPORT#{export_id} / EXPORT          -
Export quota counter        ORG#{org}#QUOTA#{user}#{YYYY-MM-DD} / QUOTA    -
Idempotency marker          IDEM#{sha(user, Idempotency-Key)} / IDEM       -
Audit record                AUDIT#{org}#{YYYY-MM-DD}#{shard} /             -
                            {iso instant}#{ulid}

Access patterns (architecture §4):

- Patient live status for a month: one ``BatchGetItem`` of PROFILE, ENROLLMENT and MONTH#{m-1..m+1} (the
  30-day period around a date spans at most three calendar months); the deployment config is cached per
  warm container.
- Time entry: one ``TransactWriteItems`` (idempotency marker + entry + month aggregate + busy minutes +
  audit). The month aggregate holds each entry's billing facts as an ``E#{entry_id}`` attribute, so the
  status read needs no entry items.
- Readings batch: one ``TransactWriteItems`` per <= 100 touched items (day items with the readings as
  ``R#{reading_id}`` attributes, month aggregates with ``ADD`` of the day sets, the enrollment's first
  reading day); set-valued ``ADD`` and ``if_not_exists`` make replays no-ops.
- Deployment worklist: query GSI1 ``ORG#{org}#DEP#{dep}#ENROLLED`` and the month partitions.
- Monthly run: the enrolled list from GSI1, then per patient one read and one transaction of records.
- Audit records are append-only; the ``AUDIT#`` prefix lets IAM deny updates and deletes on them.

Months of time entries are the practice's (deployment's) calendar months; reading days are the patient's
local dates, and a day set is stored on the month aggregate of the month that local date falls in.
"""

from __future__ import annotations

AUDIT_SHARDS = 8


def deployment_pk(org_id: str, deployment_id: str) -> str:
    return f"ORG#{org_id}#DEP#{deployment_id}"


def deployments_gsi(org_id: str) -> str:
    return f"ORG#{org_id}#DEPLOYMENTS"


def patient_pk(org_id: str, patient_id: str) -> str:
    return f"ORG#{org_id}#PAT#{patient_id}"


def patients_gsi(org_id: str, deployment_id: str) -> str:
    return f"ORG#{org_id}#DEP#{deployment_id}#PATIENTS"


def enrolled_gsi(org_id: str, deployment_id: str) -> str:
    return f"ORG#{org_id}#DEP#{deployment_id}#ENROLLED"


def month_gsi(org_id: str, deployment_id: str, month: str) -> str:
    return f"ORG#{org_id}#DEP#{deployment_id}#MONTH#{month}"


def records_gsi(org_id: str, deployment_id: str, month: str) -> str:
    return f"ORG#{org_id}#DEP#{deployment_id}#RECORDS#{month}"


CONFIG_SK = "CONFIG"
PROFILE_SK = "PROFILE"
ENROLLMENT_SK = "ENROLLMENT"


def evaluation_sk(evaluation_id: str) -> str:
    return f"EVAL#{evaluation_id}"


def evaluation_runs_sk(month: str) -> str:
    """The per-deployment, per-month run counter (``runs`` N) that numbers evaluations r1, r2, ..."""
    return f"EVALRUNS#{month}"


#: Registry of billing-enabled deployments across organisations, read by the monthly trigger: one item per
#: deployment, PK ``DEPLOYMENTS`` / SK ``ORG#{org}#DEP#{dep}`` (opaque ids only, no PHI).
ALL_DEPLOYMENTS_PK = "DEPLOYMENTS"


def deployment_registry_sk(org_id: str, deployment_id: str) -> str:
    return f"ORG#{org_id}#DEP#{deployment_id}"


def month_sk(month: str) -> str:
    return f"MONTH#{month}"


def entry_sk(month: str, entry_id: str) -> str:
    return f"ENTRY#{month}#{entry_id}"


def busy_sk(user_id: str, utc_hour: str) -> str:
    return f"BUSY#{user_id}#{utc_hour}"


def reading_day_sk(local_date: str) -> str:
    return f"RDAY#{local_date}"


def appointment_sk(appointment_id: str) -> str:
    return f"APPT#{appointment_id}"


def document_sk(document_id: str) -> str:
    return f"DOC#{document_id}"


def record_prefix(month: str) -> str:
    return f"RECORD#{month}#"


def record_sk(month: str, code: str, period_start: str) -> str:
    return f"{record_prefix(month)}{code}#{period_start}"


def export_pk(org_id: str, export_id: str) -> str:
    return f"ORG#{org_id}#EXPORT#{export_id}"


EXPORT_SK = "EXPORT"


def quota_pk(org_id: str, user_id: str, day: str) -> str:
    return f"ORG#{org_id}#QUOTA#{user_id}#{day}"


QUOTA_SK = "QUOTA"


def idempotency_pk(key_hash: str) -> str:
    return f"IDEM#{key_hash}"


IDEMPOTENCY_SK = "IDEM"


def audit_pk(org_id: str, day: str, shard: int) -> str:
    return f"AUDIT#{org_id}#{day}#{shard % AUDIT_SHARDS}"


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    """A DynamoDB JSON primary key."""
    return {"PK": {"S": pk}, "SK": {"S": sk}}
