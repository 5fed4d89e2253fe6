"""Fixtures for CLI tests: the reconciler as a real subprocess (tests.testing.cli) against an in-process
emulator on loopback, in a scratch copy of the repository's example manifests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.emulator import Emulator
from tests.testing import cli as reconciler_cli
from tests.testing.cli import Result
from tests.testing.emulators import running
from tests.testing.manifests import copy_examples
from tests.testing.silent import silent_server  # noqa: F401  (fixture)


@dataclass
class Cli:
    cwd: Path
    endpoint: str
    emulator: Emulator

    def run(self, *args: str, endpoint: bool = True, env: dict | None = None, stdin: str | None = None) -> Result:
        """`reconciler ARGS [--api-endpoint EMULATOR]` in the scratch directory; `env` adds to the environment."""
        command = [*args, *(["--api-endpoint", self.endpoint] if endpoint else [])]
        return reconciler_cli.run(*command, cwd=self.cwd, env=reconciler_cli.environment(env), stdin=stdin)

    def mutations(self) -> list[dict]:
        return [r for r in self.emulator.requests() if r["method"] in ("POST", "PATCH", "DELETE")]


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    """Options of the emulator can be given by indirect parametrization (default: 30-second virtual jobs)."""
    copy_examples(tmp_path / "manifests")
    with running(**{"job_duration": 30, **getattr(request, "param", {})}) as emulator:
        yield Cli(cwd=tmp_path, endpoint=emulator.base_url, emulator=emulator)
