"""Moving the lock between backends (`reconciler state push` / `state pull`): the same lineage and entries,
written under both backends' run locks into a target that holds no state yet, so nothing is ever overwritten."""

from __future__ import annotations

from reconciler.errors import LockfileError
from reconciler.state.backend import StateBackend
from reconciler.state.model import Lock


def move(source: StateBackend, target: StateBackend, command: str) -> Lock:
    """Copy the lock of `source` into `target` (which must be empty, or hold this very lock already); the lock
    as written there. `source` is left as it was: the caller says what to do with it."""
    with source.lock(command), target.lock(command):
        lock = source.read()
        if lock is None:
            raise LockfileError(f"{source.location} holds no state: nothing to move")
        existing = target.read()
        if existing is not None:
            if existing.lineage == lock.lineage and existing.entries == lock.entries:
                return existing  # moved already (a rerun after an interruption)
            raise LockfileError(
                f"{target.location} already holds state (lineage {existing.lineage}, serial {existing.serial}; "
                f"{source.location} is lineage {lock.lineage}, serial {lock.serial}); refusing to overwrite it. "
                "Move it away first if it is really not needed")
        return target.write(lock)
