"""The Cloud Storage backend against the emulator's GCS subset: compare-and-swap writes, answers lost and
faults, and the run lock (two holders, waiting, leases that expire, force-unlock)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from reconciler.clients.auth import BearerToken
from reconciler.clients.http import RetryPolicy
from reconciler.clients.storage import StorageClient, generation_of
from reconciler.errors import LockfileError, StateLockedError
from reconciler.state.gcs import GcsBackend, object_names
from reconciler.state.holder import Holder
from reconciler.state.model import Lock
from tests.testing.emulators import running

BUCKET = "acme-state"
FAST = RetryPolicy(initial_delay=0.01, max_backoff=0.05, max_delay=1.5, deadline=5.0, timeout=5.0)  # 429s ask for 1 s


@contextmanager
def storage(**options) -> Iterator[tuple[object, StorageClient]]:
    with running(**options) as emu, httpx.Client(auth=BearerToken("t")) as http:
        client = StorageClient(http, endpoint=emu.base_url, policy=FAST)
        client.create_bucket("p", BUCKET)
        yield emu, client


def backend(client: StorageClient, workspace: str = "default", lease: float = 60.0) -> GcsBackend:
    return GcsBackend(client, BUCKET, "tuning/prod", workspace, lease=lease)


def stored(client: StorageClient, workspace: str = "default") -> dict:
    return json.loads(client.download(BUCKET, object_names("tuning/prod", workspace)[0]).data)


def mutations(emu, suffix: str) -> list[dict]:
    return [r for r in emu.requests() if r["method"] in ("POST", "DELETE") and suffix in r["path"] + r["query"]]


def test_objects_are_named_by_prefix_and_workspace():
    assert object_names("tuning/prod", "default") == ("tuning/prod/default/reconciler.lock",
                                                      "tuning/prod/default/reconciler.lock.lock")
    assert object_names("", "staging") == ("staging/reconciler.lock", "staging/reconciler.lock.lock")


def test_a_first_write_creates_the_object_and_later_ones_move_the_serial():
    with storage() as (emu, client):
        state = backend(client)
        assert state.read() is None
        first = state.write(Lock.empty("sha256-v1"))
        second = state.write(first)
        assert (first.serial, second.serial) == (1, 2)
        assert stored(client)["serial"] == 2 and stored(client)["lineage"] == first.lineage
        assert backend(client).read() == second
        assert state.location == f"gs://{BUCKET}/tuning/prod/default/reconciler.lock"
        queries = [r["query"] for r in mutations(emu, "uploadType")]
        assert "ifGenerationMatch=0" in queries[0] and "ifGenerationMatch=0" not in queries[1]


def test_a_lost_race_is_refused_and_the_newer_state_is_kept():
    with storage() as (emu, client):
        base = backend(client).write(Lock.empty("sha256-v1"))
        a, b = backend(client), backend(client)
        assert a.read() == b.read() == base
        winner = a.write(a.write(a.read()))  # serial 3: not the bytes b is about to write
        with pytest.raises(LockfileError, match=r"changed since it was read \(it is now serial 3 of lineage .*"
                                                r"this run read serial 1 .* nothing was overwritten"):
            b.write(base)
        assert stored(client)["serial"] == winner.serial == 3


def test_two_first_writers_race_to_create_and_one_wins():
    with storage() as (emu, client):
        a, b = backend(client), backend(client)
        assert a.read() is None and b.read() is None
        a.write(Lock.empty("sha256-v1"))
        with pytest.raises(LockfileError, match="changed since it was read"):
            b.write(Lock.empty("sha256-v1"))  # another lineage: never the same bytes


def test_a_write_whose_answer_was_dropped_is_found_to_have_landed_and_not_repeated():
    with storage() as (emu, client):
        state = backend(client)
        state.read()
        emu.add_faults([{"method": "POST", "path": "/upload/*", "action": "drop", "times": 1}])
        written = state.write(Lock.empty("sha256-v1"))
        assert stored(client)["serial"] == written.serial == 1
        again = state.write(written)  # the generation learned from the read-back is the precondition
        assert again.serial == 2


def test_a_storm_of_503_is_retried_through_and_the_write_lands_once():
    with storage() as (emu, client):
        state = backend(client)
        state.read()
        emu.add_faults([{"method": "POST", "path": "/upload/*", "status": 503, "times": 3}])
        assert state.write(Lock.empty("sha256-v1")).serial == 1
        assert [r["status"] for r in mutations(emu, "uploadType")] == [503, 503, 503, 200]


def test_a_write_that_keeps_failing_says_the_stored_state_is_the_previous_one():
    with storage() as (emu, client):
        state = backend(client)
        base = state.write(Lock.empty("sha256-v1"))
        emu.add_faults([{"method": "POST", "path": "/upload/*", "status": 503}])
        with pytest.raises(LockfileError, match="could not write gs://.*the stored state is the previous one"):
            state.write(base)
        emu.clear_faults()
        assert stored(client)["serial"] == 1


def test_a_corrupt_object_is_explained_with_where_to_recover_it():
    with storage() as (emu, client):
        name = object_names("tuning/prod", "default")[0]
        client.upload(BUCKET, name, b"{not json", if_generation_match=0)
        with pytest.raises(LockfileError, match=r"gs://acme-state/tuning/prod/default/reconciler.lock is corrupt "
                                                r"\(line 1: .*\); restore an earlier version"):
            backend(client).read()


def test_workspaces_are_separate_objects():
    with storage() as (emu, client):
        backend(client, "default").write(Lock.empty("sha256-v1"))
        assert backend(client, "staging").read() is None


# ------------------------------------------------------------------------------------------------ the run lock

def test_a_second_holder_is_refused_naming_the_first_and_its_lock_id():
    with storage() as (emu, client):
        with backend(client).lock("reconciler apply") as holder:
            with pytest.raises(StateLockedError) as refused:
                with backend(client).lock("reconciler apply"):
                    pytest.fail("two holders")
            assert refused.value.exit_code == 4
            assert f"reconciler force-unlock {holder.lock_id}" in str(refused.value)
            assert refused.value.holder.lock_id == holder.lock_id and holder.lease_expires
        with backend(client).lock("reconciler apply"):  # released
            pass


def test_a_waiter_takes_the_lock_when_the_holder_releases_it():
    with storage() as (emu, client):
        told: list[float] = []
        release = threading.Event()

        def hold():
            with backend(client).lock("reconciler apply"):
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        time.sleep(0.3)
        threading.Timer(0.5, release.set).start()
        with backend(client).lock("reconciler apply", timeout=20, waiting=lambda h, left: told.append(left)):
            assert told
        holder.join(10)


def test_a_waiter_gives_up_after_its_timeout():
    with storage() as (emu, client):
        with backend(client).lock("reconciler apply"):
            started = time.monotonic()
            with pytest.raises(StateLockedError):
                with backend(client).lock("reconciler apply", timeout=0.5):
                    pass
            assert 0.4 < time.monotonic() - started < 5


def test_the_holder_renews_its_lease_while_it_runs():
    with storage() as (emu, client):
        with backend(client, lease=1.5).lock("reconciler apply") as holder:
            time.sleep(1.8)
            recorded = json.loads(client.download(BUCKET, object_names("tuning/prod", "default")[1]).data)
            assert recorded["lock_id"] == holder.lock_id and recorded["lease_expires"] > holder.lease_expires
            with pytest.raises(StateLockedError):  # renewed: not stale although the first lease ran out
                with backend(client, lease=1.5).lock("reconciler apply"):
                    pass


@pytest.mark.parametrize(("expired_seconds_ago", "taken_over"), [(5.0, True), (0.5, False), (-30.0, False)])
def test_a_lock_whose_lease_expired_a_whole_lease_ago_is_taken_over_and_reported(expired_seconds_ago, taken_over):
    with storage() as (emu, client):
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - expired_seconds_ago))
        dead = Holder(pid=1, host="runner-7", command="reconciler apply", started="2026-12-01T00:00:00Z",
                      lock_id="deadbeef", lease_expires=expiry)  # killed: it never renews nor releases
        client.upload(BUCKET, object_names("tuning/prod", "default")[1], dead.text(), if_generation_match=0)
        if not taken_over:
            with pytest.raises(StateLockedError, match="runner-7.*lock ID deadbeef"):
                with backend(client, lease=2.0).lock("reconciler apply"):
                    pass
            return
        with backend(client, lease=2.0).lock("reconciler apply") as holder:
            assert holder.previous == dead


def test_force_unlock_needs_the_matching_lock_id():
    with storage() as (emu, client):
        held = backend(client).lock("reconciler apply")
        holder = held.__enter__()
        with pytest.raises(LockfileError, match=f"records lock ID {holder.lock_id}, not nope; nothing was unlocked"):
            backend(client).force_unlock("nope")
        assert backend(client).force_unlock(holder.lock_id).lock_id == holder.lock_id
        with pytest.raises(LockfileError, match="nothing to unlock"):
            backend(client).force_unlock(holder.lock_id)
        with backend(client).lock("reconciler apply"):  # somebody else holds it now
            with pytest.raises(LockfileError, match="removed or taken over while this run held it"):
                held.__exit__(None, None, None)
        with backend(client).lock("reconciler apply"):  # and the taker's lock was left alone, then released
            pass


def test_a_412_that_was_not_one_is_tried_once_more_and_a_real_one_never_overwrites():
    with storage() as (emu, client):
        state = backend(client)
        base = state.write(Lock.empty("sha256-v1"))
        emu.add_faults([{"method": "POST", "path": "/upload/*", "status": 412, "times": 1}])
        assert state.write(base).serial == 2  # the object had not moved: the second attempt lands
        emu.add_faults([{"method": "POST", "path": "/upload/*", "status": 412, "times": 2}])
        with pytest.raises(LockfileError, match="refused to write .* twice with 412 .* still holds serial 2"):
            state.write(state.read())
        assert stored(client)["serial"] == 2


def test_the_client_reads_object_metadata_and_lists_under_a_prefix():
    with storage() as (emu, client):
        for name in ("tuning/prod/default/reconciler.lock", "tuning/prod/staging/reconciler.lock", "other/x"):
            client.upload(BUCKET, name, b"{}", if_generation_match=0)
        listed = [o["name"] for o in client.list(BUCKET, "tuning/prod/")]
        assert listed == ["tuning/prod/default/reconciler.lock", "tuning/prod/staging/reconciler.lock"]
        metadata = client.metadata(BUCKET, "other/x")
        assert metadata["size"] == "2" and generation_of(metadata) == client.download(BUCKET, "other/x").generation


def test_the_storage_connection_needs_credentials_and_says_where_to_get_them():
    from google.auth.exceptions import DefaultCredentialsError

    from reconciler.errors import UserError
    from reconciler.platforms.connect import connect_storage

    def no_adc(**kwargs):
        raise DefaultCredentialsError("no ADC here")

    with pytest.raises(UserError, match="no Google credentials for the Cloud Storage state backend"):
        with connect_storage(env={}, adc=no_adc):
            pass
