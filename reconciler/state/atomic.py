"""Durable file replacement: a crash at any moment leaves either the old file or the new one, never half."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def mode_of(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def replace_atomically(target: Path, data: bytes, mode: int | None) -> None:
    """Write `data` to a hidden temp file beside `target`, fsync it, then rename it over `target`."""
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(*targets: Path) -> None:
    """Temp files left by a writer that died mid-write; only the holder of the run lock may call this."""
    for target in targets:
        prefix = f".{target.name}."
        try:
            for temp in target.parent.iterdir():
                if temp.name.startswith(prefix) and temp.name.endswith(".tmp"):
                    temp.unlink(missing_ok=True)
        except OSError:
            pass  # best effort: a leftover temp file is litter, never state
