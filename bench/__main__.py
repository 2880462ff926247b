"""Run every benchmark module (``bench_*.py`` exposing ``run() -> list[str]``) and print its lines."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    only = set(sys.argv[1:])
    failed = 0
    for name in names:
        if only and name not in only:
            continue
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            for line in importlib.import_module(f"bench.{name}").run():
                print(f"   {line}", flush=True)
        except Exception as exc:  # a failing benchmark is reported, the others still run
            failed += 1
            print(f"   FAILED: {type(exc).__name__}: {exc}", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
