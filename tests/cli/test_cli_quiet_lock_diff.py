"""A quiet lock diff (issue 10 §11), through the real CLI against the emulator: polling a job while it trains
(`status`, `wait`, another `apply`) never rewrites the committed lock; the job ending does, once. The backup
lives in `.reconciler/`, which ignores itself: after an apply, git sees only the lock."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

LONG_JOBS = pytest.mark.parametrize("cli", [{"job_duration": 3600}], ids=["hour-long-jobs"], indirect=True)
VOLATILE = {"progress", "loss", "state", "lossHistory", "dataStats", "startTime"}


def _only(cli, *keep: str) -> None:
    for path in sorted((cli.cwd / "manifests").rglob("*.yaml")):
        if not str(path).endswith(keep) and path.name != "reconciler.yaml":
            path.unlink()


def _ok(result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def _generations(lock: Path) -> list[dict]:
    entries = json.loads(lock.read_text())["entries"].values()
    return [g for e in entries for g in ([e["current"]] if e["current"] else []) + e["superseded"]]


@LONG_JOBS
def test_polls_mid_training_leave_the_lock_byte_identical_and_the_end_changes_it(cli):
    _only(cli, "gemini/math-bot.yaml", "vertex/support-bot.yaml")
    lock = cli.cwd / "manifests" / "reconciler.lock"
    _ok(cli.run("apply", "manifests", "--yes"))
    written = lock.read_bytes()
    assert {g["phase"] for g in _generations(lock)} <= {"queued", "running"}
    assert all(not VOLATILE & set(g) for g in _generations(lock)), written.decode()
    for seconds in (1, 900):  # queued, then training with progress and loss moving
        cli.emulator.advance(seconds)
        status = cli.run("status", "manifests", "--json")
        _ok(status)
        assert {j["state"] for j in json.loads(status.stdout)["jobs"]} <= {"queued", "training"}
        assert lock.read_bytes() == written
        waited = cli.run("wait", "manifests", "--timeout", "1")
        assert waited.returncode in (0, 1), waited.stderr  # stopped waiting: still running
        assert "Traceback" not in waited.stderr, waited.stderr
        assert lock.read_bytes() == written
        _ok(cli.run("apply", "manifests", "--yes"))
        assert lock.read_bytes() == written
        _ok(cli.run("apply", "manifests", "--refresh-only"))  # records what it learns: nothing yet
        assert lock.read_bytes() == written
        _ok(cli.run("plan", "manifests"))
        assert lock.read_bytes() == written
    status = json.loads(cli.run("status", "manifests", "--json").stdout)
    assert {j["state"] for j in status["jobs"]} == {"training"}
    assert "queued" in {g["phase"] for g in _generations(lock)}  # queued -> running was no news for the lock

    cli.emulator.advance(3600)
    _ok(cli.run("wait", "manifests"))
    _ok(cli.run("apply", "manifests", "--refresh-only"))  # records how the jobs ended
    ended = lock.read_bytes()
    assert ended != written
    assert {g["phase"] for g in _generations(lock)} == {"succeeded"}
    assert all(not VOLATILE & set(g) for g in _generations(lock)), ended.decode()
    vertex = next(g for g in _generations(lock) if g["platform"] == "vertex")
    assert vertex["model"] and vertex["endpoints"]  # recorded when the job ended
    for command in (("status", "manifests"), ("wait", "manifests"), ("apply", "manifests", "--yes"),
                    ("apply", "manifests", "--refresh-only")):
        _ok(cli.run(*command))
        assert lock.read_bytes() == ended, command


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True,
                          timeout=60).stdout


def test_after_an_apply_git_sees_only_the_lock(cli):
    _only(cli, "gemini/math-bot.yaml", "vertex/support-bot.yaml")
    _git(cli.cwd, "init", "-q")
    _git(cli.cwd, "add", "-A")
    _git(cli.cwd, "commit", "-q", "-m", "manifests")
    _ok(cli.run("apply", "manifests", "--yes"))
    root = cli.cwd / "manifests"
    assert (root / ".reconciler" / "reconciler.lock.backup").is_file()  # every create wrote the lock: kept
    assert not (root / "reconciler.lock.backup").exists() and not (root / "reconciler.lock.lock").exists()
    assert _git(cli.cwd, "status", "--porcelain", "--untracked-files=all").splitlines() == [
        "?? manifests/reconciler.lock"]
    _git(cli.cwd, "add", "-A")  # what `git add -A` then commits: the lock, nothing of .reconciler/
    assert _git(cli.cwd, "diff", "--cached", "--name-only").splitlines() == ["manifests/reconciler.lock"]
