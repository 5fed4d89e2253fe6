"""The run lock, exercised across real processes: held, refused, released, and taken over from the dead."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reconciler.state.local import LocalBackend
from reconciler.state.holder import Holder
from reconciler.errors import LockfileError, StateLockedError

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

HOLDER = """
import json, sys
from reconciler.state.local import LocalBackend
from reconciler.state.holder import Holder
with LocalBackend(sys.argv[1]).lock("reconciler apply") as holder:
    print(json.dumps(holder.to_json()), flush=True)
    sys.stdin.read()  # hold until the test closes our stdin (or kills us)
"""


@pytest.fixture
def other_process(tmp_path):
    """Start a process that holds the run lock of tmp_path/reconciler.lock; yields (process, its record)."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "reconciler.lock")], env=ENV,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        record = json.loads(process.stdout.readline())
        yield process, record
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdin.close()
        process.stdout.close()


def test_a_run_lock_held_by_another_process_is_refused_naming_it(tmp_path, other_process):
    process, record = other_process
    path = tmp_path / "reconciler.lock"
    assert record["pid"] == process.pid
    with pytest.raises(StateLockedError) as err:
        with LocalBackend(path).lock("reconciler plan"):
            pytest.fail("acquired a lock another process holds")
    holder = Holder.from_text(json.dumps(record))
    assert str(err.value) == (
        f"state is locked by {holder.describe()}; wait for it to finish (--lock-timeout waits for it), "
        f"or if that process is gone remove {path}.lock")
    assert f"pid {process.pid} on " in str(err.value) and f"lock ID {record['lock_id']}" in str(err.value)
    assert err.value.exit_code == 4
    assert err.value.holder == holder
    assert (holder.host, holder.command, holder.directory) == (socket.gethostname(), "reconciler apply",
                                                               os.getcwd())
    assert ISO_SECONDS.match(record["started"]) and re.fullmatch(r"[0-9a-f]{16}", record["lock_id"])

    process.stdin.close()  # the holder finishes and releases
    assert process.wait(timeout=30) == 0
    assert not (tmp_path / "reconciler.lock.lock").exists()
    with LocalBackend(path).lock("reconciler plan") as holder:
        assert holder.previous is None


def test_a_waiter_gets_the_lock_once_the_holder_releases_it(tmp_path, other_process):
    process, record = other_process
    told = []
    threading.Timer(0.6, process.stdin.close).start()  # the holder releases while we wait
    with LocalBackend(tmp_path / "reconciler.lock").lock("reconciler apply", timeout=30,
                                                          waiting=lambda h, left: told.append(h)) as holder:
        assert holder.pid == os.getpid()
    assert told and all(h is not None and h.lock_id == record["lock_id"] for h in told)


def test_a_waiter_gives_up_after_its_timeout_naming_the_holder(tmp_path, other_process):
    process, record = other_process
    told = []
    with pytest.raises(StateLockedError, match=record["lock_id"]):
        with LocalBackend(tmp_path / "reconciler.lock").lock("reconciler apply", timeout=0.6,
                                                              waiting=lambda h, left: told.append(left)):
            pytest.fail("acquired a lock another process holds")
    assert told and all(0 < left <= 0.6 for left in told)


def test_force_unlock_refuses_a_live_holder_and_a_wrong_id(tmp_path, other_process):
    process, record = other_process
    backend = LocalBackend(tmp_path / "reconciler.lock")
    with pytest.raises(LockfileError, match="not 0000; nothing was unlocked"):
        backend.force_unlock("0000")
    with pytest.raises(LockfileError, match="held by a live process"):
        backend.force_unlock(record["lock_id"])
    assert (tmp_path / "reconciler.lock.lock").exists()
    process.kill()
    process.wait(timeout=30)
    assert backend.force_unlock(record["lock_id"]).pid == process.pid
    assert not (tmp_path / "reconciler.lock.lock").exists()
    with pytest.raises(LockfileError, match="nothing to unlock"):
        backend.force_unlock(record["lock_id"])


def test_a_second_run_in_the_same_process_is_refused_too(tmp_path):
    path = tmp_path / "reconciler.lock"
    with LocalBackend(path).lock("reconciler apply") as holder:
        with pytest.raises(StateLockedError, match=f"^state is locked by pid {os.getpid()} on "):
            with LocalBackend(path).lock("reconciler apply"):
                pass
        assert (tmp_path / "reconciler.lock.lock").exists()  # the refused attempt did not remove our file
    assert holder.previous is None


def test_a_lock_left_by_a_killed_process_is_taken_over_and_reported(tmp_path, other_process):
    process, record = other_process
    process.kill()  # SIGKILL: no chance to release
    process.wait(timeout=30)
    path = tmp_path / "reconciler.lock"
    assert (tmp_path / "reconciler.lock.lock").exists()
    with LocalBackend(path).lock("reconciler apply") as holder:
        assert holder.previous == Holder.from_text(json.dumps(record))
        assert holder.previous.pid == process.pid
        assert (holder.pid, holder.host, holder.command) == (os.getpid(), socket.gethostname(), "reconciler apply")
        assert json.loads((tmp_path / "reconciler.lock.lock").read_text()) == holder.to_json()
    assert not (tmp_path / "reconciler.lock.lock").exists()


def test_the_lock_is_released_after_the_block_even_on_error(tmp_path):
    path = tmp_path / "reconciler.lock"
    with pytest.raises(KeyboardInterrupt):
        with LocalBackend(path).lock("reconciler apply"):
            raise KeyboardInterrupt
    with LocalBackend(path).lock("reconciler apply") as holder:
        assert holder.previous is None
        assert ISO_SECONDS.match(holder.started)
    with LocalBackend(path).lock("reconciler apply") as holder:
        assert holder.previous is None


SILENT_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_holder_that_has_not_recorded_itself_is_still_refused(tmp_path):
    path = tmp_path / "reconciler.lock"
    process = subprocess.Popen([sys.executable, "-c", SILENT_HOLDER, f"{path}.lock"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "locked\n"
        with pytest.raises(StateLockedError) as err:
            with LocalBackend(path).lock("reconciler apply"):
                pass
        assert str(err.value) == ("state is locked by another process (which has not recorded who it is yet); "
                                  f"wait for it to finish (--lock-timeout waits for it), or if that process is gone remove {path}.lock")
        assert err.value.holder is None
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdin.close()
        process.stdout.close()


def test_a_garbled_record_from_a_dead_run_is_not_reported_as_a_holder(tmp_path):
    (tmp_path / "reconciler.lock.lock").write_text("{\"pid\": ")
    with LocalBackend(tmp_path / "reconciler.lock").lock("reconciler apply") as holder:
        assert holder.previous is None


def test_a_missing_directory_is_explained(tmp_path):
    with pytest.raises(LockfileError, match=r"^cannot create .*/missing/reconciler.lock.lock: No such"):
        with LocalBackend(tmp_path / "missing" / "reconciler.lock").lock("reconciler apply"):
            pass


CONTENDER = """
import os, sys, time
from reconciler.state.local import LocalBackend
from reconciler.state.holder import Holder
from reconciler.errors import StateLockedError
path, log, rounds, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
while not os.path.exists(start):
    time.sleep(0.001)
done = 0
while done < rounds:
    try:
        with LocalBackend(path).lock("reconciler apply"):
            os.write(fd, f"in {os.getpid()}\\n".encode())
            os.write(fd, f"out {os.getpid()}\\n".encode())
        done += 1
    except StateLockedError:
        pass
"""


def test_contending_processes_never_hold_the_lock_together(tmp_path):
    """Also covers a releasing holder unlinking the file under a process that just opened it."""
    path, log, start = tmp_path / "reconciler.lock", tmp_path / "log", tmp_path / "start"
    processes = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(path), str(log), "100", str(start)],
                                  env=ENV) for _ in range(3)]
    start.touch()
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 3 * 100 * 2
    for enter, leave in zip(lines[::2], lines[1::2]):
        assert (enter.split()[0], leave.split()[0], enter.split()[1]) == ("in", "out", leave.split()[1])
    assert not (tmp_path / "reconciler.lock.lock").exists()
