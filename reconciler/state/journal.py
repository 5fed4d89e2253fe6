"""The journal: the only writer of the lock during a run. It applies a pure update to an entry and
persists it at once, so a crash loses at most the answer to one request.

Writes are group-committed: `update` returns only once a write that includes its change is stored, but one
write carries every change the workers made meanwhile, so eight workers do not queue for eight writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from reconciler.observed import Generation, name_tail
from reconciler.state.backend import StateBackend
from reconciler.state.model import Lock, LockEntry

# What a later read of a recorded generation can teach the lock; the rest is only known from the lock.
LEARNED = ("phase", "model", "model_exists", "endpoints", "error", "live")


class Journal:
    def __init__(self, backend: StateBackend, lock: Lock):
        self.backend = backend
        self.lock = lock  # every update applied, stored or about to be
        self._state = threading.Lock()  # guards `lock` and the counters
        self._disk = threading.Lock()  # one write at a time
        self._applied = self._written = 0

    def entry(self, name: str) -> LockEntry | None:
        return self.lock.entries.get(name)

    def update(self, name: str, change: Callable[[LockEntry | None], LockEntry | None]) -> None:
        with self._state:
            before = self.lock.entries.get(name)
            after = change(before)
            if after == before:
                return
            self.lock = self.lock.with_entry(after) if after is not None else self.lock.without(name)
            self._applied += 1
            mine = self._applied
        self._persist(mine)

    def observe(self, generations: Iterable[Generation | None]) -> None:
        """Record what was learned about recorded generations (a job ended, its model and endpoints appeared):
        one write, and only when something a reader of the lock cares about changed."""
        fresh = {name_tail(g.key): g for g in generations if g is not None and g.key}
        with self._state:
            entries = dict(self.lock.entries)
            for name, entry in self.lock.entries.items():
                current = learned(entry.current, fresh) if entry.current else None
                superseded = tuple(learned(g, fresh) for g in entry.superseded)
                if current != entry.current or superseded != entry.superseded:
                    entries[name] = replace(entry, current=current, superseded=superseded)
            if entries == dict(self.lock.entries):
                return
            self.lock = replace(self.lock, entries=entries)
            self._applied += 1
            mine = self._applied
        self._persist(mine)

    def _persist(self, mine: int) -> None:
        with self._disk:
            if self._written >= mine:
                return  # a write that started after this change was applied already carried it
            with self._state:
                snapshot, upto = self.lock, self._applied
            written = self.backend.write(snapshot)
            with self._state:
                self.lock = replace(self.lock, serial=written.serial)
                self._written = upto


def learned(recorded: Generation, fresh: dict[str, Generation]) -> Generation:
    """`recorded` updated with a fresh observation of the same resource, keeping what only the lock knows."""
    seen = fresh.get(name_tail(recorded.key))
    if seen is None or seen.platform != recorded.platform or \
            all(getattr(seen, f) == getattr(recorded, f) for f in LEARNED):
        return recorded
    return replace(recorded, **{f: getattr(seen, f) for f in LEARNED}, state=seen.state, progress=seen.progress,
                   create_time=recorded.create_time or seen.create_time, intent=recorded.intent or seen.intent,
                   operation=recorded.operation or seen.operation)
