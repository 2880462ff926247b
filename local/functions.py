"""The product's functions as the local stack runs them: API modules, workflow steps and the export worker.

Nothing here lists routes: each API module's ``app`` (``rpm_billing.api.ApiApp``) declares them, and the local
router asks ``app.match(method, path)``.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: API function modules, each exposing ``app`` and ``lambda_handler``.
API_MODULES = ("enroll.app", "track_time.app", "evaluate.app", "export.app")

#: Lambda functions that are not behind the API: emulator function name -> handler (``module.attribute``).
WORKER_HANDLERS = {
    "rpm-billing-list-patients": "evaluate.steps.list_patients_handler",
    "rpm-billing-evaluate-batch": "evaluate.steps.evaluate_batch_handler",
    "rpm-billing-summarise-run": "evaluate.steps.summarise_run_handler",
    "rpm-billing-export-worker": "export.worker.lambda_handler",
}

#: Workflow definition placeholder -> emulator function name.
WORKFLOW_FUNCTIONS = {
    "ListPatientsFunctionArn": "rpm-billing-list-patients",
    "EvaluateBatchFunctionArn": "rpm-billing-evaluate-batch",
    "SummariseRunFunctionArn": "rpm-billing-summarise-run",
}
EXPORT_WORKER_FUNCTION = "rpm-billing-export-worker"

#: The deployed functions' runtime (the stack's ``Runtime.PYTHON_3_14``); the emulator only records it.
RUNTIME = "python3.14"


def module_exists(name: str) -> bool:
    """Whether a module can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def resolve(handler: str) -> Callable[..., Any]:
    """Import ``module.attribute`` and return the attribute."""
    module, attribute = handler.rsplit(".", 1)
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


@dataclass
class ApiFunction:
    """One API function: its module, ``ApiApp`` and handler, and the lock that makes it one container."""

    name: str
    app: Any
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Run one event, one at a time, as a Lambda container does."""
        with self.lock:
            try:
                return self.handler(event, context)
            finally:
                drop_metrics()


def drop_metrics() -> None:
    """Forget the invocation's metrics: locally they are disabled, and Powertools then never clears them.

    Disabled metrics are not flushed at the end of an invocation but still print themselves once 100 values
    pile up; dropping them after each invocation keeps the local stack's output to what it says itself.
    """
    from rpm_billing.observability import metrics

    metrics.clear_metrics()


def load_api_functions(
    modules: tuple[str, ...] = API_MODULES, skipped: dict[str, str] | None = None
) -> list[ApiFunction]:
    """Import every API module that exists.

    Args:
        modules: The modules to load.
        skipped: Filled with module -> reason for each module that is missing or fails to import; the stack
            then serves the others (``/health`` names what is missing).
    """
    loaded = []
    for name in modules:
        if not module_exists(name):
            if skipped is not None:
                skipped[name] = "not found"
            continue
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # a function that does not import must not hide the others
            if skipped is None:
                raise
            skipped[name] = type(exc).__name__
            continue
        loaded.append(ApiFunction(name=name.split(".")[0], app=module.app, handler=module.lambda_handler))
    return loaded


def available_workers() -> dict[str, str]:
    """The worker functions whose module exists."""
    return {fn: handler for fn, handler in WORKER_HANDLERS.items() if module_exists(handler.rsplit(".", 1)[0])}


class FakeContext:
    """The parts of the Lambda context that handlers and Powertools read."""

    def __init__(self, function_name: str, request_id: str, timeout_ms: int = 29_000) -> None:
        import time

        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))
