"""The journal: the only writer of the lock during a run. It applies a pure update to an entry and persists it.

Two kinds of update. A *durable* one (an intent before a paid create) returns only once a write that includes it
is stored. A *prompt* one (what a side effect did) is stored by the next write, which happens at once unless the
backend asks for fewer writes (Cloud Storage allows about one write per second to an object, and each write is the
whole state): then within `prompt_within` seconds, or with the next durable update, or at `flush()` when the run
ends, whichever comes first. Any two writes are at least `write_spacing` apart. A crash
loses at most the prompt records of that interval, and each of those follows a durable intent that makes the
next run look the resource up and adopt it.

Writes are group-committed: one write carries every change the workers made meanwhile, so eight workers do not
queue for eight writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from reconciler.observed import Generation, name_tail
from reconciler.state.backend import StateBackend
from reconciler.state.model import Lock, LockEntry

# What a later read of a recorded generation can teach the lock; the rest is only known from the lock. The
# phase is learned only when it leaves the active phases (queued -> running is no news for a committed file);
# what moves while a job trains (progress, loss, the API's raw state) is never learned: see `learned`.
LEARNED = ("phase", "model", "model_exists", "endpoints", "error", "live")


class Journal:
    def __init__(self, backend: StateBackend, lock: Lock, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.backend = backend
        self.lock = lock  # every update applied, stored or about to be
        self.spacing = backend.write_spacing
        self.prompt_within = max(self.spacing, backend.prompt_within)
        self._clock, self._sleep = clock, sleep
        self._state = threading.Lock()  # guards `lock`, the counters and `_writing`
        self._stored = threading.Condition(self._state)  # notified when a write ends, stored or failed
        self._writing = False  # one write at a time
        self._applied = self._written = 0
        self._last_write = -float("inf")

    def entry(self, name: str) -> LockEntry | None:
        return self.lock.entries.get(name)

    def update(self, name: str, change: Callable[[LockEntry | None], LockEntry | None], *,
               durable: bool = False) -> None:
        """Apply `change` to entry `name`; `durable`: return only once it is stored."""
        self.update_many({name: change}, durable=durable)

    def update_many(self, changes: dict[str, Callable[[LockEntry | None], LockEntry | None]], *,
                    durable: bool = False) -> None:
        def each(lock: Lock) -> Lock:
            for name, change in changes.items():
                before = lock.entries.get(name)
                after = change(before)
                if after != before:
                    lock = lock.with_entry(after) if after is not None else lock.without(name)
            return lock  # the very same value unless an entry changed: no need to compare whole locks
        self._apply(each, durable=durable, compare=False)

    def update_lock(self, change: Callable[[Lock], Lock], *, durable: bool = False) -> None:
        """Apply `change` to the whole lock (what is not one entry's: reviewed follow-ups, applied plans)."""
        self._apply(change, durable=durable, compare=True)

    def _apply(self, change: Callable[[Lock], Lock], *, durable: bool, compare: bool) -> None:
        """`compare`: whether `change` may return an equal lock that is another value (then nothing is written)."""
        with self._state:
            lock = change(self.lock)
            if lock is self.lock or (compare and lock == self.lock):
                return
            self.lock = lock
            self._applied += 1
            mine = self._applied
        if durable or self._clock() - self._last_write >= self.prompt_within:
            self._persist(mine)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()  # a run that ends, however it ends, leaves everything it learned stored

    def flush(self) -> None:
        """Store every update applied so far (the end of a run)."""
        with self._state:
            mine = self._applied
        self._persist(mine)

    def observe(self, generations: Iterable[Generation | None], *, store: bool = True) -> None:
        """Record what was learned about recorded generations (a job ended, its model and endpoints appeared):
        one write, and only when something a reader of the lock cares about changed. `store=False`: let the next
        write carry it (the intents a run declares next)."""
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
        if store and self._clock() - self._last_write >= self.prompt_within:
            self._persist(mine)

    def _persist(self, mine: int) -> None:
        """Return once update number `mine` is stored: carried by a write already under way or done, or else by a
        write this thread makes, carrying every update applied until it starts.

        Waiters wait for a stored count, not for the writer's seat: when a write ends every update it carried
        returns at once, and one waiter whose update it did not carry writes next. (Taking turns at one write lock
        made an update that a write had just carried wait behind the next write too, and an apply's 32 workers
        waited three writes for each record instead of one or two.)"""
        with self._stored:
            while self._written < mine:
                if not self._writing:
                    self._writing = True
                    break
                self._stored.wait()
            else:
                return  # a write that started after this change was applied already carried it
        try:
            self._write()
        finally:
            with self._stored:
                self._writing = False
                self._stored.notify_all()

    def _write(self) -> None:
        """One write of everything applied so far; only the thread that took `_writing` calls it."""
        wait = self._last_write + self.spacing - self._clock()
        if wait > 0:
            self._sleep(wait)  # changes keep arriving meanwhile: this write carries them too
        with self._state:
            snapshot, upto = self.lock, self._applied
        written = self.backend.write(snapshot)
        self._last_write = self._clock()
        with self._state:
            self.lock = replace(self.lock, serial=written.serial)
            self._written = upto


def learned(recorded: Generation, fresh: dict[str, Generation]) -> Generation:
    """`recorded` updated with a fresh observation of the same resource, keeping what only the lock knows.

    A job moving between active phases (queued -> running) teaches nothing: the lock, committed and reviewed,
    changes when the job ends (or its model, endpoints or error change), not while it trains. Volatile details
    (progress, loss, the raw state) are the watcher's, never the lock's."""
    seen = fresh.get(name_tail(recorded.key))
    if seen is None or seen.platform != recorded.platform:
        return recorded
    news = {f: getattr(seen, f) for f in LEARNED if getattr(seen, f) != getattr(recorded, f)}
    if recorded.active and seen.active:
        news.pop("phase", None)
    if not news:
        return recorded
    return replace(recorded, **news, create_time=recorded.create_time or seen.create_time,
                   intent=recorded.intent or seen.intent, operation=recorded.operation or seen.operation)
