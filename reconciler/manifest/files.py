"""Finding manifest files under a path and reading files safely: inside the manifest root (symlinks
resolved), bounded in size, UTF-8."""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from reconciler.manifest.diagnostics import Diagnostics
from reconciler.state import atomic, sidecars

CONFIG_FILE = "reconciler.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024


def manifest_files(path: Path, root: Path, diagnostics: Diagnostics) -> Iterator[tuple[str, str, bool]]:
    """(file, path as shown, plain) of `path` itself, or of every *.yaml / *.yml below it but reconciler.yaml,
    skipping hidden files and directories, in sorted order: a directory's files, then its sub-directories
    (symlinked ones are not entered, as `os.walk` does not; a symlinked file is listed, and read_text checks where it
    leads). One scandir per directory and string work per name: a file is its path as a string, as the walk
    joined it (a Path made for each of 10,000 files was a fifth of loading them from the cache).
    `plain`: the walk found no symlink there, under a directory inside `root`, so the file is inside it too
    (`read_text` then opens it without following links instead of resolving where it is)."""
    if not path.is_dir():
        yield str(path), str(path), False
        return
    found, walked_inside = False, inside(path, root)  # sub-directories are entered only when they are no links
    walked, parent = "", ""
    for directory, name, link in _walk(str(path)):
        if name.endswith((".yaml", ".yml")) and not name.startswith("."):
            if directory != walked:  # spelled as pathlib spells it: `.` stays out, `./sub` is `sub`
                walked, parent = directory, str(Path(directory))
            if name == CONFIG_FILE and Path(parent) == root:
                continue
            found = True
            file = name if parent == "." else os.path.join(parent, name)
            yield file, file, walked_inside and not link
    if not found:
        diagnostics.add(str(path), 0, 0, "no manifests (*.yaml, *.yml) found", "warning")


def _walk(directory: str) -> Iterator[tuple[str, str, bool]]:
    """(directory, name, is a symlink) of every file under `directory` that is not a directory, top-down and
    sorted; an unreadable directory is skipped, as by os.walk."""
    try:
        with os.scandir(directory) as found:
            entries = sorted(found, key=lambda entry: entry.name)
    except OSError:
        return
    subdirs = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            yield directory, entry.name, entry.is_symlink()
        elif not entry.name.startswith(".") and not entry.is_symlink():
            subdirs.append(entry.path)
    for subdir in subdirs:
        yield from _walk(subdir)


def read_text(file: str | Path, shown: str, limit: int, root: Path, diagnostics: Diagnostics, *,
              plain: bool = False) -> str | None:
    """The file's text; None when it is outside `root`, unreadable, over `limit` bytes or not UTF-8 (reported).
    `plain`: found by `manifest_files` as no symlink under a directory inside `root`, so read without resolving
    where it is, and without following a link (one made since the walk is checked as any other)."""
    try:
        data = _read_plain(file, limit) if plain else None
        if data is None:
            if not inside(file, root):
                diagnostics.add(shown, 0, 0, f"resolves outside the manifest root {root}")
                return None
            data = atomic.read_regular(file, limit, follow_symlinks=True)
        if data is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    except atomic.UnsafePath:
        diagnostics.add(shown, 0, 0, f"{atomic.kind(os.stat(file).st_mode)}; only regular files are read")
        return None
    except OSError as err:
        diagnostics.add(shown, 0, 0, f"cannot read: {err.strerror or err}")
        return None
    if len(data) > limit:
        diagnostics.add(shown, 1, 1, f"file is larger than {limit // 1024} KiB; refusing to read it")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        diagnostics.add(shown, line, col, f"not valid UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8")
        return None


def _read_plain(file: str | Path, limit: int) -> bytes | None:
    """The bytes of a file the walk found as no link, not following one; None for anything else now."""
    try:
        return atomic.read_regular(file, limit)
    except (atomic.UnsafePath, OSError):
        return None


def lock_file_problem(root: Path, written: str) -> str:
    """Why `lockFile: written` (reconciler.yaml) is refused, or "": it must name a file inside the root, by a
    relative path without `..`, through no symlinked directory out of the root, and not be anything but a
    regular file already (a symlink, a directory, a FIFO)."""
    if os.path.isabs(written) or written.startswith("~"):
        return f"must be a path relative to the manifest root, got {written!r}"
    parts = written.replace(os.sep, "/").split("/")
    if ".." in parts:
        return f"must stay inside the manifest root (no '..'), got {written!r}"
    if parts[-1] in ("", "."):
        return f"must name a file, got {written!r}"
    file = root / written
    if not inside(file.parent, root):
        return f"{written!r} resolves outside the manifest root {root} (through a symbolic link)"
    try:
        mode = os.lstat(file).st_mode
    except OSError:
        return sidecars.problem(file)
    if stat.S_ISREG(mode):
        return sidecars.problem(file)
    return f"{written!r} {atomic.kind(mode)}; the lock must be a regular file (links are never followed)"


def inside(file: str | Path, root: Path) -> bool:
    """Whether `file`, symlinks resolved, is inside `root` (which catches `..` and symlink escapes)."""
    absolute, top = os.path.abspath(file), _real(os.path.abspath(root))  # a relative path depends on the cwd
    head, name = os.path.split(absolute)
    # a file that is no link is where its directory really is: one lstat, not one per component of its path
    real = os.path.realpath(absolute) if os.path.islink(absolute) or not name else os.path.join(_real(head), name)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=1024)
def _real(root: str) -> str:
    return os.path.realpath(root)
