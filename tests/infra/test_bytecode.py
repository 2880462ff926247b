"""Code assets ship bytecode compiled by the runtime's interpreter, never by another version."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import bytecode
from infra.constants import FUNCTION_PACKAGES, FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def _bundle(tmp_path: Path, source: Path, entries: list[str], prune: tuple[str, ...]) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    script = bytecode.bundle_script(entries, sys.executable, prune)
    env = {"SRC": str(source), "OUT": str(out), "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=300)
    return out


def _pyc_flags(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[4:8], "little")


def test_a_function_asset_holds_its_package_compiled_without_tests_or_stale_caches(tmp_path: Path) -> None:
    # Given the functions folder as it is
    before = sorted((ROOT / "functions").rglob("*"))
    # When the enroll function's asset is bundled
    out = _bundle(tmp_path, ROOT / "functions", ["enroll"], ("__pycache__", "tests"))
    # Then it holds the enroll package only, every module with bytecode that needs no source timestamp
    assert sorted(p.name for p in out.iterdir()) == ["enroll"]
    sources = sorted(out.rglob("*.py"))
    assert sources, "no module shipped"
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.exists(), f"{source.name} is not compiled"
        assert _pyc_flags(cached) == UNCHECKED_HASH
    assert not list(out.rglob("tests"))
    assert all(p.parent.name == "__pycache__" for p in out.rglob("*.pyc"))
    # And nothing was compiled in place
    assert sorted((ROOT / "functions").rglob("*")) == before


def test_the_local_bundler_refuses_an_interpreter_of_another_version(tmp_path: Path) -> None:
    # Given a bundler that needs a version this machine does not have
    bundler = bytecode.LocalCompile(ROOT / "functions", ["enroll"], ["__pycache__"], version="2.7")
    # When CDK asks it to bundle
    done = bundler.try_bundle(str(tmp_path))
    # Then it declines (CDK then bundles in the runtime's image) and writes nothing
    assert done is False
    assert list(tmp_path.iterdir()) == []


def test_cdk_bundles_a_function_locally_with_an_interpreter_of_the_runtime_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    # Given this interpreter standing in for the runtime's version
    monkeypatch.setattr(bytecode, "RUNTIME_VERSION", HERE)
    monkeypatch.setenv("BYTECODE_PYTHON", sys.executable)
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Bytecode")
    others = [p for p in FUNCTION_PACKAGES if p != "enroll"]
    # When a function's code asset is synthesised with bundling on
    code = bytecode.compiled_code(ROOT / "functions", ["enroll"], exclude=others, prune=("__pycache__", "tests"))
    lambda_.Function(stack, "F", runtime=bytecode.RUNTIME, handler="enroll.app.lambda_handler", code=code)
    app.synth()
    # Then the staged asset is the compiled package
    manifest = json.loads((tmp_path / "cdk.out" / "Bytecode.assets.json").read_text())
    zips = [a for a in manifest["files"].values() if a["source"]["packaging"] == "zip"]
    assert len(zips) == 1
    staged = tmp_path / "cdk.out" / zips[0]["source"]["path"]
    assert sorted(p.name for p in staged.iterdir()) == ["enroll"]
    assert (staged / "enroll" / "__pycache__").is_dir()


def test_every_function_and_layer_of_the_stack_ships_compiled_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import aws_cdk as cdk

    from infra import app as infra_app
    from infra.constructs import functions

    # Given a record of every code asset the stack asks for
    calls: list[dict[str, Any]] = []
    real = functions.compiled_code

    def spy(source: Path, entries: list[str], **kwargs: Any) -> Any:
        calls.append({"source": Path(source), "entries": list(entries), **kwargs})
        return real(source, entries, **kwargs)

    monkeypatch.setattr(functions, "compiled_code", spy)
    # When the billing stack is built (assets not bundled, as offline)
    app = cdk.App(context={**infra_app.load_context(), **bytecode.SKIP_BUNDLING})
    infra_app.build(app, nag=False)
    # Then both layers and every function are compiled assets, each function with its own package only
    shipped = sorted((c["source"].name, tuple(c["entries"])) for c in calls)
    expected = sorted(
        [("common", ("python",)), ("layer", ("python",))] + [("functions", (s.package,)) for s in FUNCTIONS.values()]
    )
    assert shipped == expected
    assert all("tests" in c["prune"] for c in calls if c["source"].name == "functions")
