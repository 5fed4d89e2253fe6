"""The run lock of a remote backend: an object beside the state, created only if absent (`ifGenerationMatch=0`),
holding who has it (`Holder`: a lock ID and a lease), renewed while the holder runs and deleted by generation.

A holder that died stops renewing; once its lease has been expired for another whole lease it is taken over and
reported, as the local backend does for a dead pid. Two runners racing for it: exactly one create succeeds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from reconciler.clients.storage import Blob, StorageClient, generation_of
from reconciler.errors import (ApiError, BadResponse, DeadlineExceeded, FailedPrecondition, Internal, LockfileError,
                               NotFound, StateLockedError, TransportError, Unavailable)
from reconciler.state.holder import Holder
from reconciler.state.run_lock import Waiting

log = logging.getLogger("reconciler.state")
AMBIGUOUS = (TransportError, Unavailable, Internal, DeadlineExceeded, BadResponse)  # may have been stored
DEFAULT_LEASE = 60.0
MAX_LEASE = 3600.0
MIN_LEASE = 3.0  # a renewal may wait a second for the bucket (one write a second to an object) and retry once
RENEW_EVERY_AT_LEAST = 1.5  # seconds between renewals, whatever the lease: the bucket's per-object write rate
POLL_EVERY = 2.0


class Lease:
    def __init__(self, client: StorageClient, bucket: str, name: str, *, lease: float = DEFAULT_LEASE,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.client, self.bucket, self.name = client, bucket, name
        self.lease, self.clock, self.sleep = lease, clock, sleep
        self.url = f"gs://{bucket}/{name}"

    # ------------------------------------------------------------------ holding
    @contextmanager
    def hold(self, command: str, *, timeout: float = 0.0, waiting: Waiting | None = None) -> Iterator[Holder]:
        holder, generation = self._acquire(command, timeout, waiting)
        renewer = _Renewer(self, holder, generation)
        renewer.start()
        failed = False
        try:
            yield holder
        except BaseException:
            failed = True
            raise
        finally:
            generation, lost = renewer.stop()
            if not lost:
                lost = not self._release(generation)
            if lost and not failed:
                raise LockfileError(f"the run lock {self.url} was removed or taken over while this run held it "
                                    f"(lock ID {holder.lock_id}); run `reconciler plan` to see where things are")

    def _acquire(self, command: str, timeout: float, waiting: Waiting | None) -> tuple[Holder, int]:
        deadline = time.monotonic() + timeout
        previous: Holder | None = None
        while True:
            me = Holder.me(command, previous=previous, lease_expires=self._expiry())
            generation, found = self._create(me)
            if generation:
                return me, generation
            if found is None:
                continue  # released between our create and our read: try again at once
            holder, blob = found
            if holder is not None and self._stale(holder):
                if self._remove(blob.generation):
                    previous = holder
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._locked(holder)
            if waiting is not None:
                waiting(holder, left)
            self.sleep(min(POLL_EVERY, left))

    def _create(self, me: Holder) -> tuple[int, tuple[Holder | None, Blob] | None]:
        """(the new lock object's generation, None) when this run has it; else (0, the lock as read now: None
        when it was released meanwhile)."""
        text = me.text()
        try:
            return generation_of(self.client.upload(self.bucket, self.name, text, if_generation_match=0)), None
        except FailedPrecondition:
            pass
        except AMBIGUOUS as err:  # our create may have landed: the lock ID in it says whose it is
            log.info("creating %s: %s; reading it back", self.url, err)
        found = self._read()
        if found is not None and found[1].data == text:
            return found[1].generation, None
        return 0, found

    def _read(self) -> tuple[Holder | None, Blob] | None:
        try:
            blob = self.client.download(self.bucket, self.name)
        except NotFound:
            return None
        return Holder.from_text(blob.data.decode("utf-8", "replace")), blob

    def _remove(self, generation: int) -> bool:
        try:
            self.client.delete(self.bucket, self.name, if_generation_match=generation)
        except (FailedPrecondition, NotFound):
            return False  # renewed, released or taken meanwhile: look again
        return True

    def _release(self, generation: int) -> bool:
        """Delete our lock; False when another holder has it now (it was taken over and is left in place).
        Gone already is fine: a delete retried after its answer was lost finds nothing."""
        try:
            self.client.delete(self.bucket, self.name, if_generation_match=generation)
        except NotFound:
            pass
        except FailedPrecondition:
            return False
        except ApiError as err:
            raise LockfileError(f"could not release the run lock {self.url}: {err}; the state is saved. The next "
                                f"run takes the lock over once its lease expires, or run `reconciler force-unlock`"
                                ) from None
        return True

    # ------------------------------------------------------------------ leases
    def _expiry(self) -> str:
        return _iso(math.ceil(self.clock() + self.lease))  # rounded up: never shorter than the lease

    def _stale(self, holder: Holder) -> bool:
        """Expired for at least another whole lease: its holder stopped renewing long ago (clocks may differ)."""
        expires = _parse(holder.lease_expires)
        return expires is not None and self.clock() > expires + self.lease

    def _locked(self, holder: Holder | None) -> StateLockedError:
        if holder is None:
            err = StateLockedError(f"state is locked: {self.url} exists but holds no readable lock record; if no "
                                   "run is in progress, delete that object")
        else:
            err = StateLockedError(
                f"state is locked by {holder.describe()}; wait for it (--lock-timeout 5m waits), or if that run "
                f"is gone: reconciler force-unlock {holder.lock_id}")
        err.holder = holder
        return err

    def force_unlock(self, lock_id: str) -> Holder:
        found = self._read()
        if found is None:
            raise LockfileError(f"no run lock at {self.url}: nothing to unlock")
        holder, blob = found
        if holder is None or holder.lock_id != lock_id:
            recorded = f"lock ID {holder.lock_id}" if holder and holder.lock_id else "no readable lock ID"
            raise LockfileError(f"{self.url} records {recorded}, not {lock_id}; nothing was unlocked")
        if not self._remove(blob.generation):
            raise LockfileError(f"{self.url} changed while unlocking (its holder renewed it: it is alive); "
                                "nothing was unlocked")
        return holder


class _Renewer(threading.Thread):
    """Rewrites the lock with a later lease every third of a lease, by generation, until stopped."""

    def __init__(self, lease: Lease, holder: Holder, generation: int):
        super().__init__(name="reconciler-lease", daemon=True)
        self.owner, self.holder, self.generation = lease, holder, generation
        self.lost = False
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stop.wait(max(self.owner.lease / 3, RENEW_EVERY_AT_LEAST)):
            renewed = dataclasses.replace(self.holder, lease_expires=self.owner._expiry())
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    answer = self.owner.client.upload(self.owner.bucket, self.owner.name, renewed.text(),
                                                      if_generation_match=self.generation)
                    self.generation, self.holder = generation_of(answer), renewed
                except FailedPrecondition:
                    if not self._landed(renewed):
                        self.lost = True
                        return
                except ApiError as err:  # a blip: the lease has two more thirds to run
                    log.info("renewing %s: %s", self.owner.url, err)
                    self._landed(renewed)

    def _landed(self, renewed: Holder) -> bool:
        found = self.owner._read()
        if found is not None and found[1].data == renewed.text():
            self.generation, self.holder = found[1].generation, renewed
            return True
        return False

    def stop(self) -> tuple[int, bool]:
        self._stop.set()
        with self._lock:
            return self.generation, self.lost


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None

