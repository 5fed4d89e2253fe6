"""What every action of one apply shares: the inputs it was planned from, the journal, the clients, and the
rules for stopping. Declared in one place, so that no action reaches into another's state."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler import platforms
from reconciler.apply import watch
from reconciler.desired import DesiredResource
from reconciler.observed import Generation, ObservedState
from reconciler.platforms.base import Platform
from reconciler.state.journal import Journal


class Interrupted(Exception):
    """Raised between side effects once a stop was requested (Ctrl-C)."""


class Deferred(Exception):
    """A change that cannot start yet (its upstream has not succeeded); not a failure."""


@dataclass
class Context:
    desired: Mapping[str, DesiredResource]
    observed: ObservedState
    journal: Journal
    clients: Any  # a Clients, or any mapping of platform name -> API client
    stop: threading.Event = field(default_factory=threading.Event)
    wait_for_upstream: Callable[[str], Generation | None] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    observed_at: float = 0.0  # clock() when `observed` was listed
    removed: set[str] = field(default_factory=set)  # what this run deleted or stopped: never "found" again
    platforms: Mapping[str, Platform] = field(default_factory=lambda: platforms.PLATFORMS)
    identity: str | None = None  # the stack (and workspace): what a resource must not contradict to be deleted
    declared: dict[str, str] = field(default_factory=dict)  # manifest -> id of the intent this run stored for it
    attempted: set[str] = field(default_factory=set)  # manifests whose create this run went on to attempt
    root: Path | None = None  # the manifest root: where the training files kept in the repository are read

    def platform(self, name: str) -> Platform:
        return self.platforms[name]

    def client(self, name: str) -> Any:
        return self.clients[name]

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Interrupted("interrupted: stopped before the next request; the lock records everything done")

    def record_gone(self, name: str, key: str) -> None:
        """Drop a generation that no longer exists; the entry itself goes once a removed manifest has nothing left."""
        keep = name in self.desired
        self.journal.update(name, lambda e: e.without_generation(key, keep_entry=keep) if e else None)

    def record(self, name: str, generation: Generation) -> None:
        """What was just learned about a recorded generation."""
        self.journal.update(name, lambda e: e.with_generation(generation) if e else None)

    def succeeded(self, name: str, generation: Generation | None, waits: str) -> Generation:
        """`generation` of `name` as live now, once it succeeded: at once, after waiting for it (--wait), or
        never in this run (Deferred, saying what `waits` for it and its state)."""
        live = watch.poll(generation, self.clients) if generation else None
        if live is not None and live.active and self.wait_for_upstream is not None:
            live = self.wait_for_upstream(name)
        if live is None or live.phase != "succeeded" or not live.model:
            state = live.phase if live else "not trained with its current spec yet"
            raise Deferred(f"{waits} (it is {state}); run apply again once it has, or use --wait")
        return live

    def steps(self, name: str) -> _Steps:
        return _Steps(self, name)


@dataclass
class _Steps:
    """A removal's checkpoints: stop between requests, and persist each step before the next."""

    context: Context
    name: str

    def before_request(self) -> None:
        self.context.check_stop()

    def learned(self, generation: Generation) -> None:
        self.context.record(self.name, generation)
