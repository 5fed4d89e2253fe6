"""Finding manifest files under a path and reading files safely: inside the manifest root (symlinks
resolved), bounded in size, UTF-8."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from reconciler.manifest.diagnostics import Diagnostics

CONFIG_FILE = "reconciler.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024
SNIFF_BYTES = 4096  # of a sidecar, to tell the tool's own files from somebody else's


def manifest_files(path: Path, root: Path, diagnostics: Diagnostics) -> Iterator[tuple[Path, str]]:
    """(file, path as shown) of `path` itself, or of every *.yaml / *.yml below it but reconciler.yaml,
    skipping hidden files and directories, in sorted order."""
    if not path.is_dir():
        yield path, str(path)
        return
    found = False
    for directory, subdirs, files in os.walk(path):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            file = Path(directory, name)
            if file.suffix in (".yaml", ".yml") and not name.startswith(".") and not is_config(file, root):
                found = True
                yield file, str(file)
    if not found:
        diagnostics.add(str(path), 0, 0, "no manifests (*.yaml, *.yml) found", "warning")


def is_config(file: Path, root: Path) -> bool:
    return file.name == CONFIG_FILE and file.parent == root


def read_text(file: Path, shown: str, limit: int, root: Path, diagnostics: Diagnostics) -> str | None:
    """The file's text; None when it is outside `root`, unreadable, over `limit` bytes or not UTF-8 (reported)."""
    try:
        if not inside(file, root):
            diagnostics.add(shown, 0, 0, f"resolves outside the manifest root {root}")
            return None
        data = _read_regular(file, limit)
    except _NotRegular as err:
        diagnostics.add(shown, 0, 0, f"{err}; only regular files are read")
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
        return _sidecar_problem(file)
    if stat.S_ISREG(mode):
        return _sidecar_problem(file)
    return f"{written!r} {_kind(mode)}; the lock must be a regular file (links are never followed)"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    return "is a directory" if stat.S_ISDIR(mode) else "is a FIFO" if stat.S_ISFIFO(mode) else "is not a regular file"


def _sidecar_problem(file: Path) -> str:
    """The run lock (`<lockFile>.lock`) and the backup (`<lockFile>.backup`) are the tool's own: refuse a name
    whose sidecar is a file it did not write (a `Cargo.lock` for `lockFile: Cargo`)."""
    for sidecar, looks_ours in ((file.with_name(file.name + ".lock"), _run_record),
                                (file.with_name(file.name + ".backup"), _previous_lock)):
        try:
            mode = os.lstat(sidecar).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            return f"{sidecar.name} (the lock's sidecar) {_kind(mode)}; only regular files are written"
        try:
            data = _read_regular(sidecar, SNIFF_BYTES)
        except OSError:
            continue  # reported when the lock is used
        if not looks_ours(data):
            return (f"{sidecar.name} exists and was not written by reconciler; the lock's run lock and backup are "
                    f"<lockFile>.lock and <lockFile>.backup: choose a lockFile whose sidecars are free")
    return ""


def _run_record(data: bytes) -> bool:
    body = data.removesuffix(b"\n")
    return not body or (body.startswith(b'{"') and b"\n" not in body)


def _previous_lock(head: bytes) -> bool:
    """A lock as the codec writes it (sorted keys: `digestAlgorithm` first); only the head is read, so that
    validating a large repository does not parse its backup."""
    return head.lstrip().startswith(b"{") and (b'"digestAlgorithm"' in head or b'"lineage"' in head)


def inside(file: Path, root: Path) -> bool:
    """Whether `file`, symlinks resolved, is inside `root` (which catches `..` and symlink escapes)."""
    real, top = os.path.realpath(file), _real(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=64)
def _real(root: Path) -> str:
    return os.path.realpath(root)


class _NotRegular(OSError):
    pass


def _read_regular(file: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file. Opened non-blocking so that a FIFO cannot hang the read,
    and checked (fstat) before reading: a FIFO, a device or a directory is refused."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _NotRegular(_kind(mode))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as stream:
            fd = -1
            return stream.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
