"""The local stack in a subprocess on free ports (its own environment), driven over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120


@dataclass
class Reply:
    """One HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
    """A plain urllib request; JSON-encodes ``body`` unless it is bytes."""
    hdrs = dict(headers or {})
    data: bytes | None = None
    if isinstance(body, bytes):
        data = body
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The running local stack."""

    url: str
    state_dir: Path
    startup_s: float
    output: Path

    def token(self, role: str, org: str, deployment: str = "", user: str = "e2e-user", **kwargs: Any) -> str:
        from local.tokens import mint

        return mint(role, org, deployment, user_id=user, key=signing_key_at(self.state_dir), **kwargs)

    def client(self, token: str) -> Callable[..., Reply]:
        def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
            return http(method, self.url + path, body, {"Authorization": f"Bearer {token}", **(headers or {})})

        return call


def signing_key_at(state_dir: Path) -> bytes:
    """The stack's signing key (the subprocess generated it in ``state_dir``)."""
    from local.tokens import KEY_FILE

    return bytes.fromhex((state_dir / KEY_FILE).read_text().strip())


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode}")
        try:
            if http("GET", url + "/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the local stack did not become healthy")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``python -m local serve`` on free ports with the demo data; stopped at the end of the session."""
    state_dir = tmp_path_factory.mktemp("local-state")
    output = state_dir / "serve.log"
    port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_", "MOTO_"))}
    env.update(
        {
            "RPM_LOCAL_STATE": str(state_dir),
            "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common/python", "functions", ".")),
        }
    )
    began = time.monotonic()
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "serve", "--port", str(port), "--moto-port", str(moto_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, START_TIMEOUT_S)
        yield Stack(url=url, state_dir=state_dir, startup_s=time.monotonic() - began, output=output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
