"""Which manifest root a path belongs to, and which of the root's manifests it selects.

A command may be given the root, a directory under it or a single file. The root is the nearest directory,
from the path upward, that holds a `reconciler.yaml`; the search stops at the filesystem root and at the top of
a repository (a directory holding `.git`, which is still searched). Its defaults, state and identity apply, and
the path selects the manifests under it. Without a `reconciler.yaml` the path itself is the root (as it always
was), unless a directory above it holds a lock: that directory was used as a root, and planning the path with a
lock of its own could adopt or train what that lock records, so it is refused, naming that directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest.files import CONFIG_FILE


@dataclass(frozen=True)
class Root:
    directory: Path  # the manifest root, as shown (relative when the path given was)
    path: Path  # what was given: the root, a directory or a file under it
    marker: str  # why this is the root: "reconciler.yaml", or "" (the path given, no reconciler.yaml anywhere up)
    # lock files between the path and the root, which a run on the path as a root of its own once wrote
    strays: tuple[Path, ...] = ()

    @property
    def partial(self) -> bool:
        """Whether the path selects part of a root with a reconciler.yaml (a sub-directory or a file of it)."""
        return bool(self.marker) and _absolute(self.path) != _absolute(self.directory)

    @property
    def read(self) -> Path:
        """What is read: the whole root; without a reconciler.yaml, the path given (a file is read alone, as
        always: its directory is its root only for the lock)."""
        return self.directory if self.marker else self.path

    def covers(self, file: str | Path) -> bool:
        """Whether `file` is the path given or under it."""
        given, absolute = _absolute(self.path), _absolute(file)
        return absolute == given or absolute.startswith(given.rstrip(os.sep) + os.sep)


def find(path: Path) -> Root:
    """The root `path` belongs to; ManifestError when it cannot be decided safely."""
    if path.name == CONFIG_FILE and path.is_file():
        path = path.parent  # `validate manifests/reconciler.yaml`: the root itself
    start = path if path.is_dir() else path.parent
    passed: list[Path] = []
    for directory in _upward(start):
        if os.path.lexists(directory / CONFIG_FILE):
            strays = tuple(Path(os.path.relpath(d / n)) if not start.is_absolute() else d / n
                           for d in passed for n in _locks(d))
            return Root(_shown(start, directory), path, CONFIG_FILE, strays)
        passed.append(directory)
    above = _upward(start)[1:] if not _locks(_absolute_path(start)) else []  # a lock here: this was its root
    for directory in above:
        locks = _locks(directory)
        if locks:
            raise ManifestError([Diagnostic(str(path), 0, 0, _refusal(start, directory, locks[0]))])
    return Root(start, path, "")


def _refusal(start: Path, directory: Path, lock: str) -> str:
    root = _shown(start, directory)
    return (f"refusing to use {start} as a manifest root: it has no {CONFIG_FILE}, and {root}{os.sep} above it "
            f"holds the lock {root / lock}, so {root}{os.sep} is the root these manifests belong to. Run on "
            f"{root}{os.sep} (or on this path once {root / CONFIG_FILE} exists: then it selects the manifests "
            "under this path, with that root's lock)")


def _upward(start: Path) -> list[Path]:
    """`start` and its parents, absolute, up to the filesystem root or the first that holds `.git`."""
    found = []
    for directory in (_absolute_path(start), *_absolute_path(start).parents):
        found.append(directory)
        if os.path.lexists(directory / ".git"):
            break
    return found


def _locks(directory: Path) -> list[str]:
    """The reconciler lock files in `directory` (`reconciler.lock`, `reconciler.WORKSPACE.lock`)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith("reconciler.") and n.endswith(".lock")
                  and os.path.isfile(directory / n))


def _shown(start: Path, directory: Path) -> Path:
    """`directory` as the user would write it: relative when `start` was."""
    if start.is_absolute() or directory == _absolute_path(start):
        return start if directory == _absolute_path(start) else directory
    return Path(os.path.relpath(directory))


def _absolute_path(path: Path) -> Path:
    return Path(_absolute(path))


def _absolute(path: str | Path) -> str:
    return os.path.abspath(path)
