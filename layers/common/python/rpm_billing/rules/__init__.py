"""The pure CPT rules engine for RPM and RTM (billing-rules.md §1-§7) and its versioned catalogue.

``evaluate`` gives the live status of every code of the patient's program on a date; ``evaluate_month`` closes a
practice month. Both are pure: no I/O, clock, environment or global state.
"""

from rpm_billing.rules.catalogue import CATALOGUES, Catalogue, CodeSpec, catalogue_for
from rpm_billing.rules.engine import RULES_VERSION, codes_for, evaluate, evaluate_month
from rpm_billing.rules.model import (
    CodeResult,
    EngineWarning,
    Evaluation,
    PatientFacts,
    PriorClaim,
    ReadingDayFact,
    ReadingFact,
    Status,
    TimeEntryFact,
    Warning,
)
from rpm_billing.rules.policy import DEFAULT_POLICY, BillingPolicy

__all__ = [
    "CATALOGUES",
    "DEFAULT_POLICY",
    "RULES_VERSION",
    "BillingPolicy",
    "Catalogue",
    "CodeResult",
    "CodeSpec",
    "EngineWarning",
    "Evaluation",
    "PatientFacts",
    "PriorClaim",
    "ReadingDayFact",
    "ReadingFact",
    "Status",
    "TimeEntryFact",
    "Warning",
    "catalogue_for",
    "codes_for",
    "evaluate",
    "evaluate_month",
]
