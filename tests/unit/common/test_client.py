"""AWS clients: botocore only (no boto3 on the cold path), bounded retries, endpoint override honoured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpm_billing.db import client

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    client.reset_clients()
    yield
    client.reset_clients()


def test_clients_are_created_once_with_bounded_standard_retries(fresh_clients: None) -> None:
    # Given no client yet in this container
    # When the DynamoDB client is asked for twice
    first, second = client.dynamodb(), client.dynamodb()
    # Then it is one client, with standard retries bounded at 3 attempts and short timeouts
    assert first is second
    assert first.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (first.meta.config.connect_timeout, first.meta.config.read_timeout) == (2, 5)


def test_aws_endpoint_url_points_every_client_at_an_emulator(fresh_clients: None) -> None:
    # Given AWS_ENDPOINT_URL set (the local stack)
    # When each client is created
    clients = (client.dynamodb(), client.s3(), client.stepfunctions(), client.lambda_())
    endpoints = {c.meta.endpoint_url for c in clients}
    # Then all of them talk to it
    assert endpoints == {"http://127.0.0.1:4566"}


def test_s3_presigns_with_sigv4(fresh_clients: None) -> None:
    # Given the S3 client
    # When it presigns a download
    url = client.s3().generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    # Then the link is SigV4 (botocore's default for S3 presigning is SigV2)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url


def test_no_function_imports_boto3_to_serve_requests() -> None:
    # Given a fresh interpreter with the layer and functions on the path, as in Lambda
    code = (
        "import importlib, json, sys\n"
        "for m in ('enroll.app', 'track_time.app', 'evaluate.app', 'evaluate.steps', 'export.app', 'export.worker'):\n"
        "    importlib.import_module(m)\n"
        "from rpm_billing.db import client\n"
        "client.dynamodb(); client.s3(); client.stepfunctions(); client.lambda_()\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in ('boto3', 's3transfer'))))\n"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/common/python", "functions", "."))
    # When every handler module is imported and every client created
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # Then neither boto3 nor s3transfer was loaded (tens of ms of every cold start)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
