"""Harness of the reliability suite: the reconciler as a real subprocess against the emulator over HTTP.

- `SubprocessEmulator`: `python -m reconciler.emulator --port 0` in its own process (faults, admin surface),
  the shared `tests.testing.emulators.EmulatorProcess` with 1-second jobs and the census helpers.
- `InProcessEmulator`: the same server embedded in the test process, for the one thing a separate process
  cannot give: acting at the exact moment a mutating request has been committed, before its answer leaves
  (`trip`: SIGKILL or SIGINT the reconciler right there). The reconciler is always a separate process.
- `Repo`: a manifest root in tmp_path and the `reconciler` command run against it (`tests.testing.cli`).
- Manifests come from `tests.testing.manifests` (`vertex_manifest`, `gemini_manifest`).
- `census`: what is live, counted from the APIs themselves (never from the lock): jobs per manifest, live
  jobs per manifest and digest, orphans (live managed models, endpoints or tuned models the lock does not
  record), untracked jobs, and whether the lock parses.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from reconciler.state.local import LocalBackend
from reconciler.state.model import Lock
from reconciler.emulator import Emulator
from reconciler.emulator.rpc import Reply
from tests.testing import cli
from tests.testing.cli import Result
from tests.testing.emulators import MUTATING, VERTEX_AUTH, AdminClient, EmulatorProcess
from tests.testing.manifests import config

PROJECT, LOCATION = "rel-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
ENDED = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


CONFIG = config(PROJECT, LOCATION)


# ------------------------------------------------------------------------------------------------ emulators


class _Admin(AdminClient):
    """The shared admin surface, plus the jobs of the reliability project."""

    def jobs(self) -> list[dict]:
        return self.listing(f"/v1/{PARENT}/tuningJobs", "tuningJobs")

    def job_of(self, name: str) -> dict:
        found = [j for j in self.jobs() if (j.get("labels") or {}).get("reconciler-name") == name]
        assert len(found) == 1, f"{name}: {len(found)} jobs"
        return found[0]


class SubprocessEmulator(EmulatorProcess, _Admin):
    """`python -m reconciler.emulator` as a real server process on a free port (1-second jobs by default)."""

    def __init__(self, *args: str, job_duration: float = 1.0, state_file: Path | None = None):
        super().__init__(*args, job_duration=job_duration, state_file=state_file)


@dataclass
class _Trip:
    at: int  # the n-th mutating request (1-based) counted from arming
    signum: int
    process: subprocess.Popen | None = None
    before: bool = False
    seen: int = 0
    fired: dict | None = None  # the request it fired on
    done: threading.Event = field(default_factory=threading.Event)


class InProcessEmulator(_Admin):
    """The emulator embedded in the test process: `trip` signals the reconciler right after a commit."""

    def __init__(self, *, job_duration: float = 1.0, state_file: Path | None = None):
        self.emulator = Emulator(job_duration=job_duration, state_file=str(state_file) if state_file else None)
        self.base_url = self.emulator.start()
        self._trip: _Trip | None = None
        self._lock = threading.Lock()
        serve_api = self.emulator.serve_api

        def tripping_serve_api(method, path, pairs, headers, raw_body):
            if method in MUTATING and self._maybe_fire(method, path, 0, before=True):
                return Reply(503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "not served"}}), ""
            reply, note = serve_api(method, path, pairs, headers, raw_body)  # committed (or refused) here
            if method in MUTATING:
                self._maybe_fire(method, path, reply.status, before=False)
            return reply, note

        self.emulator.serve_api = tripping_serve_api

    def arm(self, at: int, signum: int = signal.SIGKILL, *, before: bool = False) -> _Trip:
        """Signal the reconciler at the `at`-th mutating request: once it is committed, or (`before`) as it
        arrives, in which case it is never served (the process died before the server acted on it)."""
        with self._lock:
            self._trip = _Trip(at=at, signum=signum, before=before)
            return self._trip

    def _maybe_fire(self, method: str, path: str, status: int, *, before: bool) -> bool:
        with self._lock:
            trip = self._trip
            if trip is None or trip.fired is not None or trip.before != before:
                return False
            trip.seen += 1
            if trip.seen != trip.at:
                return False
            trip.fired = {"method": method, "path": path, "status": status}
        deadline = time.monotonic() + 10
        while trip.process is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert trip.process is not None
        os.kill(trip.process.pid, trip.signum)
        if trip.signum == signal.SIGKILL:
            trip.process.wait(timeout=10)  # dead before the answer is even written
        trip.done.set()
        return True

    def stop(self) -> None:
        self.emulator.stop()


# ------------------------------------------------------------------------------------------------ the CLI


class Repo:
    """A manifest root `m/` under tmp_path, and the reconciler run on it as a real process."""

    def __init__(self, root: Path, emulator: _Admin):
        self.root = root
        self.manifests = root / "m"
        self.manifests.mkdir(parents=True, exist_ok=True)
        (self.manifests / "reconciler.yaml").write_text(CONFIG)
        self.emulator = emulator
        self.env = cli.environment()

    @property
    def lock_path(self) -> Path:
        return self.manifests / "reconciler.lock"

    def write(self, name: str, text: str) -> None:
        (self.manifests / f"{name}.yaml").write_text(text)

    def remove(self, name: str) -> None:
        (self.manifests / f"{name}.yaml").unlink()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.manifests.glob("*.yaml") if p.stem != "reconciler")

    def start(self, *args: str) -> subprocess.Popen:
        return cli.start(*args, "--api-endpoint", self.emulator.base_url, cwd=self.root, env=self.env)

    def finish(self, process: subprocess.Popen, args: tuple[str, ...], timeout: float = 60) -> Result:
        return cli.finish(process, args, timeout)

    def run(self, *args: str, timeout: float = 60) -> Result:
        return self.finish(self.start(*args), args, timeout)

    def apply(self, *extra: str, timeout: float = 60) -> Result:
        return self.run("apply", "m", "--yes", *extra, timeout=timeout)

    def plan(self, *extra: str) -> Result:
        return self.run("plan", "m", "--detailed-exitcode", *extra)

    def assert_converged(self) -> Result:
        result = self.plan()
        assert result.code == 0 and "no changes" in result.out, str(result)
        return result

    def read_lock(self) -> Lock | None:
        return LocalBackend(self.lock_path).read()

    def snapshot(self, to: Path) -> None:
        to.mkdir(parents=True, exist_ok=True)
        for path in self.manifests.iterdir():
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".lock.lock"):
                shutil.copy2(path, to / path.name)

    def restore(self, source: Path) -> None:
        for path in source.iterdir():
            shutil.copy2(path, self.manifests / path.name)


# ------------------------------------------------------------------------------------------------ counting


def _tail(name: str) -> str:
    parts = (name or "").split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "projects" else name or ""


def _model_tail(name: str) -> str:
    return _tail(name).split("@", 1)[0]


@dataclass
class Census:
    jobs: dict[str, int]  # every job (any state) or Gemini create ever accepted, per manifest
    live: dict[tuple[str, str], int]  # live (not failed/cancelled/expired) jobs per (manifest, digest)
    orphans: list[str]  # live managed models/endpoints/tuned models the lock does not record
    untracked: list[str]  # jobs still training, or with a live model, that the lock does not record
    lock_valid: bool
    lock_error: str = ""

    @property
    def duplicates(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.live.items() if n > 1}

    def line(self, label: str) -> str:
        jobs = ", ".join(f"{name}={n}" for name, n in sorted(self.jobs.items()))
        return (f"[{label}] jobs created per manifest: {jobs or 'none'}; duplicates: {len(self.duplicates)}; "
                f"orphans: {len(self.orphans)}; untracked: {len(self.untracked)}; "
                f"lock: {'valid' if self.lock_valid else 'INVALID ' + self.lock_error}")

    def check(self, label: str, *, expect_jobs: dict[str, int] | None = None) -> None:
        print(self.line(label))
        assert self.lock_valid, f"{label}: lock invalid: {self.lock_error}"
        assert not self.duplicates, f"{label}: duplicate jobs {self.duplicates}"
        assert not self.orphans, f"{label}: orphans {self.orphans}"
        assert not self.untracked, f"{label}: untracked {self.untracked}"
        if expect_jobs is not None:
            assert self.jobs == expect_jobs, f"{label}: jobs {self.jobs} != {expect_jobs}"


def census(emulator: _Admin, repo: Repo, gemini_baseline: dict[str, int] | None = None) -> Census:
    """Count from the live APIs (and the emulator's request log for Gemini creates) against the lock."""
    lock_error = ""
    try:
        lock = repo.read_lock()
    except Exception as err:  # noqa: BLE001 - reported, and asserted by the caller
        lock, lock_error = None, str(err)
    records = [g for e in (lock.entries.values() if lock else ()) for g in (e.current, *e.superseded) if g]
    lock_jobs = {_tail(g.job) for g in records if g.job}
    lock_models = {_model_tail(g.model) for g in records if g.model}
    lock_endpoints = {_tail(e) for g in records for e in g.endpoints}

    jobs: Counter[str] = Counter()
    live: Counter[tuple[str, str]] = Counter()
    orphans, untracked = [], []
    # Models and endpoints first: a job that succeeds between two listings then shows its model and endpoint
    # in the job listing that follows, instead of leaving them to look like orphans.
    listed_models = emulator.listing(f"/v1/{PARENT}/models", "models")
    listed_endpoints = emulator.listing(f"/v1/{PARENT}/endpoints", "endpoints")
    listed_jobs = emulator.jobs()
    for job in listed_jobs:  # what a recorded job made is tracked through it (refresh follows job -> model)
        if _tail(job["name"]) in lock_jobs:
            tuned = job.get("tunedModel") or {}
            lock_models.add(_model_tail(tuned.get("model", "")))
            lock_endpoints |= {_tail(e) for e in [tuned.get("endpoint")] +
                               [c.get("endpoint") for c in tuned.get("checkpoints") or ()] if e}
    for job in listed_jobs:
        labels = job.get("labels") or {}
        if labels.get("managed-by") != "reconciler":
            continue
        owner, digest = labels.get("reconciler-name", "?"), labels.get("reconciler-digest", "?")
        jobs[owner] += 1
        if job.get("state") not in ENDED:
            live[(owner, digest)] += 1
        model = (job.get("tunedModel") or {}).get("model")
        if _tail(job["name"]) not in lock_jobs and job.get("state") not in ENDED:
            if job.get("state") != "JOB_STATE_SUCCEEDED" or (model and _model_exists(emulator, model)):
                untracked.append(job["name"])
    for model in listed_models:
        if (model.get("labels") or {}).get("managed-by") == "reconciler" and \
                _model_tail(model["name"]) not in lock_models:
            orphans.append(f"model {model['name']}@{model.get('versionId')}")
    for endpoint in listed_endpoints:
        if (endpoint.get("labels") or {}).get("managed-by") == "reconciler" and \
                _tail(endpoint["name"]) not in lock_endpoints:
            orphans.append(f"endpoint {endpoint['name']}")
    gemini_live = {m["name"] for m in emulator.listing("/v1beta/tunedModels", "tunedModels")}
    for name in sorted(gemini_live - {g.model for g in records if g.platform == "gemini-api"}):
        orphans.append(f"tuned model {name}")
    for name in gemini_live:
        owner, _, digest = name.removeprefix("tunedModels/").rpartition("-")
        live[(owner, digest)] += 1
    for name, count in (gemini_baseline or {}).items():
        jobs[name] += count
    for request in emulator.requests():
        if request["method"] == "POST" and request["path"] == "/v1beta/tunedModels" and request["status"] == 200:
            tuned_id = parse_qs(request.get("query", "")).get("tunedModelId", ["?"])[0]
            jobs[tuned_id.rpartition("-")[0]] += 1
    return Census(jobs=dict(jobs), live=dict(live), orphans=orphans, untracked=untracked,
                  lock_valid=lock is not None and not lock_error, lock_error=lock_error)


def _model_exists(emulator: _Admin, model: str) -> bool:
    with emulator.http() as http:
        return http.get(f"/v1/{model}", headers=VERTEX_AUTH).status_code == 200


def mutations(requests: list[dict]) -> list[str]:
    """Mutating requests as `METHOD shape`, ids masked, so two runs can be compared request by request."""
    import re

    shapes = []
    for request in requests:
        if request["method"] in MUTATING:
            path = re.sub(r"/\d{6,}", "/N", request["path"])
            path = re.sub(r"projects/[^/]+/", "projects/P/", path)
            shapes.append(f"{request['method']} {path}")
    return shapes
