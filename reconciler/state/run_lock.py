"""The run lock: an advisory `flock` on a file beside the state, which also records who holds it.

Two applies on one machine cannot interleave; a lock left by a process that died is taken over and reported.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import LockfileError, StateLockedError
from reconciler.state import atomic, sidecars
from reconciler.state.holder import Holder

Waiting = Callable[[Holder | None, float], None]  # told who holds the lock and how many seconds are left
RETRY_EVERY = 0.5


@contextmanager
def exclusive(lock_path: Path, command: str, *, timeout: float = 0.0, waiting: Waiting | None = None,
              clock: Callable[[], float] = time.monotonic) -> Iterator[Holder]:
    """Hold the run lock at `lock_path` for the duration of the block.

    Another live process holding it: wait up to `timeout` seconds (telling `waiting`), then raise
    StateLockedError naming the holder. A lock left behind by a process that died is taken over, and reported
    as `Holder.previous`.
    """
    deadline = clock() + timeout
    while True:
        try:
            fd, previous = _acquire(lock_path)
            break
        except StateLockedError as err:
            left = deadline - clock()
            if left <= 0:
                raise
            if waiting is not None:
                waiting(err.holder, left)
            time.sleep(min(RETRY_EVERY, left))
    try:
        holder = Holder.me(command, previous=previous)
        try:
            _record(fd, holder)
        except OSError as err:
            raise LockfileError(f"cannot record this run in {lock_path}: {err.strerror}") from None
        yield holder
    finally:
        _release(fd, lock_path)


def _acquire(lock_path: Path) -> tuple[int, Holder | None]:
    while True:
        try:
            fd = atomic.open_regular(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise LockfileError(f"cannot create {lock_path}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _wait_for_record(fd)
            os.close(fd)
            raise _locked(holder, lock_path) from None
        except OSError as err:
            os.close(fd)
            raise LockfileError(f"cannot lock {lock_path}: {err.strerror}") from None
        if _is_same_file(fd, lock_path):
            text = _contents(fd)
            holder = Holder.from_text(text)
            if holder is None and not sidecars.run_record(text.encode()):
                os.close(fd)  # never truncated, written or removed: somebody else's file
                raise LockfileError(f"{lock_path} exists and was not created by reconciler (it holds no run "
                                    "record); refusing to use it as the run lock: move it away, or set another "
                                    "lockFile in reconciler.yaml")
            return fd, holder
        os.close(fd)  # a releasing holder removed this file between our open and our flock: start over


def _locked(holder: Holder | None, lock_path: Path) -> StateLockedError:
    who = holder.describe() if holder else "another process (which has not recorded who it is yet)"
    err = StateLockedError(f"state is locked by {who}; wait for it to finish (--lock-timeout waits for it), "
                           f"or if that process is gone remove {lock_path}")
    err.holder = holder
    return err


def _wait_for_record(fd: int, attempts: int = 20) -> Holder | None:
    """A holder writes its record just after acquiring: give it a moment before reporting it unknown."""
    for _ in range(attempts):
        holder = Holder.from_text(_contents(fd))
        if holder:
            return holder
        time.sleep(0.025)
    return None


def _contents(fd: int) -> str:
    return os.pread(fd, 65536, 0).decode("utf-8", errors="replace")


def _record(fd: int, holder: Holder) -> None:
    data = holder.text()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _is_same_file(fd: int, path: Path) -> bool:
    try:
        on_path = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_path.st_dev, on_path.st_ino)


def _release(fd: int, lock_path: Path) -> None:
    """Remove the file while still holding it (waiters then retry on a fresh file), then unlock."""
    try:
        if _is_same_file(fd, lock_path):
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def force_unlock(lock_path: Path, lock_id: str) -> Holder:
    """Remove the run lock recorded as `lock_id`; refused when the ID differs or a live process holds it
    (removing the file would not stop that process). Returns the holder removed."""
    try:
        fd = atomic.open_regular(lock_path, os.O_RDWR)
    except FileNotFoundError:
        raise LockfileError(f"no run lock at {lock_path}: nothing to unlock") from None
    except OSError as err:
        raise LockfileError(f"cannot open {lock_path}: {err.strerror}") from None
    try:
        holder = Holder.from_text(_contents(fd))
        if holder is None or holder.lock_id != lock_id:
            recorded = f"lock ID {holder.lock_id}" if holder and holder.lock_id else "no lock ID"
            raise LockfileError(f"{lock_path} records {recorded}, not {lock_id}; nothing was unlocked")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockfileError(f"lock {lock_id} is held by a live process ({holder.describe()}); stop that "
                                "process instead: removing the lock would not stop it") from None
        if _is_same_file(fd, lock_path):
            lock_path.unlink(missing_ok=True)
        return holder
    finally:
        os.close(fd)
