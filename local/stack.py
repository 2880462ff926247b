"""The whole local stack: emulator, functions, HTTP gateway and demo data, started and stopped together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from local.emulator import Emulator, wait_for_async
from local.server import ApiServer, Gateway


@dataclass
class LocalStack:
    """Everything ``python -m local serve`` runs, usable from tests and commands.

    Args:
        port: HTTP port of the API (0 picks a free one).
        endpoint_url: An emulator already running (skips starting moto).
        moto_port: Port of the in-process emulator (0 picks a free one).
        seed: Whether to create the demo organisation.
        log_level: Log level of the handlers.
    """

    port: int = 8080
    endpoint_url: str | None = None
    moto_port: int = 0
    seed: bool = True
    log_level: str = "WARNING"
    emulator: Emulator = field(init=False)
    api: ApiServer | None = field(init=False, default=None)
    gateway: Gateway | None = field(init=False, default=None)
    demo: Any = field(init=False, default=None)
    timings: dict[str, float] = field(init=False, default_factory=dict)
    skipped: dict[str, str] = field(init=False, default_factory=dict)

    def start(self) -> LocalStack:
        """Start the emulator, load the functions, serve HTTP, seed the demo data, then report ready."""
        started = time.perf_counter()
        self.emulator = Emulator(endpoint_url=self.endpoint_url, port=self.moto_port, log_level=self.log_level)
        self.emulator.start()
        self.timings["emulator_s"] = time.perf_counter() - started

        from local.functions import load_api_functions

        mark = time.perf_counter()
        functions = load_api_functions(skipped=self.skipped)
        self.gateway = Gateway(functions, self.skipped)
        self.api = ApiServer(self.gateway, port=self.port)
        self.api.start()
        self.timings["functions_s"] = time.perf_counter() - mark
        if self.seed:
            from local.seed import seed_demo

            mark = time.perf_counter()
            self.demo = seed_demo(functions)
            self.timings["seed_s"] = time.perf_counter() - mark
        self.gateway.ready.set()
        self.timings["ready_s"] = time.perf_counter() - started
        return self

    @property
    def url(self) -> str:
        """Base URL of the API."""
        assert self.api is not None, "start() first"
        return self.api.url

    def stop(self) -> None:
        """Stop serving and stop the emulator."""
        if self.api is not None:
            self.api.stop()
        wait_for_async(timeout=5)
        self.emulator.stop()
