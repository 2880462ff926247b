"""CDK entry point: ``python infra/app.py`` (make synth) or the CDK CLI (make deploy); cdk-nag runs on every synth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts infra/ first on the path, where infra/constructs would shadow the constructs library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "infra"]
for extra in (ROOT / "functions", ROOT / "layers" / "common" / "python", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks  # noqa: E402

from infra import constants as c  # noqa: E402
from infra import nag_register  # noqa: E402
from infra.bytecode import SKIP_BUNDLING  # noqa: E402
from infra.constructs.api import load_routes  # noqa: E402
from infra.stack import BillingStack  # noqa: E402

LAYER_DIR = ROOT / "build" / "layer"


def load_context() -> dict[str, object]:
    """The feature flags and context of cdk.json (+ cdk.context.json); the CLI passes them itself."""
    if "CDK_CONTEXT_JSON" in os.environ:
        return {}
    context: dict[str, object] = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    local = ROOT / "cdk.context.json"
    if local.exists():
        context.update(json.loads(local.read_text()))
    return context


def ensure_dependency_layer() -> Path:
    """Build the dependency layer once (pip, no Docker) and reuse it from build/layer afterwards."""
    if not (LAYER_DIR / ".complete").exists():
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "build_layer.sh")],
            check=True,
            env={**os.environ, "PYTHON": sys.executable},
        )
    return LAYER_DIR


def cors_origins(app: cdk.App) -> list[str]:
    """Portal origins: ``-c corsOrigins=https://a,https://b`` or the default in constants."""
    raw = app.node.try_get_context("corsOrigins")
    origins = [o.strip() for o in str(raw).split(",") if o.strip()] if raw else list(c.DEFAULT_CORS_ORIGINS)
    return origins


def build(app: cdk.App, *, strict: bool = True, nag: bool = True) -> BillingStack:
    """Add the billing stack to ``app`` with the nag packs and the acknowledgement register applied.

    Args:
        app: The CDK app.
        strict: Fail when an API function module exists but does not import.
        nag: Apply the AwsSolutions and HIPAA Security packs (and the register).

    Returns:
        The stack.
    """
    routes, _ = load_routes(strict=strict)
    stack = BillingStack(
        app,
        c.STACK_NAME,
        routes=routes,
        dependency_layer=ensure_dependency_layer(),
        cors_origins=cors_origins(app),
        description="RPM/RTM billing backend",
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    if nag:
        nag_register.apply(stack)
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
        cdk.Aspects.of(app).add(HIPAASecurityChecks(verbose=True))
    return stack


def main() -> None:
    """Synthesise into cdk.out (or the CLI's outdir).

    Run directly (``make synth``, offline checks) the code assets are not bundled: bundling compiles them with
    the runtime's interpreter or its Docker image (``infra.bytecode``). The CDK CLI (``cdk synth``/``deploy``)
    passes its own context and bundles.
    """
    context = load_context()
    if "CDK_CONTEXT_JSON" not in os.environ:
        context.update(SKIP_BUNDLING)
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", str(ROOT / "cdk.out")), context=context)
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
