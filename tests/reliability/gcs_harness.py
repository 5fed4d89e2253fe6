"""Harness of the gcs-backend reliability tests: the reconciler as a real subprocess whose state lives in the
emulator's Cloud Storage JSON API (`state: {backend: gcs, bucket: acme-state, prefix: tuning/prod}`).

- `GcsAdmin`: the storage side of the admin helpers: create the bucket, download / upload / look at the state
  object `tuning/prod/default/reconciler.lock` and the run-lock object beside it, over HTTP like any client.
- `GcsProcessEmulator`: `python -m reconciler.emulator` as a child process, with those helpers.
- `GcsEmulator`: the emulator in the test process, both its tuning-API and its Cloud Storage entry points
  wrapped, so that a test can act at an exact request *kind* (`kind()`: lock-create, lock-renew, lock-delete,
  state-create, state-write, job-create, gemini-create, ...): `kill_at` SIGKILLs the reconciler the moment the
  emulator has committed (or, `before=True`, received) the k-th request of the chosen kinds; `on` runs any
  callback before or after a request of a kind (inject a 412, drop the answer, write behind the run's back).
- `GcsRepo`: `reliability_harness.Repo` with the gcs `reconciler.yaml`; `read_lock()` reads the state object, so
  `reliability_harness.census` counts against it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from reconciler.emulator import Emulator
from reconciler.emulator.rpc import Reply
from reconciler.state import document
from reconciler.state.model import Lock
from reliability_harness import LOCATION, PROJECT, Repo, _Admin
from tests.testing.emulators import MUTATING, EmulatorProcess

BUCKET, PREFIX = "acme-state", "tuning/prod"
STATE_OBJECT = f"{PREFIX}/default/reconciler.lock"
LOCK_OBJECT = f"{STATE_OBJECT}.lock"
STORAGE_AUTH = {"Authorization": "Bearer t"}
GCS_CONFIG = (f"stack: acme\ndefaults: {{project: {PROJECT}, location: {LOCATION}}}\n"
              f"state: {{backend: gcs, bucket: {BUCKET}, prefix: {PREFIX}}}\n")
UPLOAD_PATH = f"/upload/storage/v1/b/{BUCKET}/o"


def kind(method: str, path: str, query: dict[str, str]) -> str | None:
    """What a mutating request is, in the words of the tests; None for reads."""
    if method not in MUTATING:
        return None
    if path.startswith("/upload/storage/v1/b/"):
        name, first = query.get("name", ""), query.get("ifGenerationMatch") == "0"
        if name == LOCK_OBJECT:
            return "lock-create" if first else "lock-renew"
        if name == STATE_OBJECT:
            return "state-create" if first else "state-write"
        return f"upload {name}"
    if path.startswith("/storage/v1/b/"):
        if method == "DELETE" and path.endswith("/o/" + LOCK_OBJECT):
            return "lock-delete"
        return f"{method} storage {path}"
    if path.endswith("/tuningJobs"):
        return "job-create"
    if path == "/v1beta/tunedModels":
        return "gemini-create"
    return f"{method} {path}"


def logged_kind(entry: dict) -> str | None:
    """`kind` of an entry of the emulator's request log (its query is the raw query string)."""
    from urllib.parse import parse_qsl

    return kind(entry["method"], entry["path"], dict(parse_qsl(entry.get("query", ""), keep_blank_values=True)))


# ------------------------------------------------------------------------------------------------ storage admin


class GcsAdmin(_Admin):
    """Cloud Storage calls as a client makes them (bearer token), for the state and run-lock objects."""

    def create_bucket(self) -> None:
        with self.http() as http:
            response = http.post("/storage/v1/b", params={"project": PROJECT}, json={"name": BUCKET},
                                 headers=STORAGE_AUTH)
        assert response.status_code == 200, f"create bucket: {response.status_code} {response.text}"

    def download(self, name: str) -> tuple[bytes, int] | None:
        """(bytes, generation) of an object, or None when there is none."""
        with self.http() as http:
            response = http.get(f"/download/storage/v1/b/{BUCKET}/o/{quote(name, safe='')}",
                                params={"alt": "media"}, headers=STORAGE_AUTH)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, f"download {name}: {response.status_code} {response.text}"
        return response.content, int(response.headers["x-goog-generation"])

    def upload(self, name: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        """Store `data` as `name` (unconditionally, unless a precondition is given); its new generation."""
        params = {"uploadType": "media", "name": name}
        if if_generation_match is not None:
            params["ifGenerationMatch"] = str(if_generation_match)
        with self.http() as http:
            response = http.post(UPLOAD_PATH, params=params, content=data,
                                 headers={**STORAGE_AUTH, "content-type": "application/json"})
        assert response.status_code == 200, f"upload {name}: {response.status_code} {response.text}"
        return int(response.json()["generation"])

    def state(self) -> dict | None:
        """The state object as JSON (None when there is none)."""
        found = self.download(STATE_OBJECT)
        return json.loads(found[0]) if found else None

    def holder(self) -> dict | None:
        """The run-lock object's record (None when nobody holds the lock)."""
        found = self.download(LOCK_OBJECT)
        return json.loads(found[0]) if found else None

    def wait_for_holder(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            holder = self.holder()
            if holder is not None:
                return holder
            time.sleep(0.02)
        raise AssertionError(f"nobody took the run lock within {timeout:.0f}s")


class GcsProcessEmulator(EmulatorProcess, GcsAdmin):
    """The emulator as a child process (virtual jobs of `job_duration` seconds), its bucket created."""

    def __init__(self, *args: str, job_duration: float = 600.0):
        super().__init__(*args, job_duration=job_duration)
        self.create_bucket()


# ------------------------------------------------------------------------------------------------ in process


@dataclass
class Hook:
    """Run `action(request)` before (or after) the `at`-th request whose kind is in `kinds` (1-based, counted
    from when the hook is added). Before: a Reply returned is answered instead of serving the request. After:
    `action(request, reply)` may change the reply (e.g. `reply.drop = True`)."""

    kinds: frozenset[str]
    at: int
    action: Callable
    before: bool = False
    committed_only: bool = False  # after: count only requests the emulator carried out (2xx), not its refusals
    seen: int = 0
    fired: dict | None = None
    done: threading.Event = field(default_factory=threading.Event)


class GcsEmulator(GcsAdmin):
    """The emulator embedded in the test process, both entry points wrapped for `Hook`s."""

    def __init__(self, *, job_duration: float = 0.5, latency_ms: float = 0.0):
        self.emulator = Emulator(job_duration=job_duration, latency_ms=latency_ms)
        self.base_url = self.emulator.start()
        self.hooks: list[Hook] = []
        self._lock = threading.Lock()
        self.log: list[tuple[str, int]] = []  # (kind, status) of every mutating request served
        serve_api, serve_storage = self.emulator.serve_api, self.emulator.serve_storage

        def api(method, path, pairs, headers, raw_body):
            return self._serve(method, path, pairs, lambda: serve_api(method, path, pairs, headers, raw_body))

        def storage(method, raw_path, path, pairs, headers, raw_body):
            return self._serve(method, path, pairs,
                               lambda: serve_storage(method, raw_path, path, pairs, headers, raw_body))

        self.emulator.serve_api, self.emulator.serve_storage = api, storage
        self.create_bucket()
        self.log.clear()
        self.clear_requests()

    def _serve(self, method: str, path: str, pairs: list[tuple[str, str]], serve: Callable) -> tuple[Reply, str]:
        what = kind(method, path, dict(pairs))
        request = {"kind": what, "method": method, "path": path, "query": dict(pairs)}
        if what is not None:
            for hook in self._due(what, before=True):
                answer = hook.action(request)
                hook.done.set()
                if isinstance(answer, Reply):
                    return answer, "hook"
        reply, note = serve()
        if what is not None:
            with self._lock:
                self.log.append((what, reply.status))
            for hook in self._due(what, before=False, status=reply.status):
                hook.action(request, reply)
                hook.done.set()
        return reply, note

    def _due(self, what: str, *, before: bool, status: int = 0) -> list[Hook]:
        due = []
        with self._lock:
            for hook in self.hooks:
                if hook.before != before or hook.fired is not None or what not in hook.kinds:
                    continue
                if hook.committed_only and not 200 <= status < 300:
                    continue
                hook.seen += 1
                if hook.seen == hook.at:
                    hook.fired = {"kind": what}
                    due.append(hook)
        return due

    def on(self, kinds: str | set[str], action: Callable, *, at: int = 1, before: bool = False,
           committed_only: bool = False) -> Hook:
        hook = Hook(frozenset({kinds} if isinstance(kinds, str) else kinds), at, action, before, committed_only)
        with self._lock:
            self.hooks.append(hook)
        return hook

    def kill_at(self, kinds: set[str], at: int, *, before: bool = False) -> Killer:
        """SIGKILL the process given to the returned `Killer` at the `at`-th request of `kinds`: once the
        emulator has committed it (a 2xx: refusals such as a 429 are not counted; its answer not yet sent), or as
        it arrives (`before`: never served)."""
        killer = Killer()
        unserved = Reply(503, {"error": {"code": 503, "message": "not served: the client was killed"}})

        def fire(request, reply=None):
            killer.request = request
            killer.kill()
            return unserved if before else None

        killer.hook = self.on(kinds, fire, at=at, before=before, committed_only=not before)
        return killer

    def kinds_served(self) -> list[str]:
        with self._lock:
            return [k for k, _ in self.log]

    def stop(self) -> None:
        self.emulator.stop()


class Killer:
    process: subprocess.Popen | None = None
    request: dict | None = None
    hook: Hook

    def kill(self) -> None:
        deadline = time.monotonic() + 10
        while self.process is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)  # dead before the answer is even written

    @property
    def fired(self) -> bool:
        return self.hook.fired is not None


# ------------------------------------------------------------------------------------------------ the CLI


class GcsRepo(Repo):
    """A checkout: manifests under `root/m` with the gcs reconciler.yaml; the state is the bucket's object."""

    def __init__(self, root: Path, emulator: GcsAdmin, *, lease: float | None = None):
        super().__init__(root, emulator)
        (self.manifests / "reconciler.yaml").write_text(GCS_CONFIG)
        if lease is not None:
            self.env["RECONCILER_STATE_LEASE"] = f"{lease:g}"

    def read_lock(self) -> Lock | None:
        found = self.emulator.download(STATE_OBJECT)
        if found is None:
            return None
        where = f"gs://{BUCKET}/{STATE_OBJECT}"
        return document.decode(found[0], where, "(test)", previous="(test)", noun="object")

    def force_unlock(self, lock_id: str) -> object:
        return self.run("force-unlock", lock_id, "--path", "m")
