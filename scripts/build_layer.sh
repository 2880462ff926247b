#!/usr/bin/env bash
# Build the third-party dependency layer (Powertools, pydantic) for Lambda arm64 / Python 3.14 into build/layer.
# Docker-free: pip downloads the manylinux aarch64 wheels. boto3/botocore are dropped (the runtime ships them).
# Re-running is a no-op once build/layer/python exists; pass --force to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/layer
PY=${PYTHON:-.venv/bin/python}
if [[ "${1:-}" != "--force" && -f "$OUT/.complete" ]]; then
  exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT/python"
"$PY" -m pip install -q --no-compile --disable-pip-version-check \
  --target "$OUT/python" --platform manylinux2014_aarch64 --implementation cp --python-version 3.14 \
  --only-binary=:all: "aws-lambda-powertools[tracer]==3.37.0" "pydantic>=2.7,<3"
rm -rf "$OUT"/python/boto3* "$OUT"/python/botocore* "$OUT"/python/s3transfer* "$OUT"/python/bin
find "$OUT" -name __pycache__ -type d -prune -exec rm -rf {} +
touch "$OUT/.complete"
