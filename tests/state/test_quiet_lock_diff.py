"""A quiet lock diff (issue 10 §11): what a poll of a training job sees is not news for the committed lock. Only
a job ending (or its model, endpoints, error or live fields changing) is learned; a move between active phases
(queued -> running) and what moves while a job trains (progress, loss, the raw state) are not."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.observed import Generation
from reconciler.state.journal import Journal, learned
from reconciler.state.local import LocalBackend
from reconciler.state.model import AppliedSpec, Lock, LockEntry

JOB = "projects/acme/locations/us-central1/tuningJobs/2"
MODEL = "projects/acme/locations/us-central1/models/7@1"
ENDPOINT = "projects/acme/locations/us-central1/endpoints/8"
RECORDED = Generation(platform="vertex", owner="bot", digest="d1", phase="queued", job=JOB, intent="i1",
                      operation="", create_time="2026-11-21T09:00:00Z")


def seen(**changes) -> Generation:
    """RECORDED as a later poll sees it (the listing carries no intent: the lock keeps its own)."""
    return dataclasses.replace(RECORDED, intent="", **changes)


TRAINING = dict(progress=40.0, loss=0.25, state="JOB_STATE_RUNNING", loss_history=((1, 2.5),),
                data_stats={"steps": 32}, start_time="2026-11-21T09:05:00Z")

# (id, recorded phase, what the poll sees, expected changes to the recorded generation or None: nothing learned)
TABLE = [
    ("queued->running", "queued", seen(phase="running", **TRAINING), None),
    ("running->queued", "running", seen(phase="queued", state="JOB_STATE_PENDING"), None),
    ("running->cancelling", "running", seen(phase="cancelling", state="JOB_STATE_CANCELLING"), None),
    ("cancelling->running (a cancel not yet seen)", "cancelling", seen(phase="running", **TRAINING), None),
    ("progress only", "running", seen(phase="running", **TRAINING), None),
    ("raw state only", "queued", seen(state="JOB_STATE_QUEUED"), None),
    ("succeeded, with model and endpoints", "running",
     seen(phase="succeeded", model=MODEL, endpoints=(ENDPOINT,), state="JOB_STATE_SUCCEEDED", progress=100.0),
     dict(phase="succeeded", model=MODEL, endpoints=(ENDPOINT,))),
    ("failed, with the server's error", "queued", seen(phase="failed", error="quota exceeded"),
     dict(phase="failed", error="quota exceeded")),
    ("cancelled", "cancelling", seen(phase="cancelled"), dict(phase="cancelled")),
    ("live fields edited while training: learned, the phase kept", "queued",
     seen(phase="running", live={"displayName": "Bot"}), dict(live={"displayName": "Bot"})),
]


@pytest.mark.parametrize("phase, fresh, expected", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_what_a_poll_teaches_the_lock(phase, fresh, expected):
    recorded = dataclasses.replace(RECORDED, phase=phase)
    after = learned(recorded, {JOB.split("/", 2)[2]: fresh})
    if expected is None:
        assert after is recorded
        return
    assert after == dataclasses.replace(recorded, **expected)  # the intent, create time, volatile fields: the lock's


def test_a_succeeded_model_deleted_out_of_band_is_learned():
    done = dataclasses.replace(RECORDED, phase="succeeded", model=MODEL)
    after = learned(done, {JOB.split("/", 2)[2]: dataclasses.replace(done, model_exists=False)})
    assert after == dataclasses.replace(done, model_exists=False)


def entry(generation: Generation) -> LockEntry:
    return LockEntry(name="bot", platform="vertex", project="acme", location="us-central1", digest="d1",
                     spec=AppliedSpec(), current=generation)


def test_polls_mid_training_leave_the_file_untouched_and_the_end_is_written_once(tmp_path):
    path = tmp_path / "reconciler.lock"
    backend = LocalBackend(path)
    lock = backend.write(Lock.empty("sha256-v1").with_entry(entry(RECORDED)))
    before = path.read_bytes()
    journal = Journal(LocalBackend(path), backend.read())
    for progress in (0.0, 10.0, 55.5, 99.0):
        journal.observe([seen(phase="running", **{**TRAINING, "progress": progress})])
        assert path.read_bytes() == before
    journal.flush()
    assert path.read_bytes() == before and LocalBackend(path).read().serial == lock.serial
    journal.observe([seen(phase="succeeded", model=MODEL, endpoints=(ENDPOINT,), state="JOB_STATE_SUCCEEDED")])
    after = LocalBackend(path).read()
    assert after.serial == lock.serial + 1
    assert (after.entries["bot"].current.phase, after.entries["bot"].current.endpoints) == ("succeeded", (ENDPOINT,))
    assert b'"state"' not in path.read_bytes() and b'"progress"' not in path.read_bytes()
