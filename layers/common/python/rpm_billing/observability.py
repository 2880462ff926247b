"""The single logger and metrics of the product, and lazily started tracing.

Logs are short lowercase phrases with data in keyword arguments; they never carry PHI (names, dates of
birth, MRNs, notes, free text, reading values). Identifiers are opaque and may be logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from rpm_billing import SERVICE_NAME

METRICS_NAMESPACE = "RpmBilling"

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)

_tracer: Any = None


def start_tracing() -> None:
    """Start X-Ray tracing once per container when it is enabled.

    Creating a Powertools ``Tracer`` imports the X-Ray SDK and builds its clients (hundreds of ms), so it
    happens on the first invocation of a container with tracing on, never at import and never when
    tracing is disabled. It patches botocore, so it must run before the first AWS client is created.
    """
    global _tracer
    from rpm_billing.settings import get_settings

    if _tracer is not None or not get_settings().tracing_enabled:
        return
    from aws_lambda_powertools import Tracer

    # Only botocore is traced: patching every library the X-Ray SDK knows imports requests and a dozen
    # probes at each cold start, for clients these functions do not use.
    _tracer = Tracer(service=SERVICE_NAME, patch_modules=("botocore",))


def annotate(**values: str | int | bool) -> None:
    """Add trace annotations (opaque ids only) when tracing is on."""
    if _tracer is not None:
        for key, value in values.items():
            _tracer.put_annotation(key=key, value=value)
