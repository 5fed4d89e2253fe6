"""Finding manifest files under a path and reading files safely: inside the manifest root (symlinks
resolved), bounded in size, UTF-8."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

from reconciler.manifest.diagnostics import Diagnostics

CONFIG_FILE = "reconciler.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024


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
        with open(file, "rb") as stream:
            data = stream.read(limit + 1)
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


def inside(file: Path, root: Path) -> bool:
    """Whether `file`, symlinks resolved, is inside `root` (which catches `..` and symlink escapes)."""
    real, top = os.path.realpath(file), _real(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=64)
def _real(root: Path) -> str:
    return os.path.realpath(root)
