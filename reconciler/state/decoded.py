"""Locks decoded before, by the sha256 of their bytes: a 10,000-entry lock is 20 MB of JSON that takes 0.6 s to
parse, check and build into a `Lock`, and a third of that to unpickle. Kept as `reconciler.pickles` keeps values
(outside the repository, trusted only when it is this user's alone): one file per lock, holding the digest of the
bytes it was decoded from; any other bytes, or another reconciler, decode again. Only a lock that decoded and
passed every check is kept, so what is recalled is exactly what decoding the same bytes gives."""

from __future__ import annotations

from reconciler import pickles
from reconciler.state.model import Lock

FORMAT = 1
KIND = pickles.Kind("lock-", keep=16)  # locks whose decoded value is kept


def recall(where: str, digest: str) -> Lock | None:
    """The Lock decoded from the bytes of `where` (a file or object) whose sha256 is `digest`, if kept."""
    file = KIND.file(where)
    stored = pickles.load(file) if file else None
    if not (isinstance(stored, tuple) and len(stored) == 3 and stored[:2] == (_header(), digest)):
        return None
    lock = stored[2]
    if not isinstance(lock, Lock):
        return None
    pickles.touch(file)
    return lock


def remember(where: str, digest: str, lock: Lock) -> None:
    """Keep `lock`, decoded from the bytes of `where` whose sha256 is `digest`."""
    file = KIND.file(where)
    if file:
        KIND.store(file, (_header(), digest, lock))


def _header() -> tuple:
    return FORMAT, pickles.code()
