"""The emulator, in process or as a child process, and its admin surface over HTTP.

In process: `reconciler.emulator.Emulator` is a context manager (`with running(job_duration=30) as emu:`);
the `emulator` fixture is one on a free port with 60-second virtual jobs.

Child process: `EmulatorProcess(*args)` runs `python -m reconciler.emulator --port 0 ARGS`, waits (bounded)
for its `listening on http://...` line, and is stopped by its own pid (`stop()` returns the exit code). The
`spawn_emulator` fixture starts any number of them and stops whatever a test left running.

`EmulatorProcess` is an `AdminClient`: the admin surface over HTTP (request log, virtual clock, faults) and
authenticated GETs. An in-process `Emulator` has the same helpers as methods of its own (`requests()`,
`advance()`, `add_faults()`); `AdminClient` also serves one that must be reached over HTTP (subclass it and set
`base_url`, as the reliability harness does).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.testing import ROOT

JOB_DURATION = 60.0          # virtual seconds from create to success in the `emulator` fixture
VERTEX_AUTH = {"Authorization": "Bearer test-token"}
GEMINI_AUTH = {"x-goog-api-key": "test-key"}
MUTATING = frozenset({"POST", "PATCH", "DELETE", "PUT"})
# Variables that would redirect a child's calls or change how the Google SDKs authenticate.
SDK_ENV = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
           "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_API_VERSION",
           "RECONCILER_API_ENDPOINT")


# ------------------------------------------------------------------------------------------------ in process

@contextmanager
def running(**options: Any) -> Iterator[Emulator]:
    """An in-process emulator on a free port for the duration of the block (60-second jobs by default)."""
    with Emulator(**{"job_duration": JOB_DURATION, **options}) as emu:
        yield emu


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh in-process emulator on a free port (job duration 60 virtual seconds)."""
    with running() as emu:
        yield emu


# ------------------------------------------------------------------------------------------------ admin

class AdminClient:
    """The admin surface (`/__emulator__/...`) and authenticated GETs of the emulator at `base_url`."""

    base_url: str

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60)

    def admin(self, method: str, route: str, body: Any = None) -> Any:
        with self.http() as http:
            response = http.request(method, f"/__emulator__/{route}", json=body)
        assert response.status_code == 200, f"admin {method} {route}: {response.status_code} {response.text}"
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        """The API request log (the admin surface is never logged)."""
        return self.admin("GET", "requests")["requests"]

    def mutating(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] in MUTATING]

    def clear_requests(self) -> None:
        self.admin("DELETE", "requests")

    def advance(self, seconds: float) -> None:
        self.admin("POST", "clock:advance", {"seconds": seconds})

    def faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        self.admin("POST", "faults", {"faults": rules, **({"seed": seed} if seed is not None else {})})

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET an API path (Gemini API paths with an API key, Vertex paths with a bearer token); must be 200."""
        headers = GEMINI_AUTH if path.startswith("/v1beta/") else VERTEX_AUTH
        with self.http() as http:
            response = http.get(path, params=params, headers=headers)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def listing(self, path: str, key: str, *, max_pages: int = 1000) -> list[dict[str, Any]]:
        """Every item of a list call, following nextPageToken (bounded in pages)."""
        items: list[dict[str, Any]] = []
        token = None
        for _ in range(max_pages):
            page = self.get(path, pageSize=1000, **({"pageToken": token} if token else {}))
            items += page.get(key) or []
            token = page.get("nextPageToken")
            if not token:
                return items
        raise AssertionError(f"listing {path} did not end within {max_pages} pages")


# ------------------------------------------------------------------------------------------------ child process

def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child emulator: ours without SDK redirections, the repository first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in SDK_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


class EmulatorDidNotStart(RuntimeError):
    """No `listening on` line came from a child emulator in time (its stderr is in the message)."""


class EmulatorProcess(AdminClient):
    """`python -m reconciler.emulator --port 0 ARGS` as a child process, with its admin surface.

    `entry` replaces the module run with `-m` (e.g. `("reconciler", "emulator", "--")` for the CLI entry point).
    Raises EmulatorDidNotStart, with the child's stderr, when no `listening on` line comes within `start_timeout`."""

    def __init__(self, *args: str, job_duration: float | None = None, state_file: Path | str | None = None,
                 entry: tuple[str, ...] = ("reconciler.emulator",), cwd: Path = ROOT,
                 env: dict[str, str] | None = None, start_timeout: float = 30.0) -> None:
        options = [*(["--job-duration", str(job_duration)] if job_duration is not None else []),
                   *(["--state-file", str(state_file)] if state_file is not None else [])]
        self.command = [sys.executable, "-m", *entry, "--port", "0", *options, *args]
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")   # a file: a pipe could fill up
        self.process = subprocess.Popen(self.command, cwd=cwd, env=env if env is not None else child_env(),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                                        text=True)
        line = _first_line(self.process, start_timeout).strip()
        if not line.startswith("listening on http://"):
            self.stop()
            raise EmulatorDidNotStart(f"{' '.join(self.command[1:])} did not start within {start_timeout:.0f}s: "
                                 f"{line!r}\n{self.stderr()}")
        self.base_url = line.removeprefix("listening on ")

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self) -> int:
        """SIGTERM (SIGKILL after 10 s) by pid; the exit code. Safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()
        return self.process.returncode

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


@pytest.fixture
def spawn_emulator() -> Iterator[Callable[..., EmulatorProcess]]:
    """`spawn_emulator(*args, kind=EmulatorProcess, **options)` starts a child emulator; all are stopped after
    the test (`kind` is a subclass to construct, for suites that add helpers of their own)."""
    started: list[EmulatorProcess] = []

    def spawn(*args: str, kind: type[EmulatorProcess] = EmulatorProcess, **options: Any) -> EmulatorProcess:
        child = kind(*args, **options)
        started.append(child)
        return child

    yield spawn
    for child in started:
        child.stop()
