"""The caches that make a lock write cheap must never change a byte of it.

- `pretty.dumps` writes the text `json.dumps(sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)`
  writes, for any value (odd ones are handed to json.dumps itself, errors included);
- an `Encoder` reuses each unchanged entry's encoded bytes: after any sequence of updates, additions and
  removals its output is byte-for-byte a fresh encoding of the whole lock;
- a Lock keeps its entries sorted and checked without re-sorting them on every update (`Sorted`), and every
  update is still sorted, checked and equal to a Lock built from scratch."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.state import codec, pretty
from reconciler.state.local import LocalBackend
from reconciler.state.model import Lock, Sorted
from tests.state.test_lockfile_format import LINEAGE, gemini_entry, sample_lock, vertex_entry


def plain_json(value) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def fresh(lock: Lock) -> bytes:
    """The whole lock encoded from scratch, as the format is defined."""
    return (plain_json(codec.to_json(lock)) + "\n").encode()


# --- pretty: the indented text ---------------------------------------------------------------------------

TEXT = st.text(max_size=12)  # any code point but a lone surrogate: control characters, ü, \u2028, emoji
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_pretty_writes_the_text_json_dumps_writes(value):
    assert pretty.dumps(value) == plain_json(value)


class Text(str):
    pass


@pytest.mark.parametrize("value", [
    {}, [], (), {"a": {}, "b": []}, "é\u2028\x00\"\\", -0.0, 1e300, 10 ** 40, [True, False, None],
    {1: "a", 2: "b"}, {True: 1, False: 2}, {"k": {1.5: "x"}}, Text("sub"), {"s": Text("sub")}, [Text("x")],
])
def test_pretty_hands_odd_values_to_json_and_writes_its_text(value):
    assert pretty.dumps(value) == plain_json(value)


@pytest.mark.parametrize("value", [float("nan"), {"a": float("inf")}, [-float("inf")], {1: 2, "a": 3}, object(),
                                   {"a": {1, 2}}])
def test_pretty_raises_what_json_raises(value):
    with pytest.raises(Exception) as expected:
        plain_json(value)
    with pytest.raises(expected.type):
        pretty.dumps(value)


def test_pretty_reports_a_cycle_as_json_does():
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        pretty.dumps(cycle)


# --- the encoder's cache ---------------------------------------------------------------------------------


def entry(name: str, digest: str, *, kind: int = 0):
    base = vertex_entry() if kind == 0 else gemini_entry()
    return dataclasses.replace(base, name=name, digest=digest)


def random_step(rng: random.Random, lock: Lock) -> Lock:
    """One update as an apply makes them: a changed, added or removed entry, another serial, released keys."""
    names = list(lock.entries)
    roll = rng.random()
    if roll < 0.35 or not names:
        name = rng.choice(["a", "m", "z", "bot-é", "Bot", "bot-00", "bot-10", "bot-5", "ü"]) + str(rng.randrange(30))
        return lock.with_entry(entry(name, f"d{rng.randrange(10 ** 6)}", kind=rng.randrange(2)))
    if roll < 0.65:
        name = rng.choice(names)
        return lock.with_entry(dataclasses.replace(lock.entries[name], protect=not lock.entries[name].protect,
                                                   estimate={"usd": rng.random(), "note": "ø"}))
    if roll < 0.8:
        return lock.without(rng.choice(names + ["absent"]))
    if roll < 0.9:
        return dataclasses.replace(lock, serial=lock.serial + 1)
    if roll < 0.95:
        return lock.releasing(rng.choice(names))
    # rebuilt from a plain dict (as Journal.observe does): checked and sorted again
    return dataclasses.replace(lock, entries=dict(reversed(list(lock.entries.items()))))


@pytest.mark.parametrize("seed", range(8))
def test_one_encoder_across_any_updates_writes_a_fresh_encoding(seed):
    rng = random.Random(seed)
    encoder, lock = codec.Encoder(), Lock(version=3, lineage=LINEAGE, serial=0, digest_algorithm="sha256-v1")
    for _ in range(120):
        lock = random_step(rng, lock)
        assert encoder.encode(lock) == fresh(lock)
    assert encoder.dumps(lock) == fresh(lock).decode()


def test_an_equal_entry_that_is_another_object_is_encoded_again():
    """The cache is keyed by identity: an entry rebuilt with other values under the same name is re-encoded."""
    encoder = codec.Encoder()
    lock = sample_lock()
    encoder.encode(lock)
    changed = lock.with_entry(dataclasses.replace(lock.entries["faq-bot"], digest="other"))
    assert encoder.encode(changed) == fresh(changed)
    assert encoder.encode(lock) == fresh(lock)


def test_successive_writes_of_one_backend_store_fresh_encodings(tmp_path):
    path, rng = tmp_path / "reconciler.lock", random.Random(7)
    backend = LocalBackend(path)
    lock = backend.write(sample_lock())
    for _ in range(25):
        lock = backend.write(random_step(rng, lock))
        assert path.read_bytes() == fresh(lock)
    assert LocalBackend(path).read() == lock


# --- Sorted: updates without a re-sort -------------------------------------------------------------------


def test_updates_keep_entries_sorted_and_equal_to_a_lock_built_from_scratch():
    rng = random.Random(3)
    lock = Lock(version=3, lineage=LINEAGE, serial=0, digest_algorithm="sha256-v1")
    for _ in range(300):
        lock = random_step(rng, lock)
        assert type(lock.entries) is Sorted and list(lock.entries) == sorted(lock.entries)
        assert list(lock.released) == sorted(lock.released)
        assert all(name == e.name for name, e in lock.entries.items())
        rebuilt = Lock(version=lock.version, lineage=lock.lineage, serial=lock.serial,
                       digest_algorithm=lock.digest_algorithm, entries=dict(lock.entries), released=dict(lock.released))
        assert rebuilt == lock and list(rebuilt.entries) == list(lock.entries)


def test_an_update_leaves_the_lock_it_was_made_from_unchanged():
    lock = sample_lock()
    before = dict(lock.entries)
    lock.with_entry(entry("aaa", "d")).with_entry(entry("zzz", "d")).without("faq-bot")
    lock.with_entry(dataclasses.replace(lock.entries["support-bot"], protect=False))
    assert dict(lock.entries) == before and list(lock.entries) == ["faq-bot", "support-bot"]


def test_a_plain_mapping_is_still_checked_and_sorted():
    with pytest.raises(ValueError, match="filed under"):
        Lock(version=3, lineage=LINEAGE, serial=0, digest_algorithm="x", entries={"other": vertex_entry()})
    lock = Lock(version=3, lineage=LINEAGE, serial=0, digest_algorithm="x",
                entries={"support-bot": vertex_entry(), "faq-bot": gemini_entry()}, released={"k2": "b", "k1": "a"})
    assert list(lock.entries) == ["faq-bot", "support-bot"] and list(lock.released) == ["k1", "k2"]
    assert type(lock.entries) is Sorted and lock.entries == {"faq-bot": gemini_entry(), "support-bot": vertex_entry()}


@pytest.mark.parametrize("key", ["a", "c", "e", "g", "b"])
def test_sorted_with_item_puts_a_key_in_its_place(key):
    mapping = Sorted({"b": 1, "d": 2, "f": 3})
    updated = mapping.with_item(key, 9)
    assert list(updated) == sorted(set(mapping) | {key}) and updated[key] == 9
    assert mapping == {"b": 1, "d": 2, "f": 3}
    assert list(updated.without(key)) == sorted(set(mapping) - {key}) and type(updated.without(key)) is Sorted


# --- pieces: written as they are ---------------------------------------------------------------------------


def test_the_pieces_join_to_the_encoding():
    encoder, lock = codec.Encoder(), sample_lock()
    assert b"".join(encoder.pieces(lock)) == fresh(lock)
    empty = dataclasses.replace(lock, entries={})
    assert b"".join(encoder.pieces(empty)) == fresh(empty)


@pytest.mark.parametrize("most", [1, 7, 1000, 10 ** 6])
def test_short_writes_still_write_every_piece_in_order(tmp_path, monkeypatch, most):
    """writev may write less than asked (a signal, a full pipe, a quota): what is left is written next."""
    import os

    from reconciler.state import atomic

    real = os.writev

    def short(fd, buffers):
        return real(fd, [b"".join(buffers)[:most]])
    monkeypatch.setattr(os, "writev", short)
    pieces = [b"", b"abc", b"", b"d" * 5000, *(bytes([65 + i % 26]) * (i % 5) for i in range(1500)), b"end"]
    atomic.replace_atomically(tmp_path / "f", pieces, None)
    assert (tmp_path / "f").read_bytes() == b"".join(pieces)
