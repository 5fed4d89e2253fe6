"""The emulated service behind both HTTP surfaces: the store, the virtual clock, both APIs (and Cloud Storage), the fault rules and
the request log, and the state upkeep every call goes through. Knows nothing about HTTP or routing; `app.py`
(API calls) and `admin.py` (the admin surface) both drive it."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .auth import Auth
from .catalogue import Catalogue
from .clock import Clock
from .faults import Faults
from .gemini import Gemini
from .storage import Storage
from .store import Store
from .vertex import Vertex


class Service:
    def __init__(self, *, state_file: str | None, job_duration: float, owner_email: str, fault_seed: int,
                 log_limit: int, operation_duration: float = 0.0, gemini_tunable: str = "seeds",
                 token_lifetime: float | None = None) -> None:
        self.clock = Clock()
        self.store = Store(state_file)
        if self.store.load():
            self.clock.reset(self.store.state.get("clockOffset", 0.0))
        self.auth = Auth(token_lifetime)           # bearer tokens, their lifetime, the token endpoint
        self.catalogue = Catalogue(gemini_tunable)
        self.vertex = Vertex(self.store, job_duration, operation_duration)
        self.gemini = Gemini(self.store, job_duration, owner_email, self.catalogue)
        self.storage = Storage(self.store)
        self.faults = Faults(fault_seed)
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._log_lock = threading.Lock()
        self.recompute_due()

    # ------------------------------------------------------------------ calls
    @contextmanager
    def transaction(self, *, settle_all: bool = False) -> Iterator[float]:
        """Hold the store lock at virtual time `now` (yielded), with whatever fell due settled first (with
        `settle_all`, settle unconditionally); persist what changed afterwards, even when the call fails."""
        with self.store.lock:
            now = self.clock.now()
            if settle_all or now >= self.store.next_due:
                self.settle(now)
            try:
                yield now
            finally:
                self.commit()

    def advance(self, seconds: float) -> float:
        with self.store.lock:
            self.clock.advance(seconds)
            self.settle(self.clock.now())
            self.store.save(self.clock.offset)    # the clock offset is part of the persisted state
        return self.clock.offset

    def add_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        if seed is not None:
            self.faults.reseed(seed)
        return self.faults.add(rules)

    def reset(self) -> None:
        with self.store.lock:
            self.store.reset()
            self.clock.reset(0.0)
            self.recompute_due()
            self.store.save(self.clock.offset)
        self.clear_requests()
        self.auth.reset()
        self.faults.clear()
        self.faults.reseed(self.faults.seed)

    # ------------------------------------------------------------------ the request log (API calls only)
    def record(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self._log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    # ------------------------------------------------------------------ state upkeep (callers hold store.lock)
    def settle(self, now: float) -> None:
        self.vertex.settle(now)
        self.gemini.settle(now)
        self.recompute_due()

    def recompute_due(self) -> None:
        self.store.next_due = min(self.vertex.due_times() + self.gemini.due_times(), default=float("inf"))

    def commit(self) -> None:
        if self.store.dirty:
            self.recompute_due()
            self.store.save(self.clock.offset)
