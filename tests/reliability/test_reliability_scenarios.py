"""Reliability scenarios 2-8: the reconciler as a real subprocess, the emulator as a real server process.

Each scenario prints its counts (jobs created per manifest, duplicates, orphans, lock validity) and asserts
them; run with `pytest -s` to see them.
"""

from __future__ import annotations

import functools
import json
import re
import time

import pytest

from reliability_harness import PARENT, Repo, SubprocessEmulator, census
from tests.testing.manifests import gemini_manifest, vertex_manifest


@pytest.fixture
def start_emulator(spawn_emulator):
    """`start_emulator(*args, job_duration=1.0)`: an emulator process with the census helpers (the shared
    `spawn_emulator` stops it after the test)."""
    return functools.partial(spawn_emulator, kind=SubprocessEmulator)


TRAIN_LINE = re.compile(r"^\s*(\+|-/\+)\s+(train|retrain)\b", re.M)  # a plan line that starts a paid job
ADOPT_LINE = re.compile(r"^\s*<\s+adopt\s+([\w-]+)\s+live ", re.M)  # a plan line that adopts a live resource
ADOPTED_LINE = re.compile(r"^< adopt ([\w-]+): recorded ", re.M)  # the outcome line of an adopt
CHANGE_LINE = re.compile(r"^\s*(?:\+|-/\+|~|!|-|<|x|=)\s+(\w+)\s+([\w-]+)\s", re.M)  # any plan line


def changes(out: str) -> list[tuple[str, str]]:
    """The (action, name) of every plan line, in order (noops included)."""
    return CHANGE_LINE.findall(out)


def said(result) -> str:
    """The line that explains an exit: the last stderr line that is not a manifest warning."""
    lines = [line for line in result.err.strip().splitlines() if "warning:" not in line]
    return lines[-1] if lines else ""


def creates(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] == "POST" and r["status"] == 200
            and (r["path"].endswith("/tuningJobs") or r["path"] == "/v1beta/tunedModels")]


def two_of_each(repo: Repo) -> dict[str, int]:
    repo.write("vx-a", vertex_manifest("vx-a"))
    repo.write("vx-b", vertex_manifest("vx-b", checkpoints=False))
    repo.write("gm-d", gemini_manifest("gm-d"))
    repo.write("gm-e", gemini_manifest("gm-e", answer="3"))
    return {"vx-a": 1, "vx-b": 1, "gm-d": 1, "gm-e": 1}


# ------------------------------------------------------------------------------ 2. ambiguous creates


AMBIGUOUS = {
    # commit, then the connection drops: the job exists, the answer is lost
    "vertex-drop": ("vertex", [{"method": "POST", "path": "*/tuningJobs", "action": "drop", "times": 1}]),
    # 503 without committing: "maybe" to the client; the lookup finds nothing, the create is sent again
    "vertex-503": ("vertex", [{"method": "POST", "path": "*/tuningJobs", "status": 503, "times": 1}]),
    "gemini-drop": ("gemini-api", [{"method": "POST", "path": "/v1beta/tunedModels", "action": "drop",
                                    "times": 1}]),
    # the lookups miss it (404 after the drop, and again right after the 409): the 409 is adopted on a retry
    "gemini-drop-409": ("gemini-api", [
        {"method": "POST", "path": "/v1beta/tunedModels", "action": "drop", "times": 1},
        {"method": "GET", "path": "/v1beta/tunedModels/gm-a-*", "status": 404, "times": 2}]),
}


@pytest.mark.parametrize("case", sorted(AMBIGUOUS))
def test_ambiguous_create_is_adopted_exactly_one_job(start_emulator, tmp_path, case):
    platform, faults = AMBIGUOUS[case]
    emu = start_emulator()
    repo = Repo(tmp_path, emu)
    name = "vx-a" if platform == "vertex" else "gm-a"
    repo.write(name, vertex_manifest(name) if platform == "vertex" else gemini_manifest(name))
    emu.faults(faults)
    result = repo.apply("--wait")
    assert result.code == 0, str(result)
    if "drop" in case:
        assert "answer was lost" in result.out, str(result)
    emu.clear_faults()
    repo.assert_converged()
    counts = census(emu, repo)
    counts.check(f"ambiguous create {case}", expect_jobs={name: 1})
    statuses = [r["status"] for r in emu.requests() if r["method"] == "POST"]
    print(f"create answers: {statuses}")
    if case == "gemini-drop-409":
        assert statuses == [200, 409], statuses  # the first landed (answer dropped), the repeat was refused
    elif case == "vertex-503":
        assert statuses == [503, 200], statuses
    else:
        assert statuses == [200], statuses


# ------------------------------------------------------------------------------ 3. 429/503 storm


def test_storm_of_429_and_503_on_every_method_converges_without_duplicates(start_emulator, tmp_path):
    emu = start_emulator("--fault-seed", "7")
    repo = Repo(tmp_path, emu)
    expected = two_of_each(repo)
    repo.write("vx-c", vertex_manifest("vx-c", checkpoints=False))
    expected["vx-c"] = 1
    # 30% of every request fails: 15% throttled (429 + Retry-After), 15% of the rest unavailable (503)
    emu.faults([{"method": "*", "status": 429, "probability": 0.15, "retryAfterSeconds": 1},
                {"method": "*", "status": 503, "probability": 0.1765}], seed=7)
    started = time.monotonic()
    runs = []
    for _ in range(4):
        result = repo.apply("--wait", timeout=90)
        runs.append(result.code)
        plan = repo.plan()
        if result.code == 0 and plan.code == 0:
            break
    elapsed = time.monotonic() - started
    log = emu.requests()
    faulted = sum(1 for r in log if r.get("fault"))
    total = len(log)
    emu.clear_faults()
    print(f"\nstorm: {total} requests, {faulted} faulted ({100 * faulted / total:.0f}%), "
          f"apply exit codes {runs}, {elapsed:.1f}s")
    repo.assert_converged()
    census(emu, repo).check("storm", expect_jobs=expected)
    # No bound on wall time (the backoff is jittered and the machine may be busy): each apply is bounded by its
    # timeout, and the emulator's own log shows the storm: both kinds of fault, on a good share of the calls.
    assert faulted >= total * 0.15, "the storm did not happen"
    assert {r["status"] for r in log if r.get("fault")} == {429, 503}, log


# ------------------------------------------------------------------------------ 4. concurrent applies


def test_two_concurrent_applies_one_proceeds_the_other_exits_4_naming_the_holder(start_emulator, tmp_path):
    emu = start_emulator()
    repo = Repo(tmp_path, emu)
    expected = two_of_each(repo)
    emu.faults([{"method": "POST", "path": "*/tuningJobs", "latencyMs": 5000}])  # the first run holds the lock
    first = repo.start("apply", "m", "--yes")
    run_lock = repo.manifests / "reconciler.lock.lock"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if run_lock.exists() and f'"pid": {first.pid}' in run_lock.read_text():
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the first apply never took the run lock")
    second = repo.apply()
    done = repo.finish(first, ("apply", "(first)"))
    print(f"\nconcurrent applies: first exit {done.code}, second exit {second.code}: {said(second)}")
    assert second.code == 4, str(second)
    assert f"pid {first.pid}" in second.err, str(second)
    assert done.code == 0, str(done)
    emu.clear_faults()
    census(emu, repo).check("concurrent applies", expect_jobs=expected)
    assert not run_lock.exists()
    result = repo.apply("--wait")
    assert result.code == 0, str(result)
    repo.assert_converged()
    census(emu, repo).check("concurrent applies, converged", expect_jobs=expected)


# ------------------------------------------------------------------------------ 5. lock damaged or lost


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "deleted", "deleted-while-training"])
def test_damaged_or_lost_lock_is_a_clear_error_or_rebuilt_and_nothing_is_retrained(start_emulator, tmp_path, damage):
    emu = start_emulator(job_duration=1.0 if damage != "deleted-while-training" else 30.0)
    repo = Repo(tmp_path, emu)
    expected = two_of_each(repo)
    result = repo.apply(*(() if damage == "deleted-while-training" else ("--wait",)))
    assert result.code == 0, str(result)
    text = repo.lock_path.read_text()
    backup = repo.manifests / ".reconciler" / "reconciler.lock.backup"  # where git does not see it
    assert backup.exists()  # every create wrote the lock: the previous version is kept
    if damage == "truncated":
        repo.lock_path.write_text(text[: len(text) // 2])
    elif damage == "corrupted":
        repo.lock_path.write_bytes(b'{"version": 1, "lineage": \x00\xff garbage')
    else:
        repo.lock_path.unlink()
        backup.unlink(missing_ok=True)

    if damage in ("truncated", "corrupted"):
        for command in (("plan", "m"), ("apply", "m", "--yes")):
            refused = repo.run(*command)
            print(f"\n{damage} lock, {command[0]}: exit {refused.code}: {said(refused)}")
            assert refused.code == 1, str(refused)
            assert "reconciler.lock is corrupt" in refused.err and \
                ".reconciler/reconciler.lock.backup or delete it" in refused.err, str(refused)
        assert len(creates(emu)) == 4
        repo.lock_path.write_bytes(backup.read_bytes())  # the advice: restore the backup
    else:
        plan = repo.plan()
        assert plan.code == 2 and not TRAIN_LINE.search(plan.out), str(plan)
        assert sorted(ADOPT_LINE.findall(plan.out)) == sorted(expected), str(plan)  # each manifest, once
        assert f"Plan: {len(expected)} to adopt." in plan.out, str(plan)
    rebuilt = repo.apply()
    assert rebuilt.code == 0, str(rebuilt)
    if damage == "deleted-while-training":
        assert not TRAIN_LINE.search(rebuilt.out), str(rebuilt)
        assert sorted(ADOPT_LINE.findall(rebuilt.out)) == sorted(expected), str(rebuilt)
        assert sorted(ADOPTED_LINE.findall(rebuilt.out)) == sorted(expected), str(rebuilt)
        assert f"Apply: {len(expected)} done." in rebuilt.out, str(rebuilt)
        emu.advance(30)
    repo.assert_converged()
    census(emu, repo).check(f"lock {damage}", expect_jobs=expected)
    assert len(creates(emu)) == 4, "something was trained twice"


# ------------------------------------------------------------------------------ 6. out-of-band changes


def test_out_of_band_deletion_label_edit_and_failed_job_are_facts_never_retrained(start_emulator, tmp_path):
    emu = start_emulator(job_duration=30.0)  # vx-f must still be running, whatever the load, when it is failed
    repo = Repo(tmp_path, emu)
    expected = two_of_each(repo)
    assert repo.apply().code == 0
    emu.advance(30)
    repo.write("vx-f", vertex_manifest("vx-f", checkpoints=False))
    assert repo.apply().code == 0
    expected["vx-f"] = 1
    vx_a, vx_b, vx_f = emu.job_of("vx-a"), emu.job_of("vx-b"), emu.job_of("vx-f")
    emu.admin("POST", "resources:delete", {"name": vx_a["tunedModel"]["model"].split("@")[0]})
    emu.admin("POST", "resources:delete", {"name": "tunedModels/" + next(
        m["name"].split("/")[1] for m in emu.listing("/v1beta/tunedModels", "tunedModels")
        if m["name"].startswith("tunedModels/gm-d-"))})
    model_b = vx_b["tunedModel"]["model"].split("@")[0]
    labels = {**emu.get(f"/v1/{model_b}")["labels"], "team": "edited-by-hand"}
    emu.admin("POST", "resources:patch", {"name": model_b, "labels": labels})
    emu.admin("POST", "resources:fail", {"name": vx_f["name"], "message": "dataset row 17 is malformed"})

    plan = repo.plan()
    print(f"\nout-of-band: plan exit {plan.code}\n{plan.out}")
    assert plan.code == 2, str(plan)
    assert changes(plan.out) == [("update", "vx-b"), ("noop", "gm-d"), ("noop", "gm-e"), ("noop", "vx-a"),
                                 ("noop", "vx-f")], str(plan)  # facts first, then changes, then what is in sync
    assert 'labels.team: "edited-by-hand" → "rel"' in plan.out and "Plan: 1 to update." in plan.out, str(plan)
    assert plan.out.count("deleted out of band") == 2, str(plan)
    assert "FAILED" in plan.out and "dataset row 17 is malformed" in plan.out, str(plan)
    assert not TRAIN_LINE.search(plan.out), str(plan)
    before = len(creates(emu))
    result = repo.apply("--wait")
    assert result.code == 0, str(result)
    assert len(creates(emu)) == before, "apply retrained something on its own"
    patches = [r for r in emu.requests() if r["method"] == "PATCH"]
    assert len(patches) == 1 and patches[0]["path"].endswith(model_b.split("/", 2)[2]), patches
    after = repo.plan()  # nothing to change, but the facts remain: a drift check still exits 2
    assert after.code == 2 and "no changes" in after.out and "3 facts need attention" in after.out, str(after)
    assert after.out.count("deleted out of band") == 2 and "FAILED" in after.out, str(after)
    census(emu, repo).check("out-of-band", expect_jobs=expected)


# ------------------------------------------------------------------------------ 7. cancel that does not take


def test_cancel_that_does_not_take_is_recorded_and_never_repeated(start_emulator, tmp_path):
    emu = start_emulator(job_duration=30.0)
    repo = Repo(tmp_path, emu)
    repo.write("vx-g", vertex_manifest("vx-g"))
    repo.write("gm-d", gemini_manifest("gm-d"))
    assert repo.apply().code == 0
    job = emu.job_of("vx-g")
    emu.admin("POST", "resources:ignoreCancel", {"name": job["name"]})
    repo.remove("vx-g")
    repo.remove("gm-d")
    cancelled = repo.apply()
    assert cancelled.code == 0, str(cancelled)
    entry = json.loads(repo.lock_path.read_text())["entries"]["vx-g"]
    assert entry["current"]["phase"] == "cancelling", entry
    assert "gm-d" not in json.loads(repo.lock_path.read_text())["entries"]  # the Gemini tune: stopped by delete

    for _ in range(2):  # while it is still (not) cancelling: nothing to do, and no second cancel
        again = repo.plan()
        assert again.code == 0 and "being cancelled" in again.out, str(again)
        assert repo.apply().code == 0
    emu.advance(30)  # the cancel did not take: the job ends SUCCEEDED with a model and endpoints
    assert emu.job_of("vx-g")["state"] == "JOB_STATE_SUCCEEDED"
    plan = repo.plan()
    assert plan.code == 2 and changes(plan.out) == [("delete", "vx-g")], str(plan)
    assert repo.apply("--wait").code == 0
    repo.assert_converged()
    cancels = [r for r in emu.requests() if r["path"].endswith(":cancel")]
    print(f"\ncancel that does not take: {len(cancels)} cancel request(s)")
    assert len(cancels) == 1
    census(emu, repo).check("cancel ignored", expect_jobs={"vx-g": 1, "gm-d": 1})
    assert not emu.listing(f"/v1/{PARENT}/models", "models")
    assert not emu.listing(f"/v1/{PARENT}/endpoints", "endpoints")


def test_restart_whose_cancel_does_not_take_retires_the_old_model_once_the_new_one_succeeds(start_emulator, tmp_path):
    emu = start_emulator(job_duration=30.0)
    repo = Repo(tmp_path, emu)
    repo.write("vx-r", vertex_manifest("vx-r", checkpoints=False))
    assert repo.apply().code == 0
    emu.admin("POST", "resources:ignoreCancel", {"name": emu.job_of("vx-r")["name"]})
    repo.write("vx-r", vertex_manifest("vx-r", checkpoints=False, epochs=3))  # immutable: restart
    restarted = repo.apply()
    assert restarted.code == 0 and "cancel" in restarted.out, str(restarted)
    assert repo.apply().code == 0  # nothing more to do: no second cancel, no third job
    emu.advance(30)  # both end SUCCEEDED: the old one because its cancel did not take
    retire = repo.plan()
    assert retire.code == 2 and "retire" in retire.out, str(retire)
    assert repo.apply().code == 0
    repo.assert_converged()
    cancels = [r for r in emu.requests() if r["path"].endswith(":cancel")]
    counts = census(emu, repo)
    counts.check("restart, cancel ignored", expect_jobs={"vx-r": 2})
    assert len(cancels) == 1
    assert len(emu.listing(f"/v1/{PARENT}/models", "models")) == 1


# ------------------------------------------------------------------------------ 8. saved plans


def test_stale_saved_plan_is_refused_and_the_same_plan_twice_makes_one_job(start_emulator, tmp_path):
    emu = start_emulator()
    repo = Repo(tmp_path, emu)
    repo.write("vx-a", vertex_manifest("vx-a", checkpoints=False))
    repo.write("gm-d", gemini_manifest("gm-d"))
    saved = repo.run("plan", "m", "--out", "first.json")
    assert saved.code == 0, str(saved)
    stale = repo.run("plan", "m", "--out", "stale.json", "--target", "vx-a")  # another plan (the same content is the same plan)
    assert stale.code == 0
    applied = repo.run("apply", "first.json")
    assert applied.code == 0, str(applied)
    twice = repo.run("apply", "first.json")
    print(f"\nsame saved plan twice: exit {applied.code}, then exit {twice.code}: {said(twice)}")
    assert twice.code == 0 and "already applied" in twice.out + twice.err, str(twice)  # only follow-ups left
    other = repo.run("apply", "stale.json")
    assert other.code == 1 and "stale" in other.err, str(other)

    emu.advance(2)
    repo.assert_converged()
    repo.write("vx-a", vertex_manifest("vx-a", checkpoints=False, display="renamed"))
    assert repo.run("plan", "m", "--out", "rename.json").code == 0
    model = emu.job_of("vx-a")["tunedModel"]["model"].split("@")[0]
    emu.admin("POST", "resources:patch", {"name": model, "description": "edited out of band"})
    moved = repo.run("apply", "rename.json")
    assert moved.code == 1 and "stale" in moved.err and "live resources changed" in moved.err, str(moved)
    census(emu, repo).check("saved plans", expect_jobs={"vx-a": 1, "gm-d": 1})


# ------------------------------------------------------------------------------ continuous tuning


def test_a_continuation_that_would_share_its_upstreams_model_is_refused_before_any_call(start_emulator, tmp_path):
    """Same (or no) displayName in Vertex continuous tuning makes the job a new version of the upstream's Model,
    whose display name, description and labels two manifests would then fight over: refused offline."""
    emu = start_emulator()
    repo = Repo(tmp_path, emu)
    repo.write("vx-a", vertex_manifest("vx-a", display="shared model"))
    repo.write("vx-c", vertex_manifest("vx-c", display="shared model", from_manifest="vx-a"))
    result = repo.apply("--wait")
    assert result.code == 1, str(result)
    assert "give this manifest its own displayName" in result.err, str(result)
    assert [r for r in emu.requests() if r["method"] != "GET"] == []
