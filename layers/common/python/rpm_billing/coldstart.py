"""Container initialisation without the cyclic garbage collector.

A cold start imports the libraries of a function and serves its first request: a few hundred thousand objects
that live as long as the container. The cyclic collector walks the growing heap many times meanwhile, about a
tenth of the cold start, and finds almost nothing (a few hundred objects). Each function's package calls
:func:`pause` when it is imported, before anything heavy. Every API entry point is wrapped in
:func:`ends_initialisation`, which calls :func:`resume` when the first invocation ends, however it ends: an API
request is bounded (a body of at most a few MB), so the garbage it leaves meanwhile is too. Workers whose
invocation grows with the data (an export of every patient, a batch of the monthly evaluation) are wrapped in
:func:`ends_initialisation_before_work` instead, which resumes before the work starts: with the collector off
for a whole export, its cyclic garbage would grow with the number of patients. ``resume`` moves every
surviving object to the permanent generation (``gc.freeze``), so later collections skip them too, then turns
the collector back on.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_paused = False


def pause() -> None:
    """Turn the cyclic collector off until :func:`resume` (no-op when it is already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what initialisation built and turn the collector back on, once; only undoes :func:`pause`."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def ends_initialisation(handler: Handler) -> Handler:
    """Wrap a Lambda entry point so that its first invocation, whatever its outcome, resumes collection.

    Args:
        handler: The ``(event, context)`` function Lambda calls.

    Returns:
        The wrapped function; ``ends_initialisation`` is set on it so tests can check every entry point.
    """

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            resume()

    wrapper.ends_initialisation = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def ends_initialisation_before_work(handler: Handler) -> Handler:
    """Wrap a worker entry point so that collection resumes before its first invocation does any work.

    Args:
        handler: The ``(event, context)`` function Lambda calls.

    Returns:
        The wrapped function; ``ends_initialisation`` and ``collects_during_work`` are set on it.
    """

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        resume()
        return handler(*args, **kwargs)

    wrapper.ends_initialisation = True  # type: ignore[attr-defined]
    wrapper.collects_during_work = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
