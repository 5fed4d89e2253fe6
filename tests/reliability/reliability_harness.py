"""Harness of the reliability suite: the reconciler as a real subprocess against the emulator over HTTP.

- `SubprocessEmulator`: `python -m reconciler.emulator --port 0` in its own process (faults, admin surface).
- `InProcessEmulator`: the same server embedded in the test process, for the one thing a separate process
  cannot give: acting at the exact moment a mutating request has been committed, before its answer leaves
  (`trip`: SIGKILL or SIGINT the reconciler right there). The reconciler is always a separate process.
- `Repo`: a manifest root in tmp_path and the `reconciler` command run against it.
- `census`: what is live, counted from the APIs themselves (never from the lock): jobs per manifest, live
  jobs per manifest and digest, orphans (live managed models, endpoints or tuned models the lock does not
  record), untracked jobs, and whether the lock parses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from reconciler import lockfile
from reconciler.emulator import Emulator
from reconciler.emulator.server import Reply

PROJECT, LOCATION = "rel-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MUTATING = frozenset({"POST", "PATCH", "DELETE", "PUT"})
VERTEX_AUTH = {"Authorization": "Bearer test-token"}
GEMINI_AUTH = {"x-goog-api-key": "test-key"}
ENDED = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


# ------------------------------------------------------------------------------------------------ manifests


def vertex_manifest(name: str, *, dataset: str | None = None, display: str | None = None,
                    description: str | None = None, epochs: int = 2, checkpoints: bool = True,
                    from_manifest: str | None = None, labels: dict[str, str] | None = None,
                    policy: dict[str, Any] | None = None) -> str:
    """A Vertex manifest; `checkpoints=True` makes the job create one endpoint per epoch (more to delete)."""
    source = (f"preTunedModel: {{fromManifest: {from_manifest}}}" if from_manifest
              else "baseModel: gemini-2.5-flash")
    lines = [
        "apiVersion: reconciler/v1", "kind: TunedModel",
        f"metadata: {{name: {name}, labels: {json.dumps(labels or {'team': 'rel'})}}}",
        "spec:", "  platform: vertex", f"  {source}", f"  displayName: {display or name + ' model'}",
    ]
    if description:
        lines.append(f"  description: {description}")
    lines += [f"  training: {{dataset: {dataset or f'gs://rel-bucket/{name}/train.jsonl'}}}",
              f"  hyperParameters: {{epochCount: {epochs}}}",
              f"  exportLastCheckpointOnly: {'false' if checkpoints else 'true'}"]
    if policy:
        lines.append(f"  policy: {json.dumps(policy)}")
    return "\n".join(lines) + "\n"


def gemini_manifest(name: str, *, display: str | None = None, description: str | None = None, epochs: int = 1,
                    answer: str = "2", policy: dict[str, Any] | None = None) -> str:
    lines = [
        "apiVersion: reconciler/v1", "kind: TunedModel", f"metadata: {{name: {name}}}", "spec:",
        "  platform: gemini-api", "  baseModel: models/gemini-1.5-flash-001-tuning",
        f"  displayName: {display or name + ' model'}",
    ]
    if description:
        lines.append(f"  description: {description}")
    lines += ["  training:", "    examples:", f'      - {{textInput: "1", output: "{answer}"}}',
              f'      - {{textInput: "{name}", output: "{name}!"}}',
              f"  hyperParameters: {{epochCount: {epochs}, batchSize: 1, learningRate: 0.001}}"]
    if policy:
        lines.append(f"  policy: {json.dumps(policy)}")
    return "\n".join(lines) + "\n"


CONFIG = textwrap.dedent(f"""\
    defaults:
      project: {PROJECT}
      location: {LOCATION}
    lockFile: reconciler.lock
    """)


# ------------------------------------------------------------------------------------------------ emulators


class _Admin:
    base_url: str

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def admin(self, method: str, route: str, body: Any = None) -> Any:
        with self._http() as http:
            response = http.request(method, f"/__emulator__/{route}", json=body)
        assert response.status_code == 200, f"admin {method} {route}: {response.status_code} {response.text}"
        return response.json()

    def requests(self) -> list[dict]:
        return self.admin("GET", "requests")["requests"]

    def mutating(self) -> list[dict]:
        return [r for r in self.requests() if r["method"] in MUTATING]

    def faults(self, rules: list[dict], seed: int | None = None) -> None:
        self.admin("POST", "faults", {"faults": rules, **({"seed": seed} if seed is not None else {})})

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def advance(self, seconds: float) -> None:
        self.admin("POST", "clock:advance", {"seconds": seconds})

    def get(self, path: str, **params: Any) -> dict:
        headers = GEMINI_AUTH if path.startswith("/v1beta/") else VERTEX_AUTH
        with self._http() as http:
            response = http.get(path, params=params, headers=headers)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def listing(self, path: str, key: str) -> list[dict]:
        items, token = [], None
        while True:
            page = self.get(path, pageSize=1000, **({"pageToken": token} if token else {}))
            items += page.get(key) or []
            token = page.get("nextPageToken")
            if not token:
                return items

    def jobs(self) -> list[dict]:
        return self.listing(f"/v1/{PARENT}/tuningJobs", "tuningJobs")

    def job_of(self, name: str) -> dict:
        found = [j for j in self.jobs() if (j.get("labels") or {}).get("reconciler-name") == name]
        assert len(found) == 1, f"{name}: {len(found)} jobs"
        return found[0]


class SubprocessEmulator(_Admin):
    """`python -m reconciler.emulator` as a real server process on a free port."""

    def __init__(self, *args: str, job_duration: float = 1.0, state_file: Path | None = None):
        command = [sys.executable, "-m", "reconciler.emulator", "--port", "0", "--job-duration", str(job_duration),
                   *(["--state-file", str(state_file)] if state_file else []), *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("listening on "), f"emulator did not start: {line!r} {self.process.stderr.read()}"
        self.base_url = line.split()[-1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


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


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:
        return (f"$ reconciler {' '.join(self.args)}  -> exit {self.code}\n--- stdout\n{self.out[-4000:]}"
                f"\n--- stderr\n{self.err[-4000:]}")


class Repo:
    """A manifest root `m/` under tmp_path, and the reconciler run on it as a real process."""

    def __init__(self, root: Path, emulator: _Admin):
        self.root = root
        self.manifests = root / "m"
        self.manifests.mkdir(parents=True, exist_ok=True)
        (self.manifests / "reconciler.yaml").write_text(CONFIG)
        self.emulator = emulator
        self.env = {**os.environ, "GOOGLE_OAUTH_ACCESS_TOKEN": "test-token", "GEMINI_API_KEY": "test-key",
                    "RECONCILER_POLL_INTERVAL": "0.1", "NO_COLOR": "1", "COLUMNS": "200"}
        for name in ("GOOGLE_API_KEY", "RECONCILER_API_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS"):
            self.env.pop(name, None)

    @property
    def lock_path(self) -> Path:
        return self.manifests / "reconciler.lock"

    def write(self, name: str, text: str) -> None:
        (self.manifests / f"{name}.yaml").write_text(text)

    def remove(self, name: str) -> None:
        (self.manifests / f"{name}.yaml").unlink()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.manifests.glob("*.yaml") if p.stem != "reconciler")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "reconciler", *args, "--api-endpoint", self.emulator.base_url]

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, process: subprocess.Popen, args: tuple[str, ...], timeout: float = 60) -> Result:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(f"reconciler {' '.join(args)} did not finish in {timeout}s\n{out}\n{err}")
        return Result(args, process.returncode, out, err)

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

    def read_lock(self) -> lockfile.Lock | None:
        return lockfile.read(self.lock_path)

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
    for model in emulator.listing(f"/v1/{PARENT}/models", "models"):
        if (model.get("labels") or {}).get("managed-by") == "reconciler" and \
                _model_tail(model["name"]) not in lock_models:
            orphans.append(f"model {model['name']}@{model.get('versionId')}")
    for endpoint in emulator.listing(f"/v1/{PARENT}/endpoints", "endpoints"):
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
    with emulator._http() as http:
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
