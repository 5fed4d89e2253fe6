"""An apply writes the lock after every side effect through one backend: from its second write on, the backup
is a hard link to the file that backend wrote and synced (no copy of a 2 MB lock each time), and the file is
known unchanged by its identity (no read). Whatever replaced or edited the file meanwhile is still caught, a
crash at any point still leaves a complete lock and backup, and where a filesystem cannot link, the backup is
copied as before."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from reconciler.errors import LockfileError
from reconciler.state.local import LocalBackend
from tests.state.test_lockfile_format import REPO, backup_of, sample_lock


def test_the_backup_of_a_successive_write_is_the_previous_file(tmp_path):
    path = tmp_path / "reconciler.lock"
    backend = LocalBackend(path)
    first = backend.write(sample_lock())
    first_text = path.read_bytes()
    second = backend.write(first.without("faq-bot"))
    assert backup_of(path).read_bytes() == first_text
    second_text = path.read_bytes()
    backend.write(second)
    assert backup_of(path).read_bytes() == second_text
    assert os.stat(backup_of(path)).st_nlink == 1  # the lock was replaced: the old file has the backup's name only
    assert LocalBackend(path).read().serial == 3


@pytest.mark.parametrize("change", ["replaced", "edited in place"])
def test_a_file_changed_behind_the_backend_is_still_refused(tmp_path, change):
    path = tmp_path / "reconciler.lock"
    backend = LocalBackend(path)
    mine = backend.write(sample_lock())
    if change == "replaced":
        LocalBackend(path).write(mine)  # another run: serial 2
    else:
        text = path.read_bytes()
        with open(path, "r+b") as stream:  # the same inode and size, another serial
            stream.write(text.replace(b'"serial": 1', b'"serial": 7', 1))
    before = path.read_bytes()
    with pytest.raises(LockfileError, match="changed since it was read"):
        backend.write(mine)
    assert path.read_bytes() == before


def test_a_filesystem_without_links_gets_a_copied_backup(tmp_path, monkeypatch):
    path = tmp_path / "reconciler.lock"
    backend = LocalBackend(path)
    first = backend.write(backend.write(sample_lock()))  # .reconciler/ made (its .gitignore is linked into place)
    first_text = path.read_bytes()

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    backend.write(first.without("faq-bot"))
    assert backup_of(path).read_bytes() == first_text
    assert sorted(p.name for p in (tmp_path / ".reconciler").iterdir()) == [".gitignore", "reconciler.lock.backup"]


CRASHING_SECOND_WRITE = """
import os, sys
from reconciler.state.local import LocalBackend
path, function, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
backend = LocalBackend(path)
lock = backend.write(backend.read())  # the first write of the run: the backup is a copy
real, calls = getattr(os, function), []
def crash(*args, **kwargs):
    calls.append(args)
    if len(calls) == n:
        os._exit(9)
    return real(*args, **kwargs)
setattr(os, function, crash)
backend.write(lock.without("faq-bot"))  # a successive write: the backup is a link
"""


@pytest.mark.parametrize("function, call, outcome", [
    ("link", 1, "old"),  # nothing done yet
    ("replace", 1, "old"),  # backup linked under its temp name, not renamed
    ("fsync", 1, "old"),  # backup renamed, its directory not synced
    ("fsync", 2, "old"),  # lock temp written, not synced
    ("replace", 2, "old"),  # lock temp synced, not renamed
    ("fsync", 3, "new"),  # renamed, directory not synced
    ("fsync", 4, "done"),  # not reached: the write completes
])
def test_a_crash_in_a_successive_write_leaves_a_complete_lock_and_backup(tmp_path, function, call, outcome):
    path = tmp_path / "reconciler.lock"
    LocalBackend(path).write(sample_lock())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", CRASHING_SECOND_WRITE, str(path), function, str(call)], env=env,
                         timeout=60)
    assert run.returncode == (0 if outcome == "done" else 9)
    lock, backup = LocalBackend(path).read(), LocalBackend(backup_of(path)).read()
    assert lock.serial == {"old": 2, "new": 3, "done": 3}[outcome]
    assert set(lock.entries) == ({"faq-bot", "support-bot"} if outcome == "old" else {"support-bot"})
    assert backup.serial in (1, 2) and set(backup.entries) == {"faq-bot", "support-bot"}
    with LocalBackend(path).lock("reconciler apply"):  # the next run sweeps away the dead writer's temp files
        assert sorted(p.name for p in (tmp_path / ".reconciler").iterdir()) == [".gitignore", "reconciler.lock.backup"]
        assert sorted(p.name for p in tmp_path.iterdir()) == [".reconciler", "reconciler.lock", "reconciler.lock.lock"]


def test_one_encoder_across_changes_additions_and_removals_writes_the_plain_encoding():
    """The encoder reuses each unchanged entry's text across calls; every call must still be what json.dumps
    would write, whatever was changed, added or removed since the previous one."""
    import dataclasses
    import json

    from reconciler.state import codec
    from reconciler.state.model import Lock
    from tests.state.test_lockfile_format import LINEAGE, gemini_entry, vertex_entry

    def plain(lock: Lock) -> str:
        return json.dumps(codec.to_json(lock), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    encoder, lock = codec.Encoder(), Lock(version=1, lineage=LINEAGE, serial=0, digest_algorithm="sha256/v1")
    steps = [lambda lock, i=i: lock.with_entry(dataclasses.replace(vertex_entry(), name=f"bot-{i}", digest=f"d{i}"))
             for i in range(4)]
    steps += [lambda lock: lock.with_entry(dataclasses.replace(lock.entries["bot-2"], protect=True)),
              lambda lock: lock.without("bot-0").with_entry(gemini_entry()),
              lambda lock: lock.with_entry(dataclasses.replace(vertex_entry(), name="bot-é", digest="dé")),
              lambda lock: dataclasses.replace(lock, serial=lock.serial + 1),
              lambda lock: dataclasses.replace(lock, entries={}),
              lambda lock: lock.with_entry(dataclasses.replace(vertex_entry(), name="bot-1", digest="again"))]
    for step in steps:
        lock = step(lock)
        assert encoder.dumps(lock) == plain(lock)
