"""The journal group-commits lock writes, and still returns from an update only once that update is on disk."""

from __future__ import annotations

import threading
import time

from reconciler.state.journal import Journal
from reconciler.state.local import LocalBackend
from reconciler.state.model import AppliedSpec, Lock, LockEntry


def entry(name: str) -> LockEntry:
    return LockEntry(name=name, platform="vertex", project="p", location="us-central1", digest="d", spec=AppliedSpec(),
                     current=None)


def test_every_update_is_on_disk_when_it_returns_and_concurrent_updates_share_writes(tmp_path, monkeypatch):
    path = tmp_path / "reconciler.lock"
    backend = LocalBackend(path)
    journal = Journal(backend, Lock.empty("sha256/v1"))
    writes = []
    real_write = backend.write

    def slow_write(lock):
        writes.append(len(lock.entries))
        time.sleep(0.02)  # a write long enough for other workers to pile up behind it
        return real_write(lock)

    monkeypatch.setattr(backend, "write", slow_write)
    missing: list[str] = []

    def worker(name: str) -> None:
        journal.update(name, lambda _: entry(name))
        if name not in LocalBackend(path).read().entries:
            missing.append(name)

    threads = [threading.Thread(target=worker, args=(f"bot-{i}",)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert missing == []
    assert set(LocalBackend(path).read().entries) == {f"bot-{i}" for i in range(16)}
    assert len(writes) < 16, writes  # group commit: fewer writes than updates
    assert LocalBackend(path).read().serial == len(writes)


def test_an_update_that_changes_nothing_writes_nothing(tmp_path):
    path = tmp_path / "reconciler.lock"
    journal = Journal(LocalBackend(path), Lock.empty("sha256/v1"))
    journal.update("bot", lambda _: entry("bot"))
    serial = LocalBackend(path).read().serial
    journal.update("bot", lambda current: current)
    assert LocalBackend(path).read().serial == serial


def test_against_a_paced_backend_intents_are_stored_at_once_and_records_within_the_interval():
    """A bucket: writes at least `write_spacing` apart, a record waits up to `prompt_within` for the next write,
    a durable update (an intent) waits only for the spacing, and `flush` stores whatever is left."""
    class Paced:
        location, write_spacing, prompt_within = "memory", 1.0, 5.0

        def __init__(self):
            self.stored = []

        def write(self, lock):
            self.stored.append(lock)
            return lock

    now, slept, backend = [0.0], [], Paced()
    journal = Journal(backend, Lock.empty("v"), clock=lambda: now[0], sleep=lambda s: (slept.append(s),
                                                                                       now.__setitem__(0, now[0] + s)))
    steps = [  # (time, update, durable) -> writes so far
        (0.0, "a", False, 1),   # the first write of a run goes at once
        (2.0, "b", False, 1),   # a record within the interval waits
        (6.0, "c", False, 2),   # past the interval: written, carrying b
        (6.5, "d", True, 3),    # an intent: waits out the spacing only
    ]
    for at, name, durable, writes in steps:
        now[0] = max(now[0], at)
        journal.update(name, lambda e, n=name: entry(n), durable=durable)
        assert len(backend.stored) == writes, name
    assert slept == [0.5] and set(backend.stored[-1].entries) == {"a", "b", "c", "d"}
    journal.update("e", lambda e: entry("e"))
    journal.flush()
    assert len(backend.stored) == 4 and "e" in backend.stored[-1].entries
