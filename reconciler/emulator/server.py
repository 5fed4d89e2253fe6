"""HTTP front end: routing to the two API surfaces, auth, quota, faults, latency, the request log,
and `Emulator`, the embeddable server (also what `python -m reconciler.emulator` runs)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from .admin import Admin
from .clock import Clock, rfc3339
from .faults import Faults, Quota
from .gemini import Gemini
from .routing import ApiRequest, clean_query, split_verb
from .rpc import RpcError, bad_request, unauthenticated
from .store import Store
from .vertex import Vertex

ADMIN_PREFIX = "/__emulator__/"
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    def payload(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Emulator:
    """The local emulator of both tuning APIs, embeddable in-process:

        with Emulator(state_file="state.json", job_duration=60, latency_ms=0) as emu:
            base_url = emu.base_url            # "http://127.0.0.1:PORT" (port 0 picks a free one)
            emu.advance(30)                    # push the virtual clock forward
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, job_duration: float = 60.0,
                 latency_ms: float = 0.0, state_file: str | None = None, quota_rps: float | None = None,
                 fault_seed: int = 0, record_bodies: bool = False, owner_email: str = "owner@example.com",
                 log_limit: int = 100_000) -> None:
        self.host, self.port = host, port
        self.latency_ms = float(latency_ms)
        self.record_bodies = record_bodies
        self.clock = Clock()
        self.store = Store(state_file)
        if self.store.load():
            self.clock.reset(self.store.state.get("clockOffset", 0.0))
        self.vertex = Vertex(self.store, self.clock, job_duration)
        self.gemini = Gemini(self.store, self.clock, job_duration, owner_email)
        self.faults = Faults(fault_seed)
        self.quota = Quota(quota_rps) if quota_rps else None
        self.log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.log_lock = threading.Lock()
        self.admin = Admin(self)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.recompute_due()

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        if self._server is None:
            self._server = _Server((self.host, self.port), _Handler)
            self._server.emulator = self
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="emulator-http", daemon=True)
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ embedding helpers (also on the admin surface)
    def advance(self, seconds: float) -> float:
        with self.store.lock:
            self.clock.advance(seconds)
            self.settle(self.clock.now())
            self.store.save(self.clock.offset)    # the clock offset is part of the persisted state
        return self.clock.offset

    def requests(self) -> list[dict[str, Any]]:
        with self.log_lock:
            return list(self.log)

    def clear_requests(self) -> None:
        with self.log_lock:
            self.log.clear()

    def add_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        if seed is not None:
            self.faults.reseed(seed)
        return self.faults.add(rules)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        with self.store.lock:
            self.store.reset()
            self.clock.reset(0.0)
            self.recompute_due()
            self.store.save(self.clock.offset)
        self.clear_requests()
        self.faults.clear()
        self.faults.reseed(self.faults.seed)

    # ------------------------------------------------------------------ state upkeep (callers hold store.lock)
    def settle(self, now: float) -> None:
        self.vertex.settle(now)
        self.gemini.settle(now)
        self.recompute_due()

    def recompute_due(self) -> None:
        self.store.next_due = min(self.vertex.due_times() + self.gemini.due_times(), default=float("inf"))

    def commit(self) -> None:
        if self.store.dirty:
            self.recompute_due()
            self.store.save(self.clock.offset)

    # ------------------------------------------------------------------ one request
    def serve(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str], raw_body: bytes) -> Reply:
        path = unquote(raw_path)
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        if path.startswith(ADMIN_PREFIX):
            return self.admin.serve(method, path[len(ADMIN_PREFIX):], raw_body)
        wall = time.time()
        reply, note = self.serve_api(method, path, pairs, headers, raw_body)
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        entry: dict[str, Any] = {"method": method, "path": path, "query": unquote(raw_query),
                                 "status": reply.status, "time": rfc3339(wall)}
        if note:
            entry["fault"] = note
        if reply.drop:
            entry["dropped"] = True
        if self.record_bodies:
            entry["response"] = reply.body
        with self.log_lock:
            self.log.append(entry)
        return reply

    def serve_api(self, method: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
                  raw_body: bytes) -> tuple[Reply, str]:
        notes: list[str] = []
        drop = False
        try:
            if self.quota is not None:
                refusal = self.quota.take()
                if refusal is not None:
                    notes.append("quota")
                    raise refusal
            effects = self.faults.apply(method, path)
            notes += effects.applied
            drop = effects.drop
            if effects.latency_ms:
                time.sleep(effects.latency_ms / 1000.0)
            if effects.error is not None:
                raise effects.error
            request, api = self.route(method, path, pairs, headers, raw_body)
            with self.store.lock:
                now = self.clock.now()
                if now >= self.store.next_due:
                    self.settle(now)
                try:
                    body = api.handle(request, now)
                finally:
                    self.commit()
            reply = Reply(200, body)
        except RpcError as err:
            reply = Reply(err.http_status, err.body(), dict(err.headers))
        except Exception as err:  # noqa: BLE001 - a bug must still answer in the google.rpc envelope
            traceback.print_exc(file=sys.stderr)
            failure = RpcError("INTERNAL", f"Internal error in the emulator: {err!r}")
            reply = Reply(failure.http_status, failure.body())
        reply.drop = drop
        return reply, ",".join(notes)

    def route(self, method: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
              raw_body: bytes) -> tuple[ApiRequest, Vertex | Gemini]:
        segments = [s for s in path.split("/") if s]
        if not segments:
            raise RpcError("NOT_FOUND", f"No API at {path!r}.")
        version, rest = segments[0], segments[1:]
        rest, verb = split_verb(rest)
        api: Vertex | Gemini
        if version in ("v1", "v1beta1") and rest[:1] == ["projects"]:
            api = self.vertex
            authorised = _bearer(headers) or any(k == "access_token" and v for k, v in pairs)
            if not authorised:
                raise unauthenticated("Request is missing required authentication credential. Expected OAuth 2 "
                                      "access token (Authorization: Bearer ...).")
        elif version in ("v1beta", "v1") and rest[:1] == ["tunedModels"]:
            api = self.gemini
            authorised = (headers.get("x-goog-api-key") or _bearer(headers)
                          or any(k == "key" and v for k, v in pairs))
            if not authorised:
                raise unauthenticated("Request is missing required authentication credential: send an API key "
                                      "(x-goog-api-key header or ?key=) or an OAuth 2 bearer token.")
        else:
            raise RpcError("NOT_FOUND", f"No API at {path!r}: Vertex AI lives under /v1/ and /v1beta1/projects/..., "
                                        "the Gemini API under /v1beta/tunedModels.")
        body = None
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except ValueError as err:
                raise bad_request([("", f"Invalid JSON payload received. {err}")]) from None
        return ApiRequest(method, rest, version, clean_query(pairs), body, headers, verb), api


def _bearer(headers: dict[str, str]) -> bool:
    value = headers.get("authorization", "")
    return value[:7].lower() == "bearer " and bool(value[7:].strip())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    emulator: Emulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # keep-alive
    server_version = "reconciler-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request stderr noise
        pass

    def handle_one_request(self) -> None:
        """A lean HTTP/1.1 request reader (the stdlib one parses headers with the email package, which
        dominates the cost of a small GET); keep-alive unless the client asks to close."""
        try:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            parts = line.decode("latin-1").split()
            if len(parts) != 3 or len(line) > 65536:
                self._fail(400 if len(line) <= 65536 else 414)
                return
            self.command, self.path, self.request_version = parts
            headers: dict[str, str] = {}
            while True:
                raw = self.rfile.readline(65537)
                if raw in (b"\r\n", b"\n", b""):
                    break
                if len(headers) >= 100:
                    self._fail(431)
                    return
                name, _, value = raw.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            self.close_connection = ("close" in connection if self.request_version == "HTTP/1.1"
                                     else "keep-alive" not in connection)
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = self._body(headers)
            raw_path, _, raw_query = self.path.partition("?")
            reply = self.server.emulator.serve(self.command, raw_path, raw_query, headers, body)
            self._send(reply)
        except (TimeoutError, ConnectionError, ValueError):
            self.close_connection = True

    def _body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _fail(self, status: int) -> None:
        self.close_connection = True
        self.wfile.write(f"HTTP/1.1 {status} Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                         .encode("latin-1"))

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            # "commit then drop": the mutation is persisted, the client gets no response at all.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = reply.payload()
        lines = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('Error',))[0]}",
                 f"Content-Type: {JSON_TYPE}", f"Content-Length: {len(payload)}", "Server: reconciler-emulator"]
        lines += [f"{key}: {value}" for key, value in reply.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

