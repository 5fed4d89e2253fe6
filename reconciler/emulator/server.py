"""Loopback HTTP/1.1 transport: a threading server with a lean request reader that hands every request to a
`respond(method, raw_path, raw_query, headers, body) -> Reply` callable. Knows nothing about the APIs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .rpc import Reply

JSON_TYPE = "application/json; charset=UTF-8"
Respond = Callable[[str, str, str, dict[str, str], bytes], Reply]   # lower-cased header names


class HttpServer:
    """Binds (host, port) at once (port 0 picks a free one) and serves `respond` from a daemon thread."""

    def __init__(self, host: str, port: int, respond: Respond) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.respond = respond
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="emulator-http", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    respond: Respond

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
            reply = self.server.respond(self.command, raw_path, raw_query, headers, body)
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

