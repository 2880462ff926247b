"""The monthly evaluation workflow definition and its substitution, shared by CDK-free callers.

``infra/workflows/monthly_evaluation.asl.json`` is the one definition. It names its Lambda functions and its work
bucket with ``${...}`` placeholders (CDK's ``DefinitionSubstitutions``); the local stack and the workflow tests
substitute them here with the emulator's ARNs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

DEFINITION_PATH = Path(__file__).resolve().parents[2] / "infra" / "workflows" / "monthly_evaluation.asl.json"

#: Every placeholder the definition uses.
SUBSTITUTIONS = ("ListPatientsFunctionArn", "EvaluateBatchFunctionArn", "SummariseRunFunctionArn", "WorkBucket")

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def render_definition(values: Mapping[str, str], path: Path = DEFINITION_PATH) -> str:
    """Return the workflow definition with every ``${Name}`` placeholder replaced.

    Args:
        values: A value for each name in ``SUBSTITUTIONS`` (extra names are ignored).
        path: The ASL file; defaults to the project's one definition.

    Raises:
        KeyError: A placeholder has no value.
    """
    text = path.read_text(encoding="utf-8")
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise KeyError(f"no value for placeholders: {', '.join(missing)}")
    rendered = _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
    json.loads(rendered)
    return rendered
