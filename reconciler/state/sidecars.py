"""The lock's sidecars, `<lock>.lock` (the run lock, beside the lock while a run holds it) and
`.reconciler/<lock>.backup` (the previous version, in a directory that ignores itself in git, as `.pytest_cache/`
does, so that a commit carries only the lock): the tool's own files. A name whose sidecar is a file the tool did
not write (a `Cargo.lock` for `lockFile: Cargo`) is refused, one rule for validate and for the backend; so is a
`.reconciler` that is not a real directory (a file, or a link: never followed)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from reconciler.state import atomic

SNIFF_BYTES = 4096  # a run record is one short line; a lock states its format in its head
PRIVATE_DIR = ".reconciler"  # beside the lock: the tool's own files, never committed
GITIGNORE = b"# Created by reconciler automatically: nothing here is committed.\n*\n"


def run_lock_of(lock: Path) -> Path:
    return lock.with_name(lock.name + ".lock")


def private_dir_of(lock: Path) -> Path:
    return lock.parent / PRIVATE_DIR


def backup_of(lock: Path) -> Path:
    return private_dir_of(lock) / (lock.name + ".backup")


def shown(sidecar: Path, lock: Path) -> str:
    """A sidecar as a message names it: relative to the lock's directory (`.reconciler/reconciler.lock.backup`)."""
    try:
        return str(sidecar.relative_to(lock.parent))
    except ValueError:
        return str(sidecar)


def run_record(data: bytes) -> bool:
    """Empty, or one line of JSON, possibly cut short by a kill mid-write (`{"command": ...`)."""
    body = data.removesuffix(b"\n")
    return not body or (body.startswith(b'{"') and b"\n" not in body and len(body) < SNIFF_BYTES)


def previous_lock(head: bytes) -> bool:
    """A lock as the codec writes it (sorted keys: `digestAlgorithm` first); only the head is read."""
    return head.lstrip().startswith(b"{") and (b'"digestAlgorithm"' in head or b'"lineage"' in head)


def problem(lock: Path) -> str:
    """Why the sidecars of `lock` cannot be used, or "". A backup beside an existing lock is the tool's own
    (it is written only as the lock is replaced, whatever the previous bytes were)."""
    found = private_dir_problem(lock)
    if found:
        return found
    backup_ours = (lambda head: True) if os.path.lexists(lock) else previous_lock
    for sidecar, ours in ((run_lock_of(lock), run_record), (backup_of(lock), backup_ours)):
        try:
            mode = os.lstat(sidecar).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            return f"{shown(sidecar, lock)} (the lock's sidecar) {atomic.kind(mode)}; only regular files are written"
        try:
            head = atomic.read_regular(sidecar, SNIFF_BYTES) or b""
        except OSError:
            continue  # reported when the lock is used
        if not ours(head):
            return (f"{shown(sidecar, lock)} exists and was not written by reconciler; the lock's run lock and "
                    f"backup are <lockFile>.lock and {PRIVATE_DIR}/<lockFile>.backup: move it away, or choose a "
                    "lockFile whose sidecars are free")
    return ""


def private_dir_problem(lock: Path) -> str:
    """Why `.reconciler` beside `lock` cannot hold the backup, or "" (a real directory, or none yet)."""
    directory = private_dir_of(lock)
    try:
        mode = os.lstat(directory).st_mode
    except OSError:
        return ""
    if stat.S_ISDIR(mode):
        return ""
    return (f"{shown(directory, lock)} (where reconciler keeps the lock's backup) {atomic.kind(mode)}; it must be "
            "a directory (links are never followed): move it away")


def ensure_private_dir(lock: Path) -> Path:
    """`.reconciler/` beside `lock`, a real directory, created with a `.gitignore` of `*` when it has none (an
    existing `.gitignore` is left as it is). Raises OSError when it cannot be, or is a file or a link."""
    directory = private_dir_of(lock)
    try:
        os.mkdir(directory)
    except FileExistsError:
        pass
    found = private_dir_problem(lock)
    if found:
        raise OSError(errno.ENOTDIR, found)
    ignore = directory / ".gitignore"
    if not os.path.lexists(ignore):
        _create(ignore, GITIGNORE)
    return directory


def _create(target: Path, data: bytes) -> None:
    """Write `target` whole or not at all, never replacing what is there (a temp file, fsynced, then linked)."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temp, target)
        except FileExistsError:
            pass  # somebody else's, or an earlier run's: left as it is
    finally:
        temp.unlink(missing_ok=True)
