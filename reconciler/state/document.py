"""The stored lock's bytes as a `Lock`, whichever backend read them: every way they can be unusable (not text,
not JSON, a newer format, an invalid or out-of-scope entry) explained with where they are and how to recover."""

from __future__ import annotations

import json

from reconciler import collector
from reconciler.errors import LockfileError
from reconciler.state import codec, decoded, scope
from reconciler.state.model import FORMAT_VERSION, Lock


def decode(raw: bytes, where: str, recovery: str, previous: str, noun: str = "file") -> Lock:
    """`where`: the file or object, for messages; `recovery`: what to do about a corrupt one; `previous`: where
    an earlier version of it is kept."""
    def corrupt(detail: str) -> LockfileError:
        return LockfileError(f"{where} is corrupt ({detail}); {recovery}")

    digest = codec.stored_digest(raw)
    kept = decoded.recall(where, digest)  # these very bytes decoded and checked before: the same Lock
    if kept is not None:
        return kept
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise corrupt(f"not UTF-8 text at byte {err.start}") from None
    if not text or text.isspace():  # as `not text.strip()`, without copying 20 MB
        raise corrupt(f"the {noun} is empty")
    with collector.paused():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise corrupt(f"line {err.lineno}: {err.msg}") from None
        del text  # 20 MB at 10,000 entries: not kept while the values are built
        try:
            lock = codec.from_json(data)
        except codec.NewerFormat as err:
            raise newer(where, err.version) from None
        except codec.InvalidLock as err:
            raise corrupt(err.detail) from None
        del data  # what the lock does not hold is gone before the collector's next pass, which walks what is left
    lock.stored_as(digest)
    try:
        scope.check(lock)
    except scope.OutOfScope as err:
        raise LockfileError(
            f"{where}: {err.where} {err.problem}; refusing to plan or apply with it (a hand edit or a bad "
            f"merge would make apply retire and delete resources that are not this entry's): restore the entry "
            f"from {previous}, or remove it from the lock to have it rebuilt from the "
            "live resources' ownership labels. Nothing was changed") from None
    decoded.remember(where, digest, lock)
    return lock


def newer(where: str, version: int) -> LockfileError:
    return LockfileError(f"{where} was written by a newer reconciler (format {version}; this one reads "
                         f"format {FORMAT_VERSION}); upgrade reconciler")


def identity(raw: bytes) -> tuple[object, object, object]:
    """(version, lineage, serial) of stored bytes, as far as they can be read (None where they cannot)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None, None, None
    if not isinstance(data, dict):
        return None, None, None
    return data.get("version"), data.get("lineage"), data.get("serial")
