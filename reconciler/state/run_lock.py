"""The run lock: an advisory `flock` on a file beside the state, which also records who holds it.

Two applies on one machine cannot interleave; a lock left by a process that died is taken over and reported.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import LockfileError, StateLockedError
from reconciler.state import atomic, sidecars
from reconciler.state.model import utc_now


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the run lock."""

    pid: int
    host: str
    command: str
    started: str
    previous: Holder | None = None  # a holder that died without releasing the lock, taken over by this one

    def to_json(self) -> dict:
        return {"pid": self.pid, "host": self.host, "command": self.command, "started": self.started}

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        """The holder recorded in a lock file, or None when the record is missing or unreadable."""
        try:
            data = json.loads(text)
            holder = cls(pid=data["pid"], host=data["host"], command=data["command"], started=data["started"])
        except (ValueError, TypeError, KeyError):
            return None
        valid = (isinstance(holder.pid, int) and all(isinstance(v, str) for v in
                                                     (holder.host, holder.command, holder.started)))
        return holder if valid else None

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} ({self.command}, started {self.started})"


@contextmanager
def exclusive(lock_path: Path, command: str) -> Iterator[Holder]:
    """Hold the run lock at `lock_path` for the duration of the block.

    Raises StateLockedError naming the holder when another live process has it. A lock left behind by
    a process that died is taken over, and reported as `Holder.previous`.
    """
    fd, previous = _acquire(lock_path)
    try:
        holder = Holder(pid=os.getpid(), host=socket.gethostname(), command=command, started=utc_now(),
                        previous=previous)
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
    err = StateLockedError(f"state is locked by {who}; wait for it to finish, or if that process is gone "
                           f"remove {lock_path}")
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
    data = (json.dumps(holder.to_json(), sort_keys=True) + "\n").encode()
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
