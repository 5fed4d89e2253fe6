"""In-memory state of the emulated APIs, persisted as one JSON document after every mutation.

The document is written atomically (temporary file in the same directory, fsync, os.replace) so that
a crash at any instant leaves either the previous or the new state on disk, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from typing import Any

from .limits import MAX_CLOCK_OFFSET, bounded
from .rpc import not_found

FORMAT = 1
COLLECTIONS = ("tuningJobs", "models", "endpoints", "operations",       # Vertex AI
               "tunedModels", "geminiOperations", "permissions",         # Gemini API
               "gcsBuckets", "gcsObjects")                               # Cloud Storage


def empty_state() -> dict[str, Any]:
    state: dict[str, Any] = {"format": FORMAT, "clockOffset": 0.0, "seq": 0,
                             "gcsGeneration": 0}    # the last Cloud Storage object generation handed out
    for name in COLLECTIONS:
        state[name] = {}
    return state


class Store:
    """One lock guards everything; API handlers run under it, so each call sees a consistent state."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.state = empty_state()
        self.dirty = False
        self.generation = 0            # bumped on every mutation; caches key on it
        self.next_due = float("inf")   # virtual time of the next scheduled state change (see settle)
        self._memo: dict[Any, Any] = {}
        self._memo_key: tuple[int, int] | None = None

    def require(self, collection: str, name: str, what: str) -> dict[str, Any]:
        """The record `name` of `collection`, or the API's 404 naming `what`."""
        record = self[collection].get(name)
        if record is None:
            raise not_found(what, name)
        return record

    def __getitem__(self, collection: str) -> dict[str, Any]:
        return self.state[collection]

    def next_seq(self) -> int:
        self.state["seq"] += 1
        return self.state["seq"]

    def changed(self) -> None:
        self.dirty = True
        self.generation += 1

    def memo(self) -> dict[Any, Any]:
        """Scratch space for what is derived from the state alone (list selections, rendered views), valid
        until it changes: a new, empty dict after any mutation (`changed`) or another state (load, reset).
        Callers hold the lock; what depends on the virtual clock too must not be kept here."""
        key = (self.generation, id(self.state))
        if self._memo_key != key:
            self._memo, self._memo_key = {}, key
        return self._memo

    def load(self) -> bool:
        """Load the state file if it exists. Returns True when something was loaded."""
        if not self.path or not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return False
        with open(self.path, encoding="utf-8") as handle:
            try:
                loaded = json.load(handle)
            except ValueError as err:
                raise ValueError(f"{self.path}: not an emulator state file (invalid JSON: {err})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{self.path}: not an emulator state file (not a JSON object)")
        if loaded.get("format") != FORMAT:
            raise ValueError(f"{self.path}: unsupported emulator state format {loaded.get('format')!r}")
        state = empty_state()
        state.update(loaded)
        try:   # a clock pushed to NaN or 1e308 by an older emulator would break every later call
            state["clockOffset"] = bounded("clockOffset", state["clockOffset"], 0, MAX_CLOCK_OFFSET)
            bounded("seq", state["seq"], 0, 2**53, integer=True)
            state["gcsGeneration"] = bounded("gcsGeneration", state["gcsGeneration"], 0, 2**63 - 1, integer=True)
        except ValueError as err:
            raise ValueError(f"{self.path}: corrupt emulator state: {err}") from None
        broken = [name for name in COLLECTIONS if not isinstance(state[name], dict)]
        if broken:
            raise ValueError(f"{self.path}: corrupt emulator state: {broken[0]} is not a JSON object")
        self.state = state
        return True

    def reset(self) -> None:
        with self.lock:
            self.state = empty_state()
            self.changed()

    def save(self, clock_offset: float) -> None:
        with self.lock:
            self.state["clockOffset"] = clock_offset
            self.dirty = False
            if not self.path:
                return
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".emulator-state.", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(self.state, handle, separators=(",", ":"))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise
