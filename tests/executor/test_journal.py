"""The journal group-commits lock writes, and still returns from an update only once that update is on disk."""

from __future__ import annotations

import threading
import time

from reconciler import lockfile
from reconciler.executor import Journal
from reconciler.lockfile import LockEntry


def entry(name: str) -> LockEntry:
    return LockEntry(name=name, platform="vertex", project="p", location="us-central1", digest="d", spec={},
                     current=None)


def test_every_update_is_on_disk_when_it_returns_and_concurrent_updates_share_writes(tmp_path, monkeypatch):
    path = tmp_path / "reconciler.lock"
    journal = Journal(path, lockfile.empty("sha256/v1"))
    writes = []
    real_write = lockfile.write

    def slow_write(target, lock):
        writes.append(len(lock.entries))
        time.sleep(0.02)  # a write long enough for other workers to pile up behind it
        return real_write(target, lock)

    monkeypatch.setattr(lockfile, "write", slow_write)
    missing: list[str] = []

    def worker(name: str) -> None:
        journal.update(name, lambda _: entry(name))
        if name not in lockfile.read(path).entries:
            missing.append(name)

    threads = [threading.Thread(target=worker, args=(f"bot-{i}",)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert missing == []
    assert set(lockfile.read(path).entries) == {f"bot-{i}" for i in range(16)}
    assert len(writes) < 16, writes  # group commit: fewer writes than updates
    assert lockfile.read(path).serial == len(writes)


def test_an_update_that_changes_nothing_writes_nothing(tmp_path):
    path = tmp_path / "reconciler.lock"
    journal = Journal(path, lockfile.empty("sha256/v1"))
    journal.update("bot", lambda _: entry("bot"))
    serial = lockfile.read(path).serial
    journal.update("bot", lambda current: current)
    assert lockfile.read(path).serial == serial
