"""The `reconciler` command as a real child process: `python -m reconciler ARGS` in a given directory.

`run(...)` waits for the exit and returns a `Result` (exit code, stdout, stderr, seconds); `start(...)` and
`finish(...)` split that in two for tests that signal the process in between. Every run is bounded in time
and never reads our stdin (a missing `--yes` is refused, as in CI).

Environments: `environment()` is ours without any GOOGLE_* / GEMINI_* / RECONCILER_* variable, plus test
credentials for a non-Google endpoint, no colour, wide lines and a 0.1 s poll interval; `bare_environment()`
inherits nothing (no credentials, no HOME): what `validate` and `schema` must work with.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.testing import ROOT

TIMEOUT = 120.0


class CliTimeout(RuntimeError):
    """The command did not exit within its timeout (it was killed)."""


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float = 0.0  # from spawn to exit

    # the subprocess.CompletedProcess spelling
    @property
    def returncode(self) -> int:
        return self.code

    @property
    def stdout(self) -> str:
        return self.out

    @property
    def stderr(self) -> str:
        return self.err

    @property
    def text(self) -> str:
        return self.out + self.err

    def describe(self) -> str:
        """One line: the command, its exit code and the last lines it printed."""
        tail = (self.err.strip() or self.out.strip()).splitlines()[-5:]
        return f"`reconciler {' '.join(self.args)}` exited {self.code}: " + " | ".join(tail)

    def __str__(self) -> str:
        return (f"$ reconciler {' '.join(self.args)}  -> exit {self.code}\n--- stdout\n{self.out[-4000:]}"
                f"\n--- stderr\n{self.err[-4000:]}")


def _pythonpath() -> str:
    """The repository first, so a child imports the reconciler these tests belong to."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_", "RECONCILER_"))}
    env.update({"GOOGLE_OAUTH_ACCESS_TOKEN": "test-token", "GEMINI_API_KEY": "test-key", "NO_GCE_CHECK": "True",
                "NO_COLOR": "1", "RECONCILER_POLL_INTERVAL": "0.1", "COLUMNS": "200",
                "PYTHONPATH": _pythonpath()})
    env.update(extra or {})
    return env


def bare_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": _pythonpath(), **(extra or {})}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


class Process(subprocess.Popen):
    """A running `reconciler`: a Popen that remembers when it started and what to write to its stdin."""

    def __init__(self, argv: list[str], *, stdin_text: str | None = None, **options) -> None:
        self.started = time.perf_counter()
        self.stdin_text = stdin_text
        super().__init__(argv, stdin=subprocess.DEVNULL if stdin_text is None else subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def start(*args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None,
          stdin: str | None = None) -> Process:
    """Spawn `reconciler ARGS`; pass the process to `finish`. `stdin` text is written to it (then closed)."""
    return Process(command(*args), stdin_text=stdin, cwd=cwd, env=environment() if env is None else env)


def finish(process: Process, args: tuple[str, ...], timeout: float = TIMEOUT) -> Result:
    """Wait (bounded) for a process from `start`; on timeout kill it and raise CliTimeout with its output."""
    try:
        out, err = process.communicate(input=process.stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise CliTimeout(f"`reconciler {' '.join(args)}` did not finish within {timeout:.0f}s\n{out}\n{err}") \
            from None
    return Result(tuple(args), process.returncode, out, err, time.perf_counter() - process.started)


def run(*args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = TIMEOUT) -> Result:
    """`reconciler ARGS` in `cwd` with `env` (default: `environment()`), timed from spawn to exit."""
    return finish(start(*args, cwd=cwd, env=env, stdin=stdin), args, timeout)
