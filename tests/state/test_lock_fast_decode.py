"""The lock decoder's fast path (fast_decode.entry) against its full decoder (codec._entry_from_json), over a
table of damaged entries: every key of every kind of object in an entry deleted, nulled, given a value of each
other JSON type, or joined by an unknown key; and nested values gone wrong. The fast path may leave any entry to
the full decoder, but never accept one the full decoder refuses, and it makes the same values. The decoder as a
whole accepts and refuses exactly what the full decoder alone does, with the same message."""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import json

import pytest

from reconciler.errors import LockfileError
from reconciler.observed import DataVersion, Generation
from reconciler.plan import binding
from reconciler.state import codec, fast_decode
from reconciler.state.local import LocalBackend
from reconciler.state.model import FORMAT_VERSION, AppliedSpec, Lock, LockEntry

SCOPE = "projects/acme/locations/us-central1"
GENERATION = {"createTime": "2026-11-21T09:00:00Z", "digest": "d2", "endpoints": [f"{SCOPE}/endpoints/8"],
              "error": "", "intent": "i2", "job": f"{SCOPE}/tuningJobs/2", "live": {"displayName": "Bot",
                                                                                     "labels": {"team": "a"}},
              "model": f"{SCOPE}/models/7@1", "modelExists": True, "operation": "", "owner": "bot",
              "phase": "succeeded", "platform": "vertex"}
DATA = {"uri": "gs://b/t.jsonl", "generation": "17", "crc32c": "PT+PFA==", "md5": "wUjI", "size": 151580,
        "created": "2024-06-01T00:00:00Z"}
ENTRY = {  # every kind of object an entry holds, each key present
    "platform": "vertex", "project": "acme", "location": "us-central1", "digest": "d2",
    "spec": {"immutable": {"baseModel": "gemini-2.5-flash"}, "mutable": {"displayName": "Bot"},
             "policy": {"protect": False}, "managedLabels": ["team", "app"]},
    "current": GENERATION,
    "superseded": [{**GENERATION, "job": f"{SCOPE}/tuningJobs/1", "phase": "pending", "progress": 40,
                    "loss": 0.5, "state": "JOB_STATE_PENDING", "model": None, "endpoints": []}],
    "pending": {"id": "0f3c", "action": "train", "digest": "d3", "createdAt": "2026-11-21T09:00:00Z"},
    "protect": True,
    "movedFrom": [{"project": "old", "location": None}],
    "imported": {"key": f"{SCOPE}/tuningJobs/1", "at": "2026-11-20T09:00:00Z", "accepted": ["displayName"]},
    "trainedOn": [DATA, {"uri": "gs://b/v.jsonl", "generation": "", "problem": "missing"}],
    "estimate": {"usd": 1.5, "tokens": None},
}
SMALLEST = {"platform": "gemini-api", "project": None, "location": None, "digest": "d9", "spec": {},
            "current": {"platform": "gemini-api", "owner": "bot", "digest": "d9", "phase": "queued"}}
ENCODED = codec.entry_to_json(LockEntry(  # as the Encoder writes one (what nearly every entry of a lock is)
    name="bot", platform="vertex", project="acme", location="us-central1", digest="d1",
    spec=AppliedSpec(immutable={"baseModel": "gemini-2.5-flash"}, mutable={}, policy={}),
    current=Generation(platform="vertex", owner="bot", digest="d1", phase="running", job=f"{SCOPE}/tuningJobs/1"),
    trained_on=(DataVersion(uri="gs://b/t.jsonl", generation="1", size=3),), estimate={"usd": None}))
BASES = {"every-key": ENTRY, "smallest": SMALLEST, "encoded": json.loads(json.dumps(ENCODED))}

# where the objects of an entry are, as paths of keys and indexes
OBJECTS = [(), ("spec",), ("current",), ("superseded", 0), ("pending",), ("movedFrom", 0), ("imported",),
           ("trainedOn", 0), ("trainedOn", 1), ("current", "live")]


class Text(str):
    """A string of a subclass: not exactly a JSON string (the fast path leaves it to the full decoder)."""


class Object(dict):
    """An object of a subclass of dict."""


# every JSON type, and values that only look like one (a bool is not an int, an int is a number, subclasses)
VALUES = [None, 0, 7, -1, 1.5, True, False, "", "text", "pending", "RUNNING", "vertex", "gemini-api", [], ["a"],
          [3], [None], {}, {"a": 1}, Text("text"), Object(), float("nan")]


def objects_of(entry: dict):
    for path in OBJECTS:
        found = entry
        try:
            for step in path:
                found = found[step]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(found, dict):
            yield path, found


def mutations() -> list[tuple[str, dict]]:
    """(label, entry): each base entry with one thing changed."""
    found = []
    for base_name, base in BASES.items():
        found.append((base_name, base))
        for path, obj in objects_of(base):
            where = ".".join(map(str, path)) or "entry"
            for key in [*obj, "extra", "model_exists", "lossHistory", "startTime", "name"]:
                found.append((f"{base_name}:{where}.{key}:deleted", changed(base, path, key, delete=True)))
                for value in VALUES:
                    found.append((f"{base_name}:{where}.{key}={value!r}", changed(base, path, key, value)))
        for value in VALUES:  # the entry itself, and each whole object, replaced
            found.append((f"{base_name}:entry={value!r}", value))
            for path, _ in list(objects_of(base))[1:]:  # after the entry itself
                found.append((f"{base_name}:{'.'.join(map(str, path))}={value!r}", replaced(base, path, value)))
    return found


def changed(base: dict, path: tuple, key: str, value=None, *, delete: bool = False) -> dict:
    entry = copy.deepcopy(base)
    target = entry
    for step in path:
        target = target[step]
    if delete:
        target.pop(key, None)
    else:
        target[key] = copy.deepcopy(value)
    return entry


def replaced(base: dict, path: tuple, value) -> dict:
    entry = copy.deepcopy(base)
    target = entry
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = copy.deepcopy(value)
    return entry


MUTATIONS = mutations()


def full(entry) -> LockEntry | str:
    try:
        return codec._entry_from_json("bot", entry, "entries.bot")
    except codec.InvalidLock as err:
        return err.detail


def fast(entry) -> LockEntry | None:
    try:
        return fast_decode.entry("bot", entry)
    except fast_decode.Irregular:
        return None


def fields_of(value) -> set[str]:
    return set(vars(value))


def test_the_table_holds_both_accepted_and_refused_entries():
    outcomes = [full(entry) for _, entry in MUTATIONS]
    accepted = sum(isinstance(o, LockEntry) for o in outcomes)
    assert len(MUTATIONS) > 2000 and 300 < accepted < len(MUTATIONS) - 1000


def test_the_fast_path_takes_the_common_entries():
    for name, entry in BASES.items():
        assert fast(entry) == full(entry), name
    taken = sum(fast(entry) is not None for _, entry in MUTATIONS)
    assert taken > 300


def test_the_fast_path_accepts_nothing_the_full_decoder_refuses_and_makes_the_same_values():
    wrong = [label for label, entry in MUTATIONS if not agrees(entry)]
    assert not wrong


def agrees(entry) -> bool:
    made = fast(entry)
    if made is None:
        return True
    expected = full(entry)
    if not isinstance(expected, LockEntry):  # the fast path accepted what the full decoder refuses
        return False
    # made without __init__: every field there, and nothing else (a field the fast path forgot would only show
    # when read)
    complete = all(fields_of(value) == {f.name for f in dataclasses.fields(value)}
                   for value in (made, made.spec, *made.generations, *made.trained_on))
    return complete and made == expected and repr(made) == repr(expected)


def lock_data(entry) -> dict:
    return {"version": FORMAT_VERSION, "lineage": "l", "serial": 1, "digestAlgorithm": "sha256-v1",
            "entries": {"a-first": SMALLEST, "bot": entry, "z-last": ENCODED}}


def decoded(data: dict) -> Lock | str:
    try:
        return codec.from_json(data)
    except codec.InvalidLock as err:
        return err.detail


def test_the_decoder_accepts_and_refuses_what_the_full_decoder_alone_does(monkeypatch):
    locks = [(label, lock_data(entry)) for label, entry in MUTATIONS]
    with_fast_path = [decoded(data) for _, data in locks]
    monkeypatch.setattr(fast_decode, "entry", _never)
    wrong = [label for (label, data), outcome in zip(locks, with_fast_path) if decoded(data) != outcome]
    assert not wrong


def _never(name, data):
    raise fast_decode.Irregular


def test_the_first_bad_entry_is_the_one_named_whichever_path_took_those_before_it():
    data = lock_data(ENTRY)
    data["entries"]["bot"] = changed(ENTRY, ("current",), "phase", "done")
    data["entries"]["z-last"] = changed(ENCODED, (), "digest", 3)
    assert decoded(data) == ("entries.bot.current.phase: unknown phase 'done' (one of cancelled, cancelling, "
                             "expired, failed, queued, running, succeeded)")


def test_values_made_by_the_fast_path_do_not_share_their_defaults():
    one, two = fast(BASES["smallest"]), fast(BASES["smallest"])
    assert one.current.live == {} and one.current.live is not two.current.live
    assert one.current.data_stats is not two.current.data_stats


# --- the state digest -----------------------------------------------------------------------------------


def sample() -> Lock:
    entry = copy.deepcopy(ENTRY)
    for key in ("progress", "loss", "state"):  # what moves while a job trains is never written back
        del entry["superseded"][0][key]
    lock = Lock(version=FORMAT_VERSION, lineage="l", serial=0, digest_algorithm="sha256-v1")
    return lock.with_entry(codec._entry_from_json("bot", entry, "entries.bot"))


def test_a_lock_read_is_digested_as_the_bytes_it_was_read_from(tmp_path):
    path = tmp_path / "reconciler.lock"
    written = LocalBackend(path).write(sample())
    read = LocalBackend(path).read()
    assert binding.state_digest(read) == hashlib.sha256(path.read_bytes()).hexdigest()
    # a lock made in memory is digested as the text a backend would store for it: the same digest
    assert written.stored_digest == "" and binding.state_digest(written) == binding.state_digest(read)
    assert read == written  # the digest kept is no part of the value


def test_the_state_digest_moves_with_every_change_and_every_write(tmp_path):
    path = tmp_path / "reconciler.lock"
    backend = LocalBackend(path)
    backend.write(sample())
    read = backend.read()
    before = binding.state_digest(read)
    derived = [read.with_entry(dataclasses.replace(read.entries["bot"], protect=False)), read.without("bot"),
               dataclasses.replace(read, serial=read.serial + 1), read.releasing("bot")]
    for lock in derived:  # a value derived from a read one does not carry its digest
        assert lock.stored_digest == "" and binding.state_digest(lock) != before
    written = backend.write(derived[0])  # in the same process, through the same backend
    assert binding.state_digest(written) != before
    again = backend.read()
    assert binding.state_digest(again) == binding.state_digest(written) != before


def test_a_hand_formatted_lock_is_digested_as_its_bytes(tmp_path):
    """The same content spelled otherwise (key order, spacing) is other stored text: another digest. A saved plan
    only compares it when an entry it acts on moved, which no reformatting does."""
    path = tmp_path / "reconciler.lock"
    LocalBackend(path).write(sample())
    canonical = LocalBackend(path).read()
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    reformatted = LocalBackend(path).read()
    assert reformatted == canonical
    assert binding.state_digest(reformatted) == hashlib.sha256(path.read_bytes()).hexdigest()


# --- the collector, paused while a lock is decoded -------------------------------------------------------


def test_decoding_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    path = tmp_path / "reconciler.lock"
    LocalBackend(path).write(sample())
    assert gc.isenabled()
    LocalBackend(path).read()
    assert gc.isenabled()
    path.write_text('{"version": 1}')
    with pytest.raises(LockfileError, match="missing key 'lineage'"):
        LocalBackend(path).read()
    assert gc.isenabled()
    gc.disable()
    try:
        LocalBackend(path.with_name("other.lock")).write(sample())
        LocalBackend(path.with_name("other.lock")).read()
        assert not gc.isenabled()
    finally:
        gc.enable()
