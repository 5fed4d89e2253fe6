"""Tracks jobs in flight: polls the generations the lock records until they end, or until a timeout.

Used by `apply --wait`, `reconciler wait` and `reconciler status`. Waiting never cancels anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from reconciler import refresh
from reconciler.errors import NotFound
from reconciler.lockfile import Lock
from reconciler.observed import Generation

STATES_WITH_OPERATION_DETAIL = ("CREATING", 1, "FAILED", 3)  # names or numbers: progress or the error


def poll(generation: Generation, vertex, gemini) -> Generation | None:
    """The generation as it is live now, or None when it no longer exists."""
    try:
        if generation.platform == "vertex":
            job = vertex.get_tuning_job(generation.job)
            fresh = refresh.vertex_generation(job)
            if fresh.model and fresh.phase == "succeeded":
                try:
                    fresh = refresh.vertex_generation(job, vertex.get_model(fresh.model))
                except NotFound:
                    fresh = replace(fresh, model_exists=False)
            return fresh
        model = gemini.get_tuned_model(generation.model)
        operation = None
        if generation.operation and model.get("state") in STATES_WITH_OPERATION_DETAIL:
            try:
                operation = gemini.get_operation(generation.operation)
            except NotFound:
                operation = None
        return replace(refresh.gemini_generation(model, operation), operation=generation.operation)
    except NotFound:
        return None


def recorded(lock: Lock | None, names: set[str] | None = None) -> dict[str, Generation]:
    """The current generation of every lock entry (optionally only `names`)."""
    if lock is None:
        return {}
    return {name: entry.current for name, entry in sorted(lock.entries.items())
            if entry.current is not None and (names is None or name in names)}


def watch(generations: Mapping[str, Generation], vertex, gemini, *, timeout: float | None = None,
          interval: float = 5.0, on_update: Callable[[dict[str, Generation | None]], None] = lambda now: None,
          stop: Callable[[], bool] = lambda: False, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> dict[str, Generation | None]:
    """Poll until every generation is terminal (or gone), the timeout passes, or `stop()` says so."""
    now: dict[str, Generation | None] = dict(generations)
    deadline = None if timeout is None else clock() + timeout
    while True:
        for name, generation in list(now.items()):
            if generation is not None and generation.active:
                now[name] = poll(generation, vertex, gemini)
        on_update(dict(now))
        if not any(g is not None and g.active for g in now.values()) or stop():
            return now
        if deadline is not None and clock() >= deadline:
            return now
        sleep(interval if deadline is None else max(0.0, min(interval, deadline - clock())))
