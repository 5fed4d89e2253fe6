"""A server that accepts connections and never answers: a command blocked in its first request, for tests of
what an interrupt does there (`silent_server` fixture: `silent_server()` makes one)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.testing import cli


class SilentServer:
    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(60)
        self.endpoint = "http://127.0.0.1:%d" % self.socket.getsockname()[1]
        self.connections: list[socket.socket] = []

    def blocked(self, *args: str, cwd: Path, fork: bool = True) -> cli.Process:
        """`reconciler ARGS --api-endpoint THIS` started, past its start-up and waiting for an answer to its first
        request (held open, unanswered)."""
        process = cli.start(*args, "--api-endpoint", self.endpoint, cwd=cwd, fork=fork)
        self.connections.append(self.socket.accept()[0])
        return process

    def close(self) -> None:
        for connection in [*self.connections, self.socket]:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[Callable[[], SilentServer]]:
    """`silent_server()`: a new one (each command's connections its own), all closed at the end."""
    servers: list[SilentServer] = []

    def new() -> SilentServer:
        servers.append(SilentServer())
        return servers[-1]
    yield new
    for server in servers:
        server.close()
