"""Loopback HTTP/1.1 transport: a threading server with a lean request reader that hands every request to a
`respond(method, raw_path, raw_query, headers, body) -> Reply` callable. Knows nothing about the APIs.
Request bodies are capped at limits.MAX_BODY_BYTES: beyond it 413, answered without reading the body."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .limits import MAX_BODY_BYTES
from .rpc import Reply, RpcError

JSON_TYPE = "application/json; charset=UTF-8"
Respond = Callable[[str, str, str, dict[str, str], bytes], Reply]   # lower-cased header names


_LENGTH = re.compile(r"[0-9]{1,20}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _Refused(Exception):
    """A request refused before (or while) reading its body; the connection is closed after the answer."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.reply = RpcError("INVALID_ARGUMENT", message, http_status=http_status).reply()


def _too_large(size: str) -> _Refused:
    return _Refused(413, f"Request body too large ({size}): the emulator accepts at most {MAX_BODY_BYTES} bytes "
                         f"({MAX_BODY_BYTES // (1024 * 1024)} MiB).")


class HttpServer:
    """Binds (host, port) at once (port 0 picks a free one) and serves `respond` from a daemon thread."""

    def __init__(self, host: str, port: int, respond: Respond) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.respond = respond
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="emulator-http", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return host, port

    @property
    def base_url(self) -> str:
        host, port = self.address
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
            try:
                body = self._body(headers)
            except _Refused as refusal:      # answered without reading (the rest of) the body
                self.close_connection = True
                self._send(refusal.reply)
                self._linger()
                return
            raw_path, _, raw_query = self.path.partition("?")
            reply = self.server.respond(self.command, raw_path, raw_query, headers, body)
            self._send(reply)
        except (TimeoutError, ConnectionError, ValueError):
            self.close_connection = True

    def _body(self, headers: dict[str, str]) -> bytes:
        """The request body, at most MAX_BODY_BYTES: a larger Content-Length is refused (413) before a byte of
        the body is read (and before any `100 Continue`), a chunked body as soon as it grows beyond the cap."""
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = 0
        if not chunked and "content-length" in headers:
            text = headers["content-length"].strip()
            if not _LENGTH.fullmatch(text):
                raise _Refused(400, f"Invalid Content-Length {text[:40]!r}: send a non-negative integer.")
            length = int(text)
            if length > MAX_BODY_BYTES:
                raise _too_large(f"Content-Length {length}")
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            return self._chunked()
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            raise ConnectionError("the client closed the connection within the request body")
        return body

    def _linger(self, seconds: float = 2.0) -> None:
        """After a refusal: stop writing and discard what the client still sends, for a bounded time, so that a
        client that writes its whole body before reading sees the answer rather than a connection reset."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.25)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and self.connection.recv(1 << 16):
                pass
        except OSError:
            pass

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            text = self.rfile.readline(1024).split(b";")[0].strip()
            if not _CHUNK_SIZE.fullmatch(text):
                raise _Refused(400, "Invalid chunked request body: bad chunk size line.")
            size = int(text, 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _too_large(f"chunked, over {total} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("the client closed the connection within a chunk")
            chunks.append(chunk)
            self.rfile.readline(1024)

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
        lines = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('Error',))[0]}"]
        if reply.status not in (204, 304):           # no body, no Content-Type or Content-Length (RFC 9110)
            if not any(key.lower() == "content-type" for key in reply.headers):
                lines.append(f"Content-Type: {JSON_TYPE}")
            lines.append(f"Content-Length: {len(payload)}")
        else:
            payload = b""
        lines.append("Server: reconciler-emulator")
        lines += [f"{key}: {value}" for key, value in reply.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

