"""The journal group-commits lock writes, and still returns from an update only once that update is on disk."""

from __future__ import annotations

import dataclasses
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


def test_an_update_a_write_carried_returns_when_that_write_ends_even_while_the_next_one_runs():
    """Group commit waits for what is stored, not for a turn at writing: an update carried by a write that just
    ended never waits behind the next write (which a worker whose update came later is already making)."""
    class Gated:
        location, write_spacing, prompt_within = "memory", 0.0, 0.0

        def __init__(self):
            self.stored: list[Lock] = []
            self.gates = [threading.Event() for _ in range(3)]

        def write(self, lock):
            self.stored.append(lock)
            assert self.gates[len(self.stored) - 1].wait(10), "a gate never opened"
            return dataclasses.replace(lock, serial=lock.serial + 1)

    def until(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.005)

    backend = Gated()
    journal = Journal(backend, Lock.empty("v"))
    threads = {}

    def start(name: str) -> None:
        threads[name] = threading.Thread(target=journal.update, args=(name, lambda _, n=name: entry(n)), daemon=True)
        threads[name].start()
        until(lambda: name in journal.lock.entries)

    start("a")  # writes W1, held at its gate
    until(lambda: len(backend.stored) == 1)
    start("b")
    start("c")  # both wait for a write that carries them
    backend.gates[0].set()
    until(lambda: len(backend.stored) == 2)  # W2: b or c writes it, carrying both
    assert set(backend.stored[1].entries) == {"a", "b", "c"}
    start("d")  # waits: W2 is under way and does not carry it
    backend.gates[1].set()
    until(lambda: len(backend.stored) == 3)  # W3, for d, held at its gate
    for name in ("a", "b", "c"):
        threads[name].join(5)
        assert not threads[name].is_alive(), f"{name} waited behind a write that does not carry it"
    assert threads["d"].is_alive()  # d returns only once W3 is stored
    backend.gates[2].set()
    threads["d"].join(5)
    assert not threads["d"].is_alive() and set(backend.stored[2].entries) == {"a", "b", "c", "d"}


def test_a_failed_write_raises_in_its_writer_and_the_next_waiter_writes_again():
    """A write that fails raises in the thread that made it; an update it would have carried is written by its
    own caller next (and fails there too if the backend still refuses): nobody waits for a write that is gone."""
    class Failing:
        location, write_spacing, prompt_within = "memory", 0.0, 0.0

        def __init__(self):
            self.attempts = 0

        def write(self, lock):
            self.attempts += 1
            raise OSError("disk full")

    backend = Failing()
    journal = Journal(backend, Lock.empty("v"))
    errors = []

    def worker(name: str) -> None:
        try:
            journal.update(name, lambda _: entry(name))
        except OSError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=worker, args=(f"bot-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    assert errors == ["disk full"] * 4 and backend.attempts == 4
