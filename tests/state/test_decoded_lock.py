"""Locks decoded before (reconciler/state/decoded.py): the same bytes read again are unpickled, not parsed, and
give an equal Lock with the same stored digest; other bytes, another reconciler, a lock that failed any check, or a
pickle someone else could have written are decoded from the bytes (and refused exactly as before)."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from reconciler import pickles
from reconciler.errors import LockfileError
from reconciler.state import codec, decoded
from reconciler.state.local import LocalBackend
from tests.state.test_lock_fast_decode import sample


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per lock built from JSON (codec.from_json): reads the cache did not answer."""
    seen: list[int] = []
    from_json = codec.from_json

    def counting(data):
        seen.append(1)
        return from_json(data)

    monkeypatch.setattr(codec, "from_json", counting)
    return seen


def _written(tmp_path: Path) -> Path:
    path = tmp_path / "reconciler.lock"
    LocalBackend(path).write(sample())
    return path


@pytest.mark.parametrize("change, decoded_again", [
    ("nothing", False),
    ("bytes", True),      # another write: other bytes
    ("code", True),       # another reconciler
    ("off", True),
])
def test_what_decodes_a_lock_again(tmp_path, cache_dir, parsed, monkeypatch, change, decoded_again):
    path = _written(tmp_path)
    first = LocalBackend(path).read()
    assert parsed == [1]
    parsed.clear()
    if change == "bytes":
        backend = LocalBackend(path)
        backend.read()
        parsed.clear()
        backend.write(first.without("bot"))
    elif change == "code":
        monkeypatch.setattr(pickles, "_CODE", "another version of reconciler")
    elif change == "off":
        monkeypatch.setenv(pickles.SWITCH, "off")
    second = LocalBackend(path).read()
    assert bool(parsed) is decoded_again
    assert second.stored_digest == hashlib.sha256(path.read_bytes()).hexdigest()
    if change != "bytes":
        assert second == first


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[:-40], "is corrupt"),
    (lambda text: text.replace("/locations/us-central1/", "/locations/europe-west4/", 1), "outside the entry"),
])
def test_a_lock_that_fails_a_check_is_never_kept_and_refused_every_time(tmp_path, cache_dir, parsed, damage,
                                                                        message):
    path = _written(tmp_path)
    path.write_text(damage(path.read_text()))
    for _ in range(2):
        with pytest.raises(LockfileError, match=message):
            LocalBackend(path).read()
    assert not list(cache_dir.glob("lock-*"))


class _Planted:
    """Unpickling this writes a file: proof that a pickle was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


@pytest.mark.parametrize("mode", [0o666, 0o620])
def test_a_kept_lock_others_may_write_is_never_unpickled(tmp_path, cache_dir, parsed, mode):
    path = _written(tmp_path)
    LocalBackend(path).read()
    [kept] = cache_dir.glob("lock-*.pickle")
    marker = tmp_path / "marker"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    kept.write_bytes(pickle.dumps(((decoded.FORMAT, pickles.code()), digest, _Planted(marker))))
    os.chmod(kept, mode)
    parsed.clear()
    assert LocalBackend(path).read().entries
    assert not marker.exists() and parsed == [1]


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps(42), pickle.dumps((1, 2, "not a lock"))])
def test_a_broken_kept_lock_is_a_miss(tmp_path, cache_dir, parsed, content):
    path = _written(tmp_path)
    LocalBackend(path).read()
    [kept] = cache_dir.glob("lock-*.pickle")
    kept.write_bytes(content)
    parsed.clear()
    assert LocalBackend(path).read().entries and parsed == [1]
