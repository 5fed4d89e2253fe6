"""Following jobs in flight: poll the generations the lock records until they end, or until a timeout.

Used by `apply --wait`, `reconciler wait` and `reconciler status`. Waiting never cancels anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from reconciler import platforms
from reconciler.observed import Generation


def poll(generation: Generation, clients: Any) -> Generation | None:
    """The generation as it is live now, or None when it no longer exists."""
    return platforms.get(generation.platform).poll(clients[generation.platform], generation)


def watch(generations: Mapping[str, Generation], clients: Any, *, timeout: float | None = None,
          interval: float = 5.0, on_update: Callable[[dict[str, Generation | None]], None] = lambda now: None,
          stop: Callable[[], bool] = lambda: False, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> dict[str, Generation | None]:
    """Poll until every generation is terminal (or gone), the timeout passes, or `stop()` says so."""
    now: dict[str, Generation | None] = dict(generations)
    deadline = None if timeout is None else clock() + timeout
    while True:
        for name, generation in list(now.items()):
            if generation is not None and generation.active:
                now[name] = poll(generation, clients)
        on_update(dict(now))
        if not any(g is not None and g.active for g in now.values()) or stop():
            return now
        if deadline is not None and clock() >= deadline:
            return now
        sleep(interval if deadline is None else max(0.0, min(interval, deadline - clock())))
