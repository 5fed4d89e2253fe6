"""The local backend: `reconciler.lock` beside the manifests, replaced atomically with a backup of the previous
version in `.reconciler/reconciler.lock.backup` (a directory git ignores: the commit carries only the lock), and
guarded by a `flock` on `reconciler.lock.lock`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import LockfileError
from reconciler.state import atomic, codec, document, run_lock, sidecars
from reconciler.state.holder import Holder
from reconciler.state.model import FORMAT_VERSION, Lock
from reconciler.state.run_lock import Waiting


class LocalBackend:
    write_spacing = prompt_within = 0.0  # a local file: every update is written at once

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.backup = sidecars.backup_of(self.path)
        self.run_lock = sidecars.run_lock_of(self.path)
        self._encoder = codec.Encoder()
        # the file as this backend last read or wrote it: its bytes (in pieces, as written), lineage and serial
        self._known: tuple[bytes | list[bytes], str, int] | None = None
        self._written: tuple[int, ...] | None = None  # the identity of the file this backend last wrote (fsynced)

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> Lock | None:
        raw = self._read_bytes()
        if raw is None:
            return None
        lock = self._decode(raw)
        self._known = (raw, lock.lineage, lock.serial)
        return lock

    def _read_bytes(self) -> bytes | None:
        try:
            return atomic.read_regular(self.path)
        except OSError as err:
            raise LockfileError(f"cannot read {self.path}: {err.strerror or err}") from None

    def write(self, lock: Lock) -> Lock:
        """Atomically replace the file with `lock` at the next serial, keeping the previous one as the backup.

        Refuses to overwrite a lock that moved since `lock` was read, or one written by a newer reconciler.
        """
        written = dataclasses.replace(lock, version=FORMAT_VERSION, serial=lock.serial + 1)
        pieces = self._encoder.pieces(written)
        ours = self._written is not None and self._written == atomic.identity(self.path) and \
            self._known is not None and self._known[1:] == (lock.lineage, lock.serial)
        previous = None if ours else self._read_bytes()  # ours: the file is what this backend wrote, untouched
        if previous is not None and not self._is_known(previous, lock):
            self._check_unchanged(previous, lock)  # parsed only when it is not the file `lock` came from
        try:
            mode = atomic.mode_of(self.path)
            if ours or previous is not None:
                self._back_up(previous, mode)
            atomic.replace_atomically(self.path, pieces, mode)
        except OSError as err:
            raise LockfileError(f"cannot write {self.path}: {err.strerror or err}; "
                                "the previous version is intact") from None
        try:
            atomic.fsync_directory(self.path.parent)
        except OSError as err:
            raise LockfileError(f"wrote {self.path} but could not make it durable: {err.strerror or err}") from None
        self._known = (pieces, written.lineage, written.serial)
        self._written = atomic.identity(self.path)
        return written

    def _is_known(self, stored: bytes, lock: Lock) -> bool:
        """Whether `stored` is the file as this backend last read or wrote it, at `lock`'s lineage and serial."""
        if self._known is None or self._known[1:] != (lock.lineage, lock.serial):
            return False
        known = self._known[0]
        return (known if isinstance(known, bytes) else b"".join(known)) == stored

    def _back_up(self, previous: bytes | None, mode: int | None) -> None:
        """The previous version, durable before the lock is replaced: whenever the new lock is on disk, so is it.

        `previous` None: the file is the one this backend wrote, fsynced, so its bytes are durable already and
        the backup is a second name for them (a hard link; a copy where the filesystem has none). An apply
        writes the lock after every side effect, and copying a 2 MB lock and syncing it each time was half of
        each write."""
        directory = sidecars.ensure_private_dir(self.path)
        if previous is None and not atomic.link_atomically(self.path, self.backup):
            previous = self._read_bytes()
        if previous is not None:
            atomic.replace_atomically(self.backup, previous, mode)
        atomic.fsync_directory(directory)

    @contextmanager
    def lock(self, command: str, *, timeout: float = 0.0, waiting: Waiting | None = None) -> Iterator[Holder]:
        with run_lock.exclusive(self.run_lock, command, timeout=timeout, waiting=waiting) as holder:
            problem = sidecars.problem(self.path)  # before any side effect; the run lock itself is ours now
            if problem:
                raise LockfileError(problem)
            atomic.remove_stale_temps(self.path, self.backup)
            yield holder

    def _decode(self, raw: bytes) -> Lock:
        return document.decode(raw, str(self.path), self._recovery_advice(),
                               previous=f"version control or {self.backup}")

    def _recovery_advice(self) -> str:
        rebuild = "to rebuild ownership from live resources"
        if self.backup.exists():
            return f"restore {self.backup} or delete it {rebuild}"
        return f"delete it {rebuild} (there is no {self.backup})"

    def _check_unchanged(self, previous: bytes, lock: Lock) -> None:
        """The file is not what this backend last read or wrote: refuse it when it is a newer format or another
        lineage or serial than `lock` was derived from; a corrupt file may go (the backup keeps its bytes)."""
        version, lineage, serial = document.identity(previous)
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise document.newer(str(self.path), version)
        if version is None and lineage is None:
            return
        if (lineage, serial) != (lock.lineage, lock.serial):
            raise LockfileError(
                f"{self.path} changed since it was read (it is now serial {serial} of lineage {lineage}; "
                f"this run read serial {lock.serial} of lineage {lock.lineage}); another run or a checkout "
                f"replaced it: run the command again")

    def force_unlock(self, lock_id: str) -> Holder:
        """Remove the run lock recorded as `lock_id`, only when no live process holds it."""
        return run_lock.force_unlock(self.run_lock, lock_id)
