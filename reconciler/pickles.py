"""Pickles kept between runs in the user's cache directory (the manifest cache, decoded locks): what is slow to
work out again and a pure function of bytes that are read anyway, keyed by them.

A pickle runs code when it is loaded, so it never lives in the repository, where a pull request could plant one:
$RECONCILER_CACHE_DIR, else $XDG_CACHE_HOME/reconciler, else ~/.cache/reconciler. It is loaded only when it and
its directory belong to this user and nobody else may write them. Failing to read or write one is never an
error (a read-only home, a full disk, a race with another run): the run works it out again.
RECONCILER_CACHE=off turns them all off. Each value is stored with `code()`: what made it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import collector

SWITCH = "RECONCILER_CACHE"  # "off": no cache
DIRECTORY = "RECONCILER_CACHE_DIR"


def directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the pickles are; None when they are turned off or there is no home to keep them in."""
    if environ.get(SWITCH, "").lower() in ("off", "0", "false", "no"):
        return None
    if environ.get(DIRECTORY):
        return Path(environ[DIRECTORY])
    base = environ.get("XDG_CACHE_HOME") or (os.path.join(environ["HOME"], ".cache") if environ.get("HOME") else "")
    return Path(base, "reconciler") if os.path.isabs(base) else None


@dataclass(frozen=True)
class Kind:
    """Pickles of one kind (the manifests of a root, its reconciler.yaml, a decoded lock): one file per key, named
    by its digest; the `keep` used last are kept."""

    prefix: str
    keep: int

    def file(self, key: str, environ: Mapping[str, str] = os.environ) -> Path | None:
        """Where the value of `key` is kept; None when pickles are off."""
        found = directory(environ)
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return found / f"{self.prefix}{digest}.pickle" if found is not None else None

    def store(self, file: Path, value: Any) -> None:
        """`save`, then the oldest of the kind beyond `keep` removed."""
        if save(file, value):
            prune(file.parent, self.prefix, self.keep)


def load(file: Path) -> Any:
    """What `file` holds, when it and its directory are this user's own and nobody else may write them
    (unpickling what another user could write would run their code); None otherwise, or when it is broken."""
    try:
        if not _private(os.stat(file.parent, follow_symlinks=False)):
            return None
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb") as source:
            if not (_private(os.fstat(source.fileno())) and stat.S_ISREG(os.fstat(source.fileno()).st_mode)):
                return None
            # read whole: unpickling a file reads it 64 KB at a time, and each read gives the interpreter lock to
            # another thread and waits to get it back (the listings' memos load side by side, in threads)
            data = source.read()
        with collector.paused():  # a cache's value is many small objects at once
            return pickle.loads(data)
    except Exception:  # a truncated or foreign file: nothing kept, whatever unpickling raised
        return None


def save(file: Path, value: Any) -> bool:
    """Store `value` in `file` atomically (a mode-0600 temporary file renamed over it: a concurrent run reads the
    old value or this one, whole); False when it could not be."""
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=file.parent, prefix=".tmp-")
    except OSError:
        return False
    try:
        with os.fdopen(descriptor, "wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, file)
    except (OSError, pickle.PicklingError, RecursionError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    return True


def touch(file: Path) -> None:
    """Mark `file` used (the last of its kind to be pruned)."""
    with contextlib.suppress(OSError):
        os.utime(file)


def prune(directory: Path, prefix: str, keep: int) -> None:
    """Keep the `keep` files named `prefix`* used last (a root in a temporary directory must not leave its
    pickles behind for ever), and remove the temporary files of runs killed while writing."""
    with contextlib.suppress(OSError):
        entries = [(entry.name, entry.stat(follow_symlinks=False).st_mtime, entry.path) for entry in os.scandir(directory)]
        kept = sorted((mtime, path) for name, mtime, path in entries if name.startswith(prefix))
        abandoned = [path for name, mtime, path in entries if name.startswith(".tmp-") and mtime < time.time() - 3600]
        for path in [path for _, path in kept[:-keep]] + abandoned:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _private(status: os.stat_result) -> bool:
    owner = getattr(os, "getuid", lambda: status.st_uid)()
    return status.st_uid == owner and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


_CODE: str | None = None


def code() -> str:
    """What made a value: this package's modules (path, size, modification time), Python's version and pydantic's
    files. Any change to reconciler or pydantic makes every pickle a miss."""
    global _CODE
    if _CODE is None:
        import importlib.util

        package = Path(__file__).resolve().parent
        digest = hashlib.sha256(f"{sys.version}|{package}".encode())
        # pydantic by its version file, not imported: status and wait use pickles and import no pydantic
        found = importlib.util.find_spec("pydantic")
        for name in ("version.py", "__init__.py"):
            with contextlib.suppress(OSError, TypeError):
                status = os.stat(Path(found.origin).parent / name)
                digest.update(f"pydantic/{name}:{status.st_size}:{status.st_mtime_ns}\n".encode())
        for directory_, subdirs, files in os.walk(package):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                status = os.stat(os.path.join(directory_, name))
                digest.update(f"{directory_}/{name}:{status.st_size}:{status.st_mtime_ns}\n".encode())
        _CODE = digest.hexdigest()
    return _CODE
