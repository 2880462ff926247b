"""The bundling script of the code assets and the search for the runtime's interpreter (no CDK import).

``infra.bytecode`` builds the assets with it; ``make bench`` compiles its copy of the product with it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence


def bundle_script(entries: Sequence[str], python: str = "python", prune: Sequence[str] = ("__pycache__",)) -> str:
    """The shell script that copies ``entries`` of ``$SRC`` to ``$OUT`` and compiles them there.

    Args:
        entries: Files or folders of the source to ship (e.g. ``["enroll"]`` or ``["python"]``).
        python: The interpreter that compiles (the runtime's).
        prune: Names of folders dropped wherever they occur (caches of other versions, tests).

    Returns:
        A ``bash`` script reading ``SRC`` and ``OUT`` from its environment.
    """
    copies = " ".join(shlex.quote(e) for e in entries)
    names = " -o ".join(f"-name {shlex.quote(n)}" for n in prune)
    return (
        'set -euo pipefail; cd "$SRC"; '
        f'for entry in {copies}; do cp -R "$entry" "$OUT"/; done; '
        f'find "$OUT" -depth -type d \\( {names} \\) -exec rm -rf {{}} +; '
        'find "$OUT" -name "*.pyc" -delete; '
        f'{shlex.quote(python)} -m compileall -q -j 0 --invalidation-mode unchecked-hash "$OUT"'
    )


def _version_of(python: str) -> str | None:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def local_interpreter(version: str) -> str | None:
    """An interpreter of exactly ``version`` on this machine (``BYTECODE_PYTHON`` first), or ``None``."""
    for candidate in (os.environ.get("BYTECODE_PYTHON"), shutil.which(f"python{version}")):
        if candidate and _version_of(candidate) == version:
            return candidate
    return None
