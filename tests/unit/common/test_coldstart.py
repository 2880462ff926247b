"""Cold start: the cyclic collector is paused while a container initialises and resumed by its first call."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from infra.constants import FUNCTIONS
from rpm_billing import coldstart


@pytest.fixture
def paused() -> Iterator[None]:
    """The state of a container that has just imported a function package."""
    coldstart.pause()
    yield
    coldstart.resume()
    gc.enable()


def test_pause_turns_the_collector_off_until_the_first_invocation_ends(paused: None) -> None:
    # Given a paused collector and a wrapped entry point
    calls: list[Any] = []

    @coldstart.ends_initialisation
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(gc.isenabled())
        return {"ok": True}

    assert not gc.isenabled()
    # When the first invocation runs
    result = handler({}, None)
    # Then it ran without the collector, and the collector is on again afterwards
    assert result == {"ok": True}
    assert calls == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_failing_first_invocation_still_resumes_the_collector(paused: None) -> None:
    # Given a paused collector and an entry point that raises
    @coldstart.ends_initialisation
    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    # When the first invocation fails
    with pytest.raises(RuntimeError):
        handler({}, None)
    # Then the collector is on anyway
    assert gc.isenabled()


def test_resume_never_turns_on_a_collector_it_did_not_turn_off() -> None:
    # Given a collector the application turned off itself (not through pause)
    gc.disable()
    try:
        # When resume runs (as at the end of every invocation)
        coldstart.resume()
        # Then the collector stays off: only pause's effect is undone
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_importing_a_function_package_pauses_the_collector() -> None:
    # Given a function package imported earlier, whose first invocation has ended (collector on)
    import track_time

    coldstart.resume()
    assert gc.isenabled()
    # When the package is imported afresh (as Lambda does before the handler module)
    importlib.reload(track_time)
    # Then the collector is off until an invocation ends
    try:
        assert not gc.isenabled()
    finally:
        coldstart.resume()
    assert gc.isenabled()


def test_a_worker_collects_from_the_start_of_its_first_invocation(paused: None) -> None:
    # Given a paused collector and a worker entry point
    calls: list[Any] = []

    @coldstart.ends_initialisation_before_work
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(gc.isenabled())
        return {"ok": True}

    # When its first invocation runs
    result = handler({}, None)
    # Then the collector was already on for the work, whose garbage grows with the data
    assert result == {"ok": True}
    assert calls == [True]
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_deployed_entry_point_resumes_the_collector(function_id: str) -> None:
    # Given the handler path the stack deploys for a function
    module_name, _, attribute = FUNCTIONS[function_id].handler.rpartition(".")
    # When the entry point is resolved as Lambda resolves it
    entry_point = getattr(importlib.import_module(module_name), attribute)
    # Then it is wrapped, so its first invocation turns the collector back on: after an API request (bounded),
    # before a worker's job (an export or an evaluation batch, which grow with the number of patients)
    assert getattr(entry_point, "ends_initialisation", False) is True
    is_api = module_name.endswith(".app")
    assert getattr(entry_point, "collects_during_work", False) is not is_api
