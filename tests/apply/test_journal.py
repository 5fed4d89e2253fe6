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
