"""Where the lock lives. A backend reads it, writes it only if nobody else did meanwhile, and holds the run
lock that keeps two applies apart.

The write is a compare-and-swap on (lineage, serial): a local file compares what is on disk; a remote
object store compares object generations (`ifGenerationMatch`), so the same contract holds across machines.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from reconciler.state.holder import Holder
from reconciler.state.model import Lock
from reconciler.state.run_lock import Waiting


class StateBackend(Protocol):
    write_spacing: float  # seconds between two writes, at least (a bucket takes about one a second per object)
    prompt_within: float  # seconds what a side effect did may wait for the next write (intents never wait)

    @property
    def location(self) -> str:
        """Where the state is, for messages: a path or a URL."""

    def read(self) -> Lock | None:
        """The stored lock, or None when there is none yet. Raises LockfileError when it is unusable."""

    def write(self, lock: Lock) -> Lock:
        """Store `lock` at the next serial and return it as written, but only if the stored lock is still the
        one `lock` was derived from (same lineage and serial); otherwise raise LockfileError and store nothing."""

    def lock(self, command: str, *, timeout: float = 0.0,
             waiting: Waiting | None = None) -> AbstractContextManager[Holder]:
        """Hold the run lock for the block. When another run has it, wait up to `timeout` seconds (telling
        `waiting` who and how long is left), then raise StateLockedError naming the holder and its lock ID."""

    def force_unlock(self, lock_id: str) -> Holder:
        """Remove the run lock only if it is `lock_id` (and its holder is gone); the holder removed."""
