"""The Cloud Storage backend: the lock as an object `PREFIX/WORKSPACE/reconciler.lock` in a bucket, every write a
compare-and-swap on its generation (`ifGenerationMatch`), and the run lock an object beside it (`lease.py`).

Many runners may share it: a write that lost a race (412) is never retried over the newer state; a write whose
answer was lost is resolved by reading the object back (our bytes there: it landed). Turn on object versioning
on the bucket: every write is then a recoverable version, as `.backup` is for the local backend.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.clients.storage import Blob, StorageClient, generation_of
from reconciler.errors import ApiError, FailedPrecondition, LockfileError, NotFound
from reconciler.state import codec, document
from reconciler.state.holder import Holder
from reconciler.state.lease import AMBIGUOUS, DEFAULT_LEASE, Lease
from reconciler.state.model import FORMAT_VERSION, Lock
from reconciler.state.run_lock import Waiting

log = logging.getLogger("reconciler.state")
STATE_OBJECT = "reconciler.lock"


def object_names(prefix: str, workspace: str) -> tuple[str, str]:
    """(state object, run-lock object) of a workspace under `prefix`."""
    folder = f"{prefix}/{workspace}" if prefix else workspace
    return f"{folder}/{STATE_OBJECT}", f"{folder}/{STATE_OBJECT}.lock"


class GcsBackend:
    write_spacing = 1.0  # Cloud Storage: about one write per second to one object name; the journal paces to it
    prompt_within = 5.0  # what a side effect did is stored within 5 s (its intent was stored before it)

    def __init__(self, client: StorageClient, bucket: str, prefix: str, workspace: str, *,
                 lease: float = DEFAULT_LEASE):
        self.client, self.bucket = client, bucket
        self.object, lock_object = object_names(prefix, workspace)
        self.lease = Lease(client, bucket, lock_object, lease=lease)
        self._encoder = codec.Encoder()
        self._known: tuple[bytes, int] | None = None  # the object as last read or written, and its generation

    @property
    def location(self) -> str:
        return f"gs://{self.bucket}/{self.object}"

    def read(self) -> Lock | None:
        blob = self._download()
        if blob is None:
            self._known = (b"", 0)
            return None
        lock = document.decode(blob.data, self.location, self._recovery, noun="object",
                               previous=f"an earlier version of {self.location} (gcloud storage ls --all-versions)")
        self._known = (blob.data, blob.generation)
        return lock

    def write(self, lock: Lock) -> Lock:
        """Store `lock` at the next serial only if the object is still the one `lock` was derived from."""
        written = dataclasses.replace(lock, version=FORMAT_VERSION, serial=lock.serial + 1)
        text = self._encoder.encode(written)
        expected = self._expected_generation(lock)
        try:
            generation = self._upload(text, expected, lock)
        except AMBIGUOUS as err:
            generation = self._landed(text)
            if not generation:
                raise LockfileError(f"could not write {self.location}: {err}; the stored state is the previous "
                                    "one. Live resources carry ownership labels: the next run finds them") from None
        except ApiError as err:
            raise LockfileError(f"could not write {self.location}: {err}; the stored state is the previous one"
                                ) from None
        self._known = (text, generation)
        return written

    @contextmanager
    def lock(self, command: str, *, timeout: float = 0.0, waiting: Waiting | None = None) -> Iterator[Holder]:
        with self.lease.hold(command, timeout=timeout, waiting=waiting) as holder:
            yield holder

    def force_unlock(self, lock_id: str) -> Holder:
        return self.lease.force_unlock(lock_id)

    # ------------------------------------------------------------------ helpers
    def _upload(self, text: bytes, expected: int, lock: Lock, *, again: bool = True) -> int:
        """Upload if the object is still generation `expected`. A 412 is resolved by reading the object: our
        bytes (an earlier attempt landed), the same generation (a precondition failure that was not one: once
        more), or anything else (another run won: refused)."""
        try:
            return generation_of(self.client.upload(self.bucket, self.object, text, if_generation_match=expected))
        except FailedPrecondition:
            blob = self._download()
            if blob is not None and blob.data == text:
                return blob.generation
            if again and (blob.generation if blob else 0) == expected:
                return self._upload(text, expected, lock, again=False)
            raise self._changed(lock, blob) from None

    def _download(self) -> Blob | None:
        try:
            return self.client.download(self.bucket, self.object)
        except NotFound:
            return None
        except ApiError as err:
            raise LockfileError(f"cannot read {self.location}: {err}") from None

    def _expected_generation(self, lock: Lock) -> int:
        """The generation `lock` was derived from: the one last read or written when it is that lock (a write
        with no read before it reads first); another lineage or serial is refused."""
        if self._known is None:
            blob = self._download()
            self._known = (blob.data, blob.generation) if blob else (b"", 0)
        data, generation = self._known
        if not data or document.identity(data)[1:] == (lock.lineage, lock.serial):
            return generation
        raise self._changed(lock, Blob(data, generation))

    def _landed(self, text: bytes) -> int:
        """The generation holding exactly `text` now (our write landed), else 0."""
        blob = self._download()
        return blob.generation if blob is not None and blob.data == text else 0

    def _changed(self, lock: Lock, stored: Blob | None) -> LockfileError:
        """Why `lock` cannot be written over `stored` (the object as last seen; None: gone)."""
        version, lineage, serial = document.identity(stored.data) if stored else (None, None, None)
        if isinstance(version, int) and version > FORMAT_VERSION:
            return document.newer(self.location, version)
        if (lineage, serial) == (lock.lineage, lock.serial):
            return LockfileError(f"Cloud Storage refused to write {self.location} twice with 412 (precondition "
                                 f"failed) although it still holds serial {serial}; nothing was overwritten: run "
                                 "the command again")
        now = f"serial {serial} of lineage {lineage}" if lineage else "gone or unreadable"
        return LockfileError(
            f"{self.location} changed since it was read (it is now {now}; this run read serial {lock.serial} of "
            f"lineage {lock.lineage}); another run wrote it, and nothing was overwritten: run the command again")

    @property
    def _recovery(self) -> str:
        return (f"restore an earlier version of {self.location} (gcloud storage ls --all-versions), or delete it "
                "to rebuild ownership from live resources")
