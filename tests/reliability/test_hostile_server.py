"""A broken or hostile server never causes data loss: the real CLI against a tiny hostile HTTP server.

The server is a proxy in front of a healthy in-process emulator that breaks one class of answer at a time: a 200
with a JSON `error` body, an empty 200, a redirect without a body, an HTML 200, truncated JSON, listing items
without `name`, a body that drips in slowly, a body past the size cap, and create answers without `name`.

Each probe starts from a manifest root whose lock a healthy apply wrote. Against the hostile server `plan` and
`apply --yes` (with one manifest removed, the case that once read as "nothing live" and forgot it) exit 1 with a
one-line message and no traceback, and the lock is byte-identical; a rerun against the healthy emulator then
converges with no changes and no duplicate job.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.testing import cli as reconciler_cli
from tests.testing.cli import Result
from tests.testing.emulators import running
from tests.testing.manifests import config, gemini_manifest, vertex_manifest, write_files

pytestmark = pytest.mark.slow

PROJECT = "hostile-project"
DEADLINE = "0.5"  # RECONCILER_REQUEST_DEADLINE against the slow drip (ends fast); 10 s for the other probes
CLI_TIMEOUT = 60.0  # one command, bounded
DRIP_SECONDS = 0.1  # per byte
HUGE = 65 * 1024 * 1024 + 1  # past the 64 MiB cap
MANIFESTS = {"reconciler.yaml": config(PROJECT), "hostile-a.yaml": vertex_manifest("hostile-a", checkpoints=False),
             "hostile-b.yaml": vertex_manifest("hostile-b", checkpoints=False),
             "hostile-g.yaml": gemini_manifest("hostile-g")}
FORWARDED = ("authorization", "x-goog-api-key", "content-type")


class Hostile(ThreadingHTTPServer):
    """Forwards to `upstream`, and breaks the answers `mode` names."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream, self.mode = upstream, "healthy"
        self.http = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Hostile

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # http.server's spelling
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        upstream = self.server.http.request(
            self.command, self.server.upstream + self.path, content=body,
            headers={k: v for k, v in self.headers.items() if k.lower() in FORWARDED})
        mode = self.server.mode
        reading = self.command == "GET"
        creating = self.command == "POST" and self.path.split("?")[0].endswith(("/tuningJobs", "/tunedModels"))
        if mode == "healthy" or (mode == "create-without-name") != creating or (mode != "create-without-name"
                                                                                and not reading):
            return self._answer(upstream.status_code, upstream.content, upstream.headers.get("content-type", ""))
        getattr(self, "_" + mode.replace("-", "_"))(upstream)

    do_POST = do_PATCH = do_DELETE = do_GET

    # --- the broken answers ------------------------------------------------------------------------------------
    def _error_body(self, upstream: httpx.Response) -> None:
        self._answer(200, json.dumps({"error": {"code": 500, "message": "backend exploded"}}).encode())

    def _empty_200(self, upstream: httpx.Response) -> None:
        self._answer(200, b"")

    def _redirect_302(self, upstream: httpx.Response) -> None:
        self._answer(302, b"", "", location=self.server.upstream + self.path)  # following it would look healthy

    def _redirect_307(self, upstream: httpx.Response) -> None:
        self._answer(307, b"", "", location=self.server.upstream + self.path)

    def _html_200(self, upstream: httpx.Response) -> None:
        self._answer(200, b"<html><body>Please sign in to the Wi-Fi</body></html>", "text/html")

    def _truncated_json(self, upstream: httpx.Response) -> None:
        self._answer(200, upstream.content[: len(upstream.content) // 2])

    def _listing_without_name(self, upstream: httpx.Response) -> None:
        data = upstream.json()
        for value in data.values():
            for item in value if isinstance(value, list) else ():
                item.pop("name", None)
        self._answer(200, json.dumps(data).encode())

    def _create_without_name(self, upstream: httpx.Response) -> None:
        data = upstream.json()  # the create did happen upstream; only its answer is broken
        data.pop("name", None)
        (data.get("metadata") or {}).pop("tunedModel", None)
        self._answer(upstream.status_code, json.dumps(data).encode())

    def _slow_drip(self, upstream: httpx.Response) -> None:
        self._head(200, "application/json", length=len(upstream.content))
        stop = time.monotonic() + 10
        try:
            for byte in upstream.content:
                if time.monotonic() > stop:
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(DRIP_SECONDS)
        except OSError:
            pass  # the client gave up: what it should do
        self.close_connection = True

    def _huge(self, upstream: httpx.Response) -> None:
        self._head(200, "application/json", length=None)  # no length: read until the connection closes
        chunk, sent = b" " * (1024 * 1024), 0
        try:
            while sent < HUGE:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        self.close_connection = True

    # --- plumbing ----------------------------------------------------------------------------------------------
    def _head(self, status: int, content_type: str, length: int | None, location: str = "") -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if location:
            self.send_header("Location", location)
        if length is None:
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _answer(self, status: int, body: bytes, content_type: str = "application/json", location: str = "") -> None:
        self._head(status, content_type, len(body), location)
        self.wfile.write(body)


@pytest.fixture(scope="module")
def healthy_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Once per module (and xdist worker): a root whose lock a healthy apply wrote, and the emulator's state file
    as that apply left it (jobs ended, the apply re-run, the plan in sync). Each test gets copies of both."""
    base = tmp_path_factory.mktemp("healthy-world")
    root, state = write_files(base / "root", MANIFESTS), base / "cloud.json"
    with running(job_duration=30, state_file=str(state)) as emulator:
        healthy(root, emulator, "apply", ".", "--yes")
        emulator.advance(3600)
        healthy(root, emulator, "apply", ".", "--yes")
        assert healthy(root, emulator, "plan", ".", "--detailed-exitcode").code == 0
    return root, state


@pytest.fixture
def hostile_world(tmp_path: Path, healthy_world: tuple[Path, Path]) -> Iterator[tuple[Emulator, Hostile, Path]]:
    """An emulator, a hostile proxy in front of it, and a root whose lock a healthy apply wrote: copies of the
    module's healthy world (the emulator restarted from its state file), so no test sees another's changes."""
    root, state = tmp_path / "root", tmp_path / "cloud.json"
    shutil.copytree(healthy_world[0], root)
    shutil.copyfile(healthy_world[1], state)
    with running(job_duration=30, state_file=str(state)) as emulator:
        server = Hostile(emulator.base_url)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield emulator, server, root
        finally:
            server.shutdown()
            server.server_close()
            server.http.close()


def cli(root: Path, endpoint: str, *args: str, deadline: str | None = None) -> Result:
    env = reconciler_cli.environment({"RECONCILER_REQUEST_DEADLINE": deadline} if deadline else None)
    return reconciler_cli.run(*args, "--api-endpoint", endpoint, cwd=root, env=env, timeout=CLI_TIMEOUT)


def healthy(root: Path, emulator: Emulator, *args: str) -> Result:
    result = cli(root, emulator.base_url, *args)
    assert result.code in (0, 2), result
    return result


def creates(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r["method"] == "POST"
               and r["path"].split("?")[0].endswith(("/tuningJobs", "/tunedModels")))


PROBES = {
    "error-body": "an error in a success answer",
    "empty-200": "an empty body",
    "redirect-302": "BAD_RESPONSE (302): the server answered with a redirect to",
    "redirect-307": "BAD_RESPONSE (307): the server answered with a redirect to",
    "html-200": "content type 'text/html'",
    "truncated-json": "a body that is not JSON",
    "listing-without-name": "GET http://127.0.0.1",
    "slow-drip": "took longer than 0.5s",
    "huge": "past the 64 MiB cap",
}


@pytest.mark.parametrize("mode", sorted(PROBES))
def test_a_broken_answer_stops_the_run_before_any_decision(hostile_world, mode):
    emulator, server, root = hostile_world
    lock = (root / "reconciler.lock").read_bytes()
    jobs = creates(emulator)
    server.mode = mode
    deadline = DEADLINE if mode == "slow-drip" else "10"

    plan = cli(root, server.url, "plan", ".", deadline=deadline)
    removed = (root / "hostile-b.yaml").read_text()
    (root / "hostile-b.yaml").unlink()  # once read as "nothing live": `x forget`, and the lock lost it
    apply = cli(root, server.url, "apply", ".", "--yes", deadline=deadline)
    (root / "hostile-b.yaml").write_text(removed)

    for result in (plan, apply):
        assert result.code == 1, result
        assert "Traceback" not in result.err and "internal error" not in result.err, result
        assert PROBES[mode] in result.err, result
        if mode == "listing-without-name":
            assert "whose `name` is missing" in result.err, result
        assert "test-token" not in result.text and "test-key" not in result.text
    assert (root / "reconciler.lock").read_bytes() == lock
    assert creates(emulator) == jobs

    server.mode = "healthy"
    again = cli(root, emulator.base_url, "plan", ".", "--detailed-exitcode")
    assert again.code == 0 and "no changes" in again.out, again
    assert creates(emulator) == jobs


def test_a_create_answer_without_a_name_is_looked_up_not_resent(hostile_world):
    """The create happened upstream, only its answer is broken: the exactly-once protocol finds it by lookup."""
    emulator, server, root = hostile_world
    write_files(root, {"hostile-c.yaml": vertex_manifest("hostile-c", checkpoints=False),
                       "hostile-h.yaml": gemini_manifest("hostile-h")})
    jobs = creates(emulator)
    server.mode = "create-without-name"

    applied = cli(root, server.url, "apply", ".", "--yes", deadline="10")
    assert "Traceback" not in applied.err and "internal error" not in applied.err, applied
    assert applied.code == 0, applied
    assert creates(emulator) == jobs + 2  # each sent once: the broken answer is "may have happened", looked up
    assert applied.out.count("its create answer was lost") == 2, applied

    server.mode = "healthy"
    emulator.advance(3600)
    healthy(root, emulator, "apply", ".", "--yes")
    again = cli(root, emulator.base_url, "plan", ".", "--detailed-exitcode")
    assert again.code == 0 and "no changes" in again.out, again
    assert creates(emulator) == jobs + 2
