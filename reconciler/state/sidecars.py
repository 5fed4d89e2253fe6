"""The lock's sidecars, `<lock>.lock` (the run lock) and `<lock>.backup`: the tool's own files. A name whose
sidecar is a file the tool did not write (a `Cargo.lock` for `lockFile: Cargo`) is refused, one rule for
validate and for the backend."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.state import atomic

SNIFF_BYTES = 4096  # a run record is one short line; a lock states its format in its head


def run_lock_of(lock: Path) -> Path:
    return lock.with_name(lock.name + ".lock")


def backup_of(lock: Path) -> Path:
    return lock.with_name(lock.name + ".backup")


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
    backup_ours = (lambda head: True) if os.path.lexists(lock) else previous_lock
    for sidecar, ours in ((run_lock_of(lock), run_record), (backup_of(lock), backup_ours)):
        try:
            mode = os.lstat(sidecar).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            return f"{sidecar.name} (the lock's sidecar) {atomic.kind(mode)}; only regular files are written"
        try:
            head = atomic.read_regular(sidecar, SNIFF_BYTES) or b""
        except OSError:
            continue  # reported when the lock is used
        if not ours(head):
            return (f"{sidecar.name} exists and was not written by reconciler; the lock's run lock and backup are "
                    "<lockFile>.lock and <lockFile>.backup: move it away, or choose a lockFile whose sidecars "
                    "are free")
    return ""
