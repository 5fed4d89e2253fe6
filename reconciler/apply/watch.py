"""Following jobs in flight: observe the generations the lock records until they end, or until a timeout.

Used by `apply --wait`, `reconciler wait` and `reconciler status`. Waiting never cancels anything. Every poll
reads all the jobs still active at once, through the listings refresh uses (`refresh.observe`): its cost is
a page set per scope, not a request per job. The interval between polls grows with the time spent waiting
(`interval`), so an hour-long wait polls once a minute while a short one stays quick; a job ending is seen at
the next poll, within one interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from reconciler import refresh
from reconciler.observed import Generation

MAX_INTERVAL = 60.0  # seconds between polls, however long the wait
BACKOFF_FRACTION = 1 / 60  # after a while, poll every 1/60 of the time waited so far (a minute per hour)
SLICE = 1.0  # a long pause is slept in slices this long, so that a stop (Ctrl-C) is honoured promptly


def interval(elapsed: float, base: float = 5.0) -> float:
    """Seconds until the next poll after `elapsed` seconds of waiting: `base` at first, then 1/60 of the time
    waited (5 s after 5 minutes, 30 s after half an hour), never more than a minute (nor less than `base`)."""
    return max(base, min(MAX_INTERVAL, elapsed * BACKOFF_FRACTION))


def observe(generations: Mapping[str, Generation], clients: Any) -> dict[str, Generation | None]:
    """Each generation (by manifest name) as live now, or None when it no longer exists."""
    return refresh.observe(generations, clients)


def poll(generation: Generation, clients: Any) -> Generation | None:
    """One generation as it is live now, or None when it no longer exists."""
    return observe({"": generation}, clients)[""]


def watch(generations: Mapping[str, Generation], clients: Any, *, timeout: float | None = None,
          interval: float = 5.0, on_update: Callable[[dict[str, Generation | None]], None] = lambda now: None,
          stop: Callable[[], bool] = lambda: False, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic,
          observe: Callable[[Mapping[str, Generation], Any], dict[str, Generation | None]] = observe,
          ) -> dict[str, Generation | None]:
    """Poll until every generation is terminal (or gone), the timeout passes, or `stop()` says so.

    interval: the first intervals' length; later ones grow (`interval()` above). `on_update` receives every
    generation after every poll (None: gone)."""
    now: dict[str, Generation | None] = dict(generations)
    started = clock()
    deadline = None if timeout is None else started + timeout
    base = interval
    while True:
        active = {name: g for name, g in now.items() if g is not None and g.active}
        if active:
            now.update(observe(active, clients))
        on_update(dict(now))
        if not any(g is not None and g.active for g in now.values()) or stop():
            return now
        if deadline is not None and clock() >= deadline:
            return now
        pause = _interval(clock() - started, base)
        _pause(pause if deadline is None else max(0.0, min(pause, deadline - clock())), sleep, stop)
        if stop():
            return now


_interval = interval  # the parameter of `watch` hides the function's name


def _pause(seconds: float, sleep: Callable[[float], None], stop: Callable[[], bool]) -> None:
    while seconds > 0 and not stop():
        step = min(SLICE, seconds)
        sleep(step)
        seconds -= step
