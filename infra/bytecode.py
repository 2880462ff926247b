"""Lambda code assets shipped with bytecode compiled by the runtime's own interpreter.

Lambda's file system is read-only, so a module without a matching ``.pyc`` is compiled again at every cold
start. For the enroll function that is about 1.2 s of cold initialisation with nothing compiled against 0.3 s
with everything compiled (``make bench`` on this machine). Each asset is therefore bundled: its entries are
copied, caches and tests are dropped, and ``compileall`` writes ``__pycache__/*.cpython-314.pyc`` with
``unchecked-hash`` invalidation (the zip does not keep the source timestamps a default ``.pyc`` checks).

Bundling runs locally when an interpreter of the runtime's version is at hand (``BYTECODE_PYTHON`` or
``python3.14`` on the ``PATH``), else in the runtime's build image (Docker), the default of ``cdk deploy``.
It never compiles with another version: that bytecode would be ignored by Lambda. Offline checks without
either (``make synth`` and the infra tests here) skip bundling with CDK's ``aws:cdk:bundling-stacks`` context.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.bundling import bundle_script, local_interpreter

RUNTIME = lambda_.Runtime.PYTHON_3_14
#: The interpreter version of ``RUNTIME``; bytecode of any other version is ignored by Lambda.
RUNTIME_VERSION = "3.14"
#: CDK's context key listing the stacks whose assets are bundled (``[]``: none, for offline synthesis).
SKIP_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}


@jsii.implements(ILocalBundling)
class LocalCompile:
    """Bundle without Docker when an interpreter of the runtime's version is installed.

    Args:
        source: The asset's source folder.
        entries: What of it to ship.
        prune: Folder names dropped from the copy.
        version: The interpreter version required (default: the runtime's).
    """

    def __init__(self, source: Path, entries: Sequence[str], prune: Sequence[str], version: str | None = None) -> None:
        self.source = source
        self.entries = list(entries)
        self.prune = list(prune)
        self.version = version

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        """Compile into ``output_dir``; ``False`` (bundle in Docker instead) without a matching interpreter.

        Args:
            output_dir: Where CDK stages the asset.
            options: CDK's bundling options (unused: the script is this object's own).
        """
        python = local_interpreter(self.version or RUNTIME_VERSION)
        if python is None:
            return False
        env = {**os.environ, "SRC": str(self.source), "OUT": output_dir}
        script = bundle_script(self.entries, python, self.prune)
        subprocess.run(["bash", "-c", script], env=env, check=True, timeout=600)
        return True


def compiled_code(
    source: Path, entries: Sequence[str], *, exclude: Sequence[str] = (), prune: Sequence[str] = ("__pycache__",)
) -> lambda_.Code:
    """A code asset of ``entries`` of ``source``, bytecode compiled by the runtime's interpreter.

    Args:
        source: The folder holding the entries (``functions``, ``layers/common``, the built dependency layer).
        entries: The files or folders to ship, relative to ``source``.
        exclude: Patterns left out of the asset's fingerprint (what the entries do not cover), so that a
            change elsewhere in ``source`` does not redeploy this asset.
        prune: Folder names dropped from the copy wherever they occur.

    Returns:
        The ``Code`` to give a function or layer.
    """
    script = bundle_script(entries, prune=prune)
    return lambda_.Code.from_asset(
        str(source),
        exclude=[*exclude, "**/__pycache__", "*.pyc"],
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            command=["bash", "-c", script],
            environment={"SRC": "/asset-input", "OUT": "/asset-output"},
            # jsii hands the options struct over positionally, not as the keywords of the typed protocol.
            local=LocalCompile(source, entries, prune),  # type: ignore[arg-type]
        ),
    )
