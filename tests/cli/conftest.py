"""Fixtures for CLI tests: the reconciler as a real subprocess against an in-process emulator on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    cwd: Path
    endpoint: str
    emulator: Emulator

    def run(self, *args: str, endpoint: bool = True, env: dict | None = None, stdin: str | None = None):
        command = [sys.executable, "-m", "reconciler", *args]
        if endpoint:
            command += ["--api-endpoint", self.endpoint]
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("GOOGLE_", "GEMINI_", "RECONCILER_"))}
        environment.update({"GOOGLE_OAUTH_ACCESS_TOKEN": "test-token", "GEMINI_API_KEY": "test-key",
                            "NO_GCE_CHECK": "True", "NO_COLOR": "1", "RECONCILER_POLL_INTERVAL": "0.1",
                            "COLUMNS": "200", **(env or {})})
        return subprocess.run(command, cwd=self.cwd, env=environment, capture_output=True, text=True,
                              input=stdin, timeout=120)

    def mutations(self) -> list[dict]:
        return [r for r in self.emulator.requests() if r["method"] in ("POST", "PATCH", "DELETE")]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    with Emulator(job_duration=30) as emulator:
        yield Cli(cwd=tmp_path, endpoint=emulator.base_url, emulator=emulator)
