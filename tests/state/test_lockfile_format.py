"""The lock file's format, its round trip, its error messages and its atomic, backed-up writes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import LockfileError
from reconciler.observed import GENERATION_KEYS, TELEMETRY_FIELDS, VOLATILE_FIELDS, Generation
from reconciler.state import codec, fast_decode
from reconciler.state.local import LocalBackend
from reconciler.state.model import FORMAT_VERSION, AppliedSpec, Intent, Lock, LockEntry

REPO = Path(__file__).resolve().parents[2]
LINEAGE = "6f1c2a7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f"
VERTEX_SCOPE = "projects/acme/locations/us-central1"


def vertex_entry() -> LockEntry:
    """As the lock holds it: no progress, loss or raw state (they move while a job trains; see `watched`)."""
    running = Generation(platform="vertex", owner="support-bot", digest="d2", phase="running",
                         job=f"{VERTEX_SCOPE}/tuningJobs/2", intent="i2", create_time="2026-11-21T09:00:00Z")
    serving = Generation(platform="vertex", owner="support-bot", digest="d1", phase="succeeded",
                         job=f"{VERTEX_SCOPE}/tuningJobs/1", model=f"{VERTEX_SCOPE}/models/7@1",
                         endpoints=(f"{VERTEX_SCOPE}/endpoints/8", f"{VERTEX_SCOPE}/endpoints/9"),
                         live={"displayName": "Support bot", "labels": {"team": "support"}},
                         intent="i1", create_time="2026-11-20T09:00:00Z")
    return LockEntry(name="support-bot", platform="vertex", project="acme", location="us-central1",
                     digest="d2", spec=AppliedSpec(immutable={"baseModel": "gemini-2.5-flash"},
                                                     mutable={"displayName": "Support bot"}),
                     current=running, superseded=(serving,), protect=True)


def gemini_entry() -> LockEntry:
    return LockEntry(name="faq-bot", platform="gemini-api", project=None, location=None, digest="d9",
                     spec=AppliedSpec(immutable={"epochCount": 5}, mutable={"displayName": "FAQ — ünïcode"}),
                     current=None, pending=Intent(id="0f3c", action="train", digest="d9",
                                                  created_at="2026-11-21T09:00:00Z"))


def sample_lock(serial: int = 0) -> Lock:
    lock = Lock(version=FORMAT_VERSION, lineage=LINEAGE, serial=serial, digest_algorithm="sha256-v1")
    return lock.with_entry(vertex_entry()).with_entry(gemini_entry())


# --- round trip and formatting --------------------------------------------------------------------------


def test_round_trip_through_json_and_disk(tmp_path):
    lock = sample_lock()
    assert codec.from_json(json.loads(json.dumps(codec.to_json(lock)))) == lock
    written = LocalBackend(tmp_path / "reconciler.lock").write(lock)
    assert LocalBackend(tmp_path / "reconciler.lock").read() == written == sample_lock(serial=1)


def test_every_generation_field_is_stored_in_camel_case():
    """A field added to observed.Generation needs its declared spelling (observed.GENERATION_KEYS) and its JSON
    kind (fast_decode.GENERATION_KINDS): renaming an attribute must never silently rename a key in a file."""
    names = {f.name for f in dataclasses.fields(Generation)}
    read = names - TELEMETRY_FIELDS  # a loss curve or data stats never reached a lock; progress, loss, state did
    committed = names - VOLATILE_FIELDS  # what moves while a job trains never reaches the lock (no lock diff)
    assert set(GENERATION_KEYS) == names and set(fast_decode.GENERATION_KINDS) == read
    stored = set(codec.to_json(sample_lock())["entries"]["support-bot"]["current"])
    assert stored == {GENERATION_KEYS[name] for name in committed}
    assert {"modelExists", "createTime"} <= stored


def test_the_plan_fingerprint_spells_a_generation_as_the_lock_does():
    from reconciler.observed import ObservedState

    generation = sample_lock().entries["support-bot"].current
    state = ObservedState(generations=(generation,), scopes=("vertex:acme:us-central1",))
    volatile = {GENERATION_KEYS[name] for name in VOLATILE_FIELDS}
    in_plan = {k: v for k, v in state.to_json()["generations"][0].items() if k not in volatile}
    assert in_plan == codec.to_json(sample_lock())["entries"]["support-bot"]["current"]
    assert ObservedState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_training_telemetry_round_trips_in_observed_state_but_never_reaches_the_lock():
    from reconciler.observed import ObservedState

    lock = sample_lock()
    entry = lock.entries["support-bot"]
    watched = dataclasses.replace(entry.current, loss_history=((1, 2.5), (2, 1.25)), start_time="2026-01-01T00:00:00Z",
                                  data_stats={"examples": 500, "tokens": 150000, "steps": 32})
    state = ObservedState(generations=(watched,))
    assert ObservedState.from_json(json.loads(json.dumps(state.to_json()))) == state
    stored = codec.to_json(dataclasses.replace(lock, entries={**lock.entries,
                                                              "support-bot": dataclasses.replace(entry, current=watched)}))
    assert stored == codec.to_json(lock)


def watched(generation: Generation) -> Generation:
    """`generation` as a poll mid-training sees it: every volatile field moving."""
    return dataclasses.replace(generation, progress=40.0, loss=0.25, state="JOB_STATE_RUNNING",
                               loss_history=((1, 2.5), (2, 1.25)), start_time="2026-01-01T00:00:00Z",
                               data_stats={"examples": 500, "tokens": 150000, "steps": 32})


def test_what_moves_while_a_job_trains_never_reaches_the_lock():
    lock = sample_lock()
    entry = lock.entries["support-bot"]
    polled = dataclasses.replace(entry, current=watched(entry.current),
                                 superseded=tuple(watched(g) for g in entry.superseded))
    assert codec.to_json(lock.with_entry(polled)) == codec.to_json(lock)
    assert codec.Encoder().dumps(lock.with_entry(polled)) == codec.Encoder().dumps(lock)


def test_a_lock_written_with_progress_loss_and_state_is_still_read_and_rewritten_without_them(tmp_path):
    """Locks written before volatile fields were left out carry them: read, and dropped at the next write."""
    data = codec.to_json(sample_lock())
    bot(data)["current"].update(progress=40.0, loss=0.25, state="JOB_STATE_RUNNING")
    bot(data)["superseded"][0].update(progress=None, loss=None, state="JOB_STATE_SUCCEEDED")
    path = tmp_path / "reconciler.lock"
    path.write_text(json.dumps(data, indent=2))
    old = LocalBackend(path).read()
    assert (old.entries["support-bot"].current.progress, old.entries["support-bot"].current.state) == (
        40.0, "JOB_STATE_RUNNING")
    LocalBackend(path).write(old)
    rewritten = json.loads(path.read_text())
    assert rewritten["entries"] == codec.to_json(sample_lock())["entries"]
    assert not {"progress", "loss", "state"} & set(bot(rewritten)["current"])


def test_a_generation_with_only_its_required_keys_takes_the_defaults():
    data = codec.to_json(sample_lock())
    entry = data["entries"]["support-bot"]
    entry["current"] = {"platform": "vertex", "owner": "support-bot", "digest": "d2", "phase": "pending"}
    for key in ("superseded", "pending", "protect"):
        del entry[key]
    decoded = codec.from_json(data).entries["support-bot"]
    # "pending" is the word older locks wrote for what is now "queued"
    assert decoded.current == Generation(platform="vertex", owner="support-bot", digest="d2", phase="queued")
    assert (decoded.superseded, decoded.pending, decoded.protect) == ((), None, False)


GOLDEN = """\
{
  "digestAlgorithm": "sha256-v1",
  "entries": {
    "faq-bot": {
      "current": null,
      "digest": "d9",
      "location": null,
      "pending": {
        "action": "train",
        "createdAt": "2026-11-21T09:00:00Z",
        "digest": "d9",
        "id": "0f3c"
      },
      "platform": "gemini-api",
      "project": null,
      "protect": false,
      "spec": {
        "immutable": {
          "epochCount": 5
        },
        "mutable": {
          "displayName": "FAQ — ünïcode"
        }
      },
      "superseded": []
    },
    "tiny-bot": {
      "current": {
        "createTime": "",
        "digest": "d1",
        "endpoints": [],
        "error": "",
        "intent": "",
        "job": null,
        "live": {},
        "model": "tunedModels/tiny-bot-d1",
        "modelExists": true,
        "operation": "",
        "owner": "tiny-bot",
        "phase": "succeeded",
        "platform": "gemini-api"
      },
      "digest": "d1",
      "location": null,
      "pending": null,
      "platform": "gemini-api",
      "project": null,
      "protect": false,
      "spec": {},
      "superseded": []
    }
  },
  "lineage": "6f1c2a7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f",
  "serial": 1,
  "version": 3
}
"""


def test_file_format_is_sorted_indented_and_stable(tmp_path):
    tiny = LockEntry(name="tiny-bot", platform="gemini-api", project=None, location=None, digest="d1", spec=AppliedSpec(),
                     current=Generation(platform="gemini-api", owner="tiny-bot", digest="d1", phase="succeeded",
                                        model="tunedModels/tiny-bot-d1", state="ACTIVE"))
    # entries inserted out of order are still written sorted by name
    lock = Lock(version=1, lineage=LINEAGE, serial=0, digest_algorithm="sha256-v1").with_entry(tiny)
    LocalBackend(tmp_path / "reconciler.lock").write(lock.with_entry(gemini_entry()))
    assert (tmp_path / "reconciler.lock").read_text(encoding="utf-8") == GOLDEN


def test_pure_updates_leave_the_serial_alone():
    lock = sample_lock()
    updated = lock.without("faq-bot").with_entry(gemini_entry())
    assert updated == lock and updated.serial == 0
    assert list(lock.without("support-bot").entries) == ["faq-bot"]
    assert lock.without("no-such-bot") == lock


def test_empty_lock_has_a_fresh_lineage_at_serial_zero():
    first, second = Lock.empty("sha256-v1"), Lock.empty("sha256-v1")
    assert (first.version, first.serial, dict(first.entries), first.digest_algorithm) == (3, 0, {}, "sha256-v1")
    assert first.lineage != second.lineage


def test_intent_ids_are_valid_vertex_label_values():
    intent = Intent.new("train", "d1")
    assert len(intent.id) == 32 and intent.id.isalnum() and intent.id.islower()
    assert Intent.new("train", "d1").id != intent.id


# --- serial, backup, compare-and-swap -------------------------------------------------------------------


def backup_of(lock: Path) -> Path:
    """Where the previous version is kept: in `.reconciler/` beside the lock, which git ignores (never committed)."""
    return lock.parent / ".reconciler" / f"{lock.name}.backup"


def test_each_write_increments_the_serial_and_backs_up_the_previous_file(tmp_path):
    path = tmp_path / "reconciler.lock"
    assert LocalBackend(path).read() is None
    first = LocalBackend(path).write(sample_lock())
    assert first.serial == 1 and not backup_of(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reconciler.lock"]  # no backup yet: no directory
    first_text = path.read_text()
    second = LocalBackend(path).write(first.without("faq-bot"))
    assert second.serial == 2 and list(second.entries) == ["support-bot"]
    assert backup_of(path).read_text() == first_text
    assert LocalBackend(backup_of(path)).read() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [".reconciler", "reconciler.lock"]
    assert sorted(p.name for p in (tmp_path / ".reconciler").iterdir()) == [".gitignore", "reconciler.lock.backup"]
    assert (tmp_path / ".reconciler" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_write_keeps_the_file_mode(tmp_path):
    path = tmp_path / "reconciler.lock"
    written = LocalBackend(path).write(sample_lock())
    path.chmod(0o640)
    LocalBackend(path).write(written)
    assert path.stat().st_mode & 0o777 == 0o640
    assert backup_of(path).stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("stale, expected", [
    (lambda lock: lock, "serial 2 of lineage {l}; this run read serial 1 of lineage {l}"),
    (lambda lock: Lock.empty("sha256-v1"), "serial 2 of lineage {l}; this run read serial 0 of lineage {o}"),
], ids=["older-serial", "other-lineage"])
def test_write_refuses_to_overwrite_a_lock_that_moved(tmp_path, stale, expected):
    path = tmp_path / "reconciler.lock"
    first = LocalBackend(path).write(sample_lock())
    LocalBackend(path).write(first)  # another run wrote serial 2
    before = path.read_bytes()
    mine = stale(first)
    with pytest.raises(LockfileError) as err:
        LocalBackend(path).write(mine)
    detail = expected.format(l=LINEAGE, o=mine.lineage)
    assert str(err.value) == (f"{path} changed since it was read (it is now {detail}); another run or a "
                              f"checkout replaced it: run the command again")
    assert path.read_bytes() == before


def test_write_replaces_a_corrupt_file_but_keeps_it_as_the_backup(tmp_path):
    path = tmp_path / "reconciler.lock"
    path.write_text('{"version": 1, "lin')
    written = LocalBackend(path).write(Lock.empty("sha256-v1"))
    assert LocalBackend(path).read() == written
    assert backup_of(path).read_text() == '{"version": 1, "lin'


def test_write_refuses_to_downgrade_a_newer_file(tmp_path):
    path = tmp_path / "reconciler.lock"
    path.write_text(json.dumps({"version": 4}))
    with pytest.raises(LockfileError, match="written by a newer reconciler"):
        LocalBackend(path).write(Lock.empty("sha256-v1"))
    assert json.loads(path.read_text()) == {"version": 4}


# --- read errors ----------------------------------------------------------------------------------------


def valid() -> dict:
    return codec.to_json(sample_lock(serial=3))


def edited(change) -> str:
    data = valid()
    change(data)
    return json.dumps(data, indent=2)


def bot(data: dict) -> dict:
    return data["entries"]["support-bot"]


NO_BACKUP = "delete it to rebuild ownership from live resources (there is no {b})"

READ_ERRORS = [
    ("empty", b"", "{p} is corrupt (the file is empty); " + NO_BACKUP),
    ("blank", b" \n\n", "{p} is corrupt (the file is empty); " + NO_BACKUP),
    ("not-json", b"version = 1\n", "{p} is corrupt (line 1: Expecting value); " + NO_BACKUP),
    ("truncated", b'{\n  "digestAlgorithm": "sha256-v1",\n  "entries": {\n    "bot": {\n',
     "{p} is corrupt (line 5: Expecting property name enclosed in double quotes); " + NO_BACKUP),
    ("conflict-markers", b'{\n<<<<<<< HEAD\n  "serial": 4,\n', "{p} is corrupt (line 2: Expecting property name "
     "enclosed in double quotes); " + NO_BACKUP),
    ("binary", b"\x00\xff\xfe", "{p} is corrupt (not UTF-8 text at byte 1); " + NO_BACKUP),
    ("list", b"[]", "{p} is corrupt (the top level is a list, expected an object); " + NO_BACKUP),
    ("string", b'"lock"', "{p} is corrupt (the top level is a string, expected an object); " + NO_BACKUP),
    ("newer", b'{"version": 4, "whatever": "format 4 holds"}',
     "{p} was written by a newer reconciler (format 4; this one reads format 3); upgrade reconciler"),
    ("version-missing", edited(lambda d: d.pop("version")).encode(),
     "{p} is corrupt (missing key 'version'); " + NO_BACKUP),
    ("version-string", edited(lambda d: d.update(version="1")).encode(),
     "{p} is corrupt (version: expected an integer, got a string); " + NO_BACKUP),
    ("version-zero", edited(lambda d: d.update(version=0)).encode(),
     "{p} is corrupt (version: expected a positive integer, got 0); " + NO_BACKUP),
    ("lineage-missing", edited(lambda d: d.pop("lineage")).encode(),
     "{p} is corrupt (missing key 'lineage'); " + NO_BACKUP),
    ("serial-float", edited(lambda d: d.update(serial=1.5)).encode(),
     "{p} is corrupt (serial: expected an integer, got a number); " + NO_BACKUP),
    ("serial-negative", edited(lambda d: d.update(serial=-1)).encode(),
     "{p} is corrupt (serial: expected a non-negative integer, got -1); " + NO_BACKUP),
    ("unknown-key", edited(lambda d: d.update(owner="me")).encode(),
     "{p} is corrupt (unknown key 'owner'); " + NO_BACKUP),
    ("entries-list", edited(lambda d: d.update(entries=[])).encode(),
     "{p} is corrupt (entries: expected an object, got a list); " + NO_BACKUP),
    ("entry-not-object", edited(lambda d: d["entries"].update({"support-bot": None})).encode(),
     "{p} is corrupt (entries.support-bot: expected an object, got null); " + NO_BACKUP),
    ("entry-digest-missing", edited(lambda d: bot(d).pop("digest")).encode(),
     "{p} is corrupt (entries.support-bot: missing key 'digest'); " + NO_BACKUP),
    ("entry-protect-string", edited(lambda d: bot(d).update(protect="yes")).encode(),
     "{p} is corrupt (entries.support-bot.protect: expected true or false, got a string); " + NO_BACKUP),
    ("entry-project-number", edited(lambda d: bot(d).update(project=7)).encode(),
     "{p} is corrupt (entries.support-bot.project: expected a string or null, got an integer); " + NO_BACKUP),
    ("phase-unknown", edited(lambda d: bot(d)["current"].update(phase="RUNNING")).encode(),
     "{p} is corrupt (entries.support-bot.current.phase: unknown phase 'RUNNING' (one of cancelled, "
     "cancelling, expired, failed, queued, running, succeeded)); " + NO_BACKUP),
    ("generation-snake-case", edited(lambda d: bot(d)["current"].update(model_exists=True)).encode(),
     "{p} is corrupt (entries.support-bot.current: unknown key 'model_exists'); " + NO_BACKUP),
    ("endpoint-number", edited(lambda d: bot(d)["superseded"][0]["endpoints"].append(3)).encode(),
     "{p} is corrupt (entries.support-bot.superseded[0].endpoints[2]: expected a string, got an integer); "
     + NO_BACKUP),
    ("entry-platform-unknown", edited(lambda d: bot(d).update(platform="sagemaker")).encode(),
     "{p} is corrupt (entries.support-bot.platform: unknown platform 'sagemaker' (one of vertex, gemini-api)); "
     + NO_BACKUP),
    ("generation-platform-unknown", edited(lambda d: bot(d)["current"].update(platform="")).encode(),
     "{p} is corrupt (entries.support-bot.current.platform: unknown platform '' (one of vertex, gemini-api)); "
     + NO_BACKUP),
    ("spec-unknown-part", edited(lambda d: bot(d)["spec"].update(labels={})).encode(),
     "{p} is corrupt (entries.support-bot.spec: unknown key 'labels'); " + NO_BACKUP),
    ("spec-policy-null", edited(lambda d: bot(d)["spec"].update(policy=None)).encode(),
     "{p} is corrupt (entries.support-bot.spec.policy: expected an object, got null); " + NO_BACKUP),
    ("intent-missing-id", edited(lambda d: bot(d).update(pending={"action": "train", "digest": "d",
                                                                   "createdAt": ""})).encode(),
     "{p} is corrupt (entries.support-bot.pending: missing key 'id'); " + NO_BACKUP),
    ("trained-on-generation-number", edited(lambda d: bot(d).update(trainedOn=[{"uri": "gs://b/t.jsonl",
                                                                                 "generation": 17}])).encode(),
     "{p} is corrupt (entries.support-bot.trainedOn[0].generation: expected a string, got an integer); "
     + NO_BACKUP),
    ("trained-on-unknown-key", edited(lambda d: bot(d).update(trainedOn=[{"uri": "gs://b/t.jsonl", "generation": "1",
                                                                           "etag": "x"}])).encode(),
     "{p} is corrupt (entries.support-bot.trainedOn[0]: unknown key 'etag'); " + NO_BACKUP),
    ("estimate-list", edited(lambda d: bot(d).update(estimate=[])).encode(),
     "{p} is corrupt (entries.support-bot.estimate: expected an object, got a list); " + NO_BACKUP),
]


@pytest.mark.parametrize("content, expected", [case[1:] for case in READ_ERRORS], ids=[c[0] for c in READ_ERRORS])
def test_unusable_files_are_explained(tmp_path, content, expected):
    path = tmp_path / "reconciler.lock"
    path.write_bytes(content)
    with pytest.raises(LockfileError) as err:
        LocalBackend(path).read()
    assert str(err.value) == expected.format(p=path, b=backup_of(path))
    assert err.value.exit_code == 1


def test_corrupt_file_with_a_backup_suggests_restoring_it(tmp_path):
    path = tmp_path / "reconciler.lock"
    written = LocalBackend(path).write(sample_lock())
    LocalBackend(path).write(written)
    path.write_text(path.read_text()[:40])
    with pytest.raises(LockfileError) as err:
        LocalBackend(path).read()
    assert str(err.value) == (f"{path} is corrupt (line 3: Unterminated string starting at); restore "
                              f"{tmp_path}/.reconciler/reconciler.lock.backup or delete it to rebuild ownership "
                              "from live resources")


def test_unreadable_path_is_explained(tmp_path):
    (tmp_path / "reconciler.lock").mkdir()
    with pytest.raises(LockfileError, match=r"^cannot read .*reconciler.lock: Is a directory$"):
        LocalBackend(tmp_path / "reconciler.lock").read()


def test_another_digest_algorithm_is_read_for_the_caller_to_handle(tmp_path):
    path = tmp_path / "reconciler.lock"
    path.write_text(edited(lambda d: d.update(digestAlgorithm="sha256-v0")))
    assert LocalBackend(path).read().digest_algorithm == "sha256-v0"


# --- atomicity ------------------------------------------------------------------------------------------


def failing_on_call(real, n: int, error: BaseException):
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            raise error
        return real(*args, **kwargs)
    return fake


@pytest.mark.parametrize("function, call, private", [
    ("fsync", 1, []),  # while creating .reconciler/.gitignore (the first backup makes the directory)
    ("replace", 1, [".gitignore"]),  # while writing the backup
    ("fsync", 2, [".gitignore"]),  # the backup's temp file
    ("fsync", 3, [".gitignore", "reconciler.lock.backup"]),  # making the backup durable
    ("fsync", 4, [".gitignore", "reconciler.lock.backup"]),  # the lock's temp file
    ("replace", 2, [".gitignore", "reconciler.lock.backup"]),  # while replacing the lock itself
])
def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, function, call, private):
    path = tmp_path / "reconciler.lock"
    old = LocalBackend(path).write(sample_lock())
    old_text = path.read_text()
    disk_full = OSError(28, "No space left on device")
    monkeypatch.setattr(os, function, failing_on_call(getattr(os, function), call, disk_full))
    with pytest.raises(LockfileError) as err:
        LocalBackend(path).write(old.without("faq-bot"))
    assert str(err.value) == f"cannot write {path}: No space left on device; the previous version is intact"
    assert path.read_text() == old_text
    assert sorted(p.name for p in tmp_path.iterdir()) == [".reconciler", "reconciler.lock"]
    assert sorted(p.name for p in (tmp_path / ".reconciler").iterdir()) == private


def test_an_interrupted_write_cleans_up_and_propagates(tmp_path, monkeypatch):
    path = tmp_path / "reconciler.lock"
    old = LocalBackend(path).write(sample_lock())
    monkeypatch.setattr(os, "replace", failing_on_call(os.replace, 2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        LocalBackend(path).write(old.without("faq-bot"))
    assert LocalBackend(path).read() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [".reconciler", "reconciler.lock"]
    assert sorted(p.name for p in (tmp_path / ".reconciler").iterdir()) == [".gitignore", "reconciler.lock.backup"]


CRASHING_WRITER = """
import os, sys
from reconciler.state.local import LocalBackend
from reconciler.state.model import Lock
path, function, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
real, calls = getattr(os, function), []
def crash(*args, **kwargs):
    calls.append(args)
    if len(calls) == n:
        os._exit(9)  # no cleanup, no flush: as close to a power cut as a test gets
    return real(*args, **kwargs)
setattr(os, function, crash)
lock = LocalBackend(path).read()
LocalBackend(path).write(lock.without("faq-bot"))
"""


@pytest.mark.parametrize("function, call, outcome, leftovers", [
    ("fsync", 1, "old", True),  # backup temp written, not synced
    ("replace", 1, "old", True),  # backup temp synced, not renamed
    ("fsync", 2, "old", False),  # backup renamed, its directory not synced
    ("fsync", 3, "old", True),  # lock temp written, not synced
    ("replace", 2, "old", True),  # lock temp synced, not renamed
    ("fsync", 4, "new", False),  # renamed, directory not synced
    ("fsync", 5, "done", False),  # not reached: the write completes
])
def test_a_crash_at_any_point_leaves_a_complete_lock(tmp_path, function, call, outcome, leftovers):
    path = tmp_path / "reconciler.lock"
    old = LocalBackend(path).write(LocalBackend(path).write(sample_lock()))
    # RECONCILER_CACHE=off: the count is of the write's calls, not those keeping the decoded lock (state.decoded)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECONCILER_CACHE": "off"}
    run = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path), function, str(call)], env=env,
                         timeout=60)
    assert run.returncode == (0 if outcome == "done" else 9)
    new = dataclasses.replace(old.without("faq-bot"), serial=old.serial + 1)
    assert LocalBackend(path).read() == {"old": old, "new": new, "done": new}[outcome]
    assert LocalBackend(backup_of(path)).read() is not None
    temps = [p.name for d in (tmp_path, tmp_path / ".reconciler") for p in d.iterdir() if p.name.endswith(".tmp")]
    assert bool(temps) == leftovers
    # the next run to take the run lock sweeps away the dead writer's temp files, beside the lock and the backup
    with LocalBackend(path).lock("reconciler apply"):
        assert sorted(p.name for p in tmp_path.iterdir()) == [".reconciler", "reconciler.lock", "reconciler.lock.lock"]
        assert sorted(p.name for p in (tmp_path / ".reconciler").iterdir()) == [".gitignore", "reconciler.lock.backup"]


def test_cached_entry_text_is_byte_for_byte_the_plain_encoding(tmp_path):
    """Writes reuse each unchanged entry's text; the file must be what json.dumps would write."""
    import dataclasses
    import json as plain

    path = tmp_path / "reconciler.lock"
    lock = Lock(version=1, lineage=LINEAGE, serial=0, digest_algorithm="sha256/v1")
    for index in range(5):
        entry = dataclasses.replace(vertex_entry(), name=f"bot-{index}", digest=f"d{index}")
        lock = LocalBackend(path).write(lock.with_entry(entry))
        expected = plain.dumps(codec.to_json(lock), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert path.read_text(encoding="utf-8") == expected
    lock = LocalBackend(path).write(lock.with_entry(dataclasses.replace(lock.entries["bot-2"], protect=True)))
    lock = LocalBackend(path).write(lock.without("bot-0").with_entry(gemini_entry()))
    assert path.read_text(encoding="utf-8") == plain.dumps(codec.to_json(lock), sort_keys=True, indent=2,
                                                           ensure_ascii=False) + "\n"
    assert LocalBackend(path).read() == lock
