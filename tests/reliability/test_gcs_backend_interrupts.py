"""Ctrl-C while an apply takes or releases the gcs run lock never leaves the lock behind.

An interrupt ends an apply at once only while it reads and decides (`reconciler.apply.stop`); taking and releasing
the run lock are not such a phase, since a create cut short after the server stored it would leave a lock
nobody releases (the next apply exits 4 until the lease expires). Here the reconciler gets SIGINT the moment the
emulator has committed the lock's create (or delete), its answer held back a second: the run ends with 130 (after
the create it stops as soon as it holds the lock, and releases it; during the delete its work was done, and it
says it was interrupted all the same), no lock is left, and the next apply runs without taking anything over."""

from __future__ import annotations

import os
import signal
import time

import pytest

from gcs_harness import GcsEmulator, GcsRepo
from tests.testing.manifests import vertex_manifest


@pytest.mark.parametrize("kind", ["lock-create", "lock-delete"])
def test_ctrl_c_while_the_run_lock_is_taken_or_released_leaves_no_lock(tmp_path, kind):
    emulator = GcsEmulator(job_duration=600)
    try:
        repo = GcsRepo(tmp_path, emulator)
        repo.write("vx-a", vertex_manifest("vx-a"))
        started: dict = {}

        def interrupt(request, reply=None):
            while "process" not in started:
                time.sleep(0.01)
            os.kill(started["process"].pid, signal.SIGINT)
            time.sleep(1.0)  # the answer is on its way a second later

        emulator.on(kind, interrupt, committed_only=True)
        started["process"] = repo.start("apply", "m", "--yes")
        first = repo.finish(started["process"], ("apply",))
        assert first.code == 130 and "Traceback" not in first.err, str(first)
        assert emulator.holder() is None, str(first)
        again = repo.apply()
        assert again.code == 0 and "taking over" not in again.text, str(again)
    finally:
        emulator.stop()
