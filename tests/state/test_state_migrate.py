"""`state push` / `state pull` underneath: the lock moves between the local file and a bucket with its lineage
and entries, under both run locks, and never over state that is already there."""

from __future__ import annotations

import pytest

from reconciler.errors import LockfileError
from reconciler.state.local import LocalBackend
from reconciler.state.migrate import move
from reconciler.state.model import Lock
from tests.state.test_gcs_backend import backend, storage
from tests.state.test_lockfile_format import gemini_entry, vertex_entry


def a_lock(path) -> Lock:
    local = LocalBackend(path)
    return local.write(Lock.empty("sha256-v1").with_entry(vertex_entry()).with_entry(gemini_entry()))


def test_a_local_lock_moves_to_the_bucket_and_back_keeping_lineage_and_entries(tmp_path):
    original = a_lock(tmp_path / "reconciler.lock")
    with storage() as (emu, client):
        pushed = move(LocalBackend(tmp_path / "reconciler.lock"), backend(client), "reconciler state push")
        assert (pushed.lineage, pushed.entries, pushed.serial) == (original.lineage, original.entries, 2)
        assert backend(client).read() == pushed
        pulled = move(backend(client), LocalBackend(tmp_path / "elsewhere.lock"), "reconciler state pull")
        assert (pulled.lineage, pulled.entries) == (original.lineage, original.entries)
        assert LocalBackend(tmp_path / "elsewhere.lock").read() == pulled


def test_a_second_push_of_the_same_lock_changes_nothing(tmp_path):
    a_lock(tmp_path / "reconciler.lock")
    with storage() as (emu, client):
        first = move(LocalBackend(tmp_path / "reconciler.lock"), backend(client), "reconciler state push")
        assert move(LocalBackend(tmp_path / "reconciler.lock"), backend(client), "reconciler state push") == first


def test_state_already_in_the_target_is_never_overwritten(tmp_path):
    a_lock(tmp_path / "reconciler.lock")
    with storage() as (emu, client):
        theirs = backend(client).write(Lock.empty("sha256-v1"))
        with pytest.raises(LockfileError, match=r"gs://acme-state/.* already holds state \(lineage "
                                                rf"{theirs.lineage}, serial 1; .*refusing to overwrite it"):
            move(LocalBackend(tmp_path / "reconciler.lock"), backend(client), "reconciler state push")
        assert backend(client).read() == theirs


def test_nothing_to_move_is_said(tmp_path):
    with storage() as (emu, client):
        with pytest.raises(LockfileError, match="holds no state: nothing to move"):
            move(LocalBackend(tmp_path / "reconciler.lock"), backend(client), "reconciler state push")
