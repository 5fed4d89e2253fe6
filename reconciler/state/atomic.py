"""Durable file replacement and safe reads: a crash at any moment leaves either the old file or the new one,
never half; only regular files are read or replaced, never through a symbolic link, and never a FIFO (which
would block the open)."""

from __future__ import annotations

import errno
import os
import re
import stat
import uuid
from collections.abc import Sequence
from pathlib import Path


class UnsafePath(OSError):
    """A path the tool refuses to read or replace: a symbolic link, a directory, a FIFO, a device."""

    def __init__(self, path: Path | str, what: str):
        super().__init__(errno.EINVAL, what[0].upper() + what[1:] + ("" if "directory" in what else
                                                                     ", not a regular file"), str(path))


def kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link (never followed)"
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a FIFO"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return "is a device or special file" if not stat.S_ISREG(mode) else "is a regular file"


def check_replaceable(path: Path) -> bool:
    """Whether `path` exists; raises UnsafePath when it exists but is not a regular file (links not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise UnsafePath(path, kind(mode))
    return True


def open_regular(path: Path, flags: int, create_mode: int = 0o644, *, follow_symlinks: bool = False) -> int:
    """os.open without following a final symlink (unless asked) and without blocking on a FIFO; the descriptor
    is checked to be a regular file (fstat), else it is closed and UnsafePath raised."""
    nofollow = 0 if follow_symlinks else os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | nofollow | os.O_NONBLOCK | os.O_CLOEXEC, create_mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(path, kind(stat.S_IFLNK)) from None
        if err.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO without a reader; a directory
            raise UnsafePath(path, kind(os.lstat(path).st_mode)) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafePath(path, kind(mode))
    os.set_blocking(fd, True)
    return fd


def read_regular(path: Path, limit: int | None = None, *, follow_symlinks: bool = False) -> bytes | None:
    """The bytes of regular file `path` (at most `limit` + 1 when given), or None when it does not exist."""
    try:
        fd = open_regular(path, os.O_RDONLY, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return None
    try:
        return _read_all(fd, None if limit is None else limit + 1)
    finally:
        os.close(fd)


def _read_all(fd: int, cap: int | None) -> bytes:
    """Up to `cap` bytes (None: all) from `fd`, read by the size the file has (then in 64 KiB steps, should it
    grow meanwhile): a buffered read of `cap` bytes allocates them all, which made reading 10,000 small manifests
    four times slower."""
    chunks, size, expected = [], 0, os.fstat(fd).st_size + 1
    while cap is None or size < cap:
        step = expected - size if size < expected else 64 * 1024
        chunk = os.read(fd, step if cap is None else min(step, cap - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def mode_of(path: Path) -> int | None:
    try:
        return os.lstat(path).st_mode & 0o777
    except FileNotFoundError:
        return None


def replace_atomically(target: Path, data: bytes | Sequence[bytes], mode: int | None) -> None:
    """Write `data` (bytes, or pieces of them in order) to a hidden temp file beside `target`, fsync it, then
    rename it over `target`.

    `target` must be absent or a regular file (UnsafePath otherwise): a symlink is replaced, never followed."""
    check_replaceable(target)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)  # umask applies
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            write_all(fd, [data] if isinstance(data, bytes) else data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


IOV_MAX = 1024  # pieces per writev: POSIX guarantees at least 16; Linux, macOS and the BSDs take 1024


def write_all(fd: int, pieces: Sequence[bytes]) -> None:
    """Write `pieces` in order, whatever short writes leave. A lock is written as its entries' cached bytes
    (`codec.Encoder.pieces`): gathered by the kernel (writev, POSIX, as the run lock's flock) instead of joined
    into one 2 MB copy at each write."""
    pending = [piece for piece in pieces if piece]
    start = 0
    while start < len(pending):
        written = os.writev(fd, pending[start:start + IOV_MAX])
        while start < len(pending) and written >= len(pending[start]):
            written -= len(pending[start])
            start += 1
        if written:  # a short write ended inside this piece
            pending[start] = pending[start][written:]


def identity(path: Path) -> tuple[int, ...] | None:
    """Device, inode, mode, size, mtime and ctime of `path` (links not followed), None when it does not exist:
    replacing the file, writing to it or linking it changes them. A check that nobody touched a file, not a
    checksum."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino, found.st_mode, found.st_size, found.st_mtime_ns, found.st_ctime_ns


LINKS_WITHOUT_FOLLOWING = os.link in os.supports_follow_symlinks  # a link to a symlink itself, never to its target


def link_atomically(source: Path, target: Path) -> bool:
    """Make `target` another name for the regular file `source` (a hard link, through a temp name and a rename,
    so `target` is always whole); False, with nothing changed, where the filesystem cannot link. Durable once
    the caller syncs `target`'s directory (the bytes are `source`'s: the caller knows they are durable)."""
    check_replaceable(target)
    if not LINKS_WITHOUT_FOLLOWING:
        return False
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        os.link(source, temp, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            return False
        raise
    try:
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return True


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(*targets: Path) -> None:
    """Temp files left by a writer that died mid-write; only the holder of the run lock may call this."""
    for target in targets:
        ours = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{12}}\.tmp")
        try:
            for temp in target.parent.iterdir():
                if ours.fullmatch(temp.name) and stat.S_ISREG(os.lstat(temp).st_mode):
                    temp.unlink(missing_ok=True)
        except OSError:
            pass  # best effort: a leftover temp file is litter, never state
