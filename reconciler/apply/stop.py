"""Asking a run to stop (Ctrl-C, SIGTERM), and when it may simply be abandoned instead.

A run asked to stop finishes the request in flight and saves what it learned: `Stop` is set, and the executor
looks at it between requests. While a run only reads and decides (refreshing, planning, asking to go ahead) under
a run lock it holds whole, it may be abandoned at once instead: `abandonable` says so to whoever handles the
interrupt (`cli.session`), which then raises KeyboardInterrupt, and the run lock is released as the stack unwinds.
Taking and releasing the lock are never abandonable: a create cut short there could leave the lock held."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Stop(threading.Event):
    """Set when the run is asked to stop; `abandonable` while it may be ended at once instead."""

    def __init__(self) -> None:
        super().__init__()
        self.abandonable = False


@contextmanager
def abandonable(stop: threading.Event | None) -> Iterator[None]:
    """The block only reads and decides: an interrupt may end it at once, and one that came before it began ends
    it as it begins. A plain Event or None (a program, no interrupt handler) is left as it is."""
    if not isinstance(stop, Stop):
        yield
        return
    if stop.is_set():
        raise KeyboardInterrupt
    stop.abandonable = True
    try:
        yield
    finally:
        stop.abandonable = False
