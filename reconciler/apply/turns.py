"""Which group a free worker takes next: the first in the executor's order whose scope has room.

Each scope (a Vertex AI project and region, the Gemini API) has its own quota and limiter, and a 429's
Retry-After pauses every worker calling into that scope. Workers that took groups from one queue in turn kept
taking that scope's groups during such a pause, one after another, until all of them waited on it: one region's
throttling stopped every region for a second. So a scope holds at most `per_scope` workers at once, and a
free worker skips the scopes that are full.

A group waiting for another (its upstream, in this run or training with --wait) does not count against its
scope meanwhile (`waiting`): it sends nothing, and a scope full of dependents waiting for hours would otherwise
hold back that scope's other manifests. Once its wait ends it has the next free place in its scope, before any
group not started yet.

No deadlock with dependents: a group waits only for groups earlier in the order (an upstream is placed before
its dependents), and a scope's groups start in that order, so the earliest unfinished group always gets a worker.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager


class Turns:
    def __init__(self, order: Iterable[str], scope_of: dict[str, Hashable], per_scope: int):
        self._rank = {name: rank for rank, name in enumerate(order)}
        self._queues: dict[Hashable, deque[str]] = {}
        for name in self._rank:
            self._queues.setdefault(scope_of[name], deque()).append(name)
        self._scope_of = scope_of
        self._per_scope = max(1, per_scope)
        self._running: dict[Hashable, int] = dict.fromkeys(self._queues, 0)
        self._resuming: dict[Hashable, int] = dict.fromkeys(self._queues, 0)  # groups whose wait just ended
        self._changed = threading.Condition()

    def take(self) -> str | None:
        """The next group to run (waiting while every scope with groups left is full), or None when none is left."""
        with self._changed:
            while True:
                ready = [queue[0] for scope, queue in self._queues.items()
                         if queue and self._has_room(scope) and not self._resuming[scope]]
                if ready:
                    name = min(ready, key=self._rank.__getitem__)
                    scope = self._scope_of[name]
                    self._queues[scope].popleft()
                    self._running[scope] += 1
                    return name
                if not any(self._queues.values()):
                    return None
                self._changed.wait()

    def done(self, name: str) -> None:
        """`name` ended (however): its scope has room again."""
        with self._changed:
            self._running[self._scope_of[name]] -= 1
            self._changed.notify_all()

    @contextmanager
    def waiting(self, name: str) -> Iterator[None]:
        """While the block runs, the running group `name` waits for another and leaves its place to others."""
        self.done(name)
        scope = self._scope_of[name]
        try:
            yield
        finally:
            with self._changed:
                self._resuming[scope] += 1
                while not self._has_room(scope):
                    self._changed.wait()
                self._resuming[scope] -= 1
                self._running[scope] += 1
                self._changed.notify_all()

    def _has_room(self, scope: Hashable) -> bool:
        return self._running[scope] < self._per_scope
