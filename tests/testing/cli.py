"""The `reconciler` command as a real child process: `python -m reconciler ARGS` in a given directory.

`run(...)` waits for the exit and returns a `Result` (exit code, stdout, stderr, seconds); `start(...)` and
`finish(...)` split that in two for tests that signal the process in between. Every run is bounded in time
and never reads our stdin (a missing `--yes` is refused, as in CI).

Where the interpreter would start the same way, the process is forked from a zygote that has imported
reconciler already (`tests.testing.zygote`: the suite runs about 600 commands, and imports were more than half
of each one's CPU); it is a process of its own, a child of the test, all the same. `fork=False` exec's it.

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
from tests.testing.zygote import zygote_for

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
    """A running `python -m MODULE` (`reconciler`, or a probe): a Popen that remembers when it started and what to
    write to its stdin.

    Forked from a zygote that has imported reconciler already wherever the interpreter would start the same way
    (`zygote`; `fork=False` exec's it, as does RECONCILER_TEST_FORK=off). Either way it is a process of its
    own, a child of this one, on these pipes: `forked` says which."""

    def __init__(self, argv: list[str], *, stdin_text: str | None = None, fork: bool = True, **options) -> None:
        self.started = time.perf_counter()
        self.stdin_text = stdin_text
        self.forked = False
        self._fork = fork
        super().__init__(argv, stdin=subprocess.DEVNULL if stdin_text is None else subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)

    def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                       creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, *rest):
        cwd = os.path.abspath(cwd or os.getcwd())
        restore_signals, gid, gids, uid, umask, new_session, *more = rest  # process_group since 3.11
        plain = (self._fork and list(args[:2]) == command()[:2] and len(args) > 2 and not shell and executable is None
                 and preexec_fn is None and not pass_fds and -1 not in (p2cread, c2pwrite, errwrite)
                 and env is not None and os.path.isdir(cwd) and restore_signals and umask < 0 and not new_session
                 and (gid, gids, uid) == (None, None, None) and all(value in (None, -1) for value in more))
        zygote = zygote_for(env, _pythonpath(), str(ROOT)) if plain else None
        if zygote is not None:
            try:
                self.pid = zygote.fork(args[2], list(args[3:]), env, cwd, (p2cread, c2pwrite, errwrite))
            except OSError:  # the request was not sent (the zygote is gone): exec'd, as every command after it
                pass
            else:
                self._child_created = self.forked = True
                self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)
                return None
        return super()._execute_child(args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                                      creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,
                                      *rest)


def start(*args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None,
          stdin: str | None = None, fork: bool = True) -> Process:
    """Start `reconciler ARGS`; pass the process to `finish`. `stdin` text is written to it (then closed)."""
    return Process(command(*args), stdin_text=stdin, fork=fork, cwd=cwd,
                   env=environment() if env is None else env)


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
        timeout: float = TIMEOUT, fork: bool = True) -> Result:
    """`reconciler ARGS` in `cwd` with `env` (default: `environment()`), timed from start to exit."""
    return finish(start(*args, cwd=cwd, env=env, stdin=stdin, fork=fork), args, timeout)
