"""`python -m reconciler` processes forked from an interpreter that has already imported it: the suite's fixed cost.

The suite runs about 600 `reconciler` commands, and a fresh `python -m reconciler` spends more than half of its
CPU importing (pydantic building the manifest schema, httpx, rich, YAML) before it does anything a test looks at.
A zygote is a child of the test worker that imports all of that once, then forks a process per command.

Each command is still a real process of its own, and a child of the test that started it: the zygote forks an
intermediate that forks the command and exits at once, and the test worker, a child subreaper
(PR_SET_CHILD_SUBREAPER), inherits the orphan. So `Popen.wait`, exit codes, `kill -9` at any moment, signals
and pipes are those of the process itself, exactly as for an exec'd one. The command gets the test's pipes
(passed over a Unix socket), its working directory, environment and arguments, standard streams made as the
interpreter makes them, and runs its module as `python -m` would (`runpy`), through the interpreter's normal exit.
`tests/cli/test_cli_forked_commands.py` compares forked and exec'd processes (`tests.testing.probe`).

What it cannot give is a fresh interpreter: only a process whose interpreter would start the same way is forked
(the same PYTHONPATH; one zygote per set of PYTHON*, locale and TZ variables), modules are imported already, and
every fork of one zygote has the same string hash seed. Everything else is exec'd as before, as are the tests
that look at imports or start-up (they spawn `python` themselves). `RECONCILER_TEST_FORK=off` exec's every one.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import pkgutil
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping

SWITCH = "RECONCILER_TEST_FORK"
_MAX_MESSAGE = 1 << 20
_PR_SET_CHILD_SUBREAPER = 36


def interpreter_environment(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What of an environment decides how an interpreter starts (paths, flags, encodings, locale, time zone)."""
    return tuple(sorted((k, v) for k, v in env.items()
                        if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE", "TZ")))


# ------------------------------------------------------------------------------------------ the test worker


class Zygote:
    """One zygote process (started on first use), for commands whose interpreter environment is `signature`."""

    def __init__(self, signature: tuple[tuple[str, str], ...], cwd: str):
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **dict(signature)}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.testing.zygote", str(theirs.fileno())],
                                        pass_fds=[theirs.fileno()], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self.socket = ours
        self.socket.settimeout(60)
        self.broken = self.socket.recv(64) != b"ready"

    def fork(self, module: str, args: list[str], env: Mapping[str, str], cwd: str, fds: tuple[int, int, int]) -> int:
        """The pid of a new `python -m MODULE ARGS` with `fds` as its stdin, stdout and stderr: a child of this
        process (the zygote has already reaped the fork between them). OSError: the request could not be sent
        (exec it instead); RuntimeError: it was sent and not answered (it may be running: not to be started again).
        Either way this zygote is not asked again."""
        request = json.dumps({"module": module, "args": args, "env": dict(env), "cwd": cwd}).encode()
        with self._lock:
            try:
                socket.send_fds(self.socket, [request], list(fds))
            except OSError:
                self.broken = True
                raise
            try:
                answer = json.loads(self.socket.recv(_MAX_MESSAGE) or b"{}")
            except (OSError, ValueError) as err:
                self.broken = True
                raise RuntimeError(f"the zygote did not answer a fork of `{module} {' '.join(args)}`") from err
        if not answer.get("pid"):
            self.broken = True
            raise RuntimeError(f"the zygote could not fork `{module} {' '.join(args)}`: "
                               f"{answer.get('error', 'it is gone')}")
        return int(answer["pid"])


_zygotes: dict[tuple, Zygote | None] = {}
_zygotes_lock = threading.Lock()


def zygote_for(env: Mapping[str, str], pythonpath: str, cwd: str) -> Zygote | None:
    """The zygote that can start a command with `env` (None: exec it), started on first use."""
    if os.environ.get(SWITCH) == "off" or env.get("PYTHONPATH") != pythonpath or not _subreaper():
        return None
    signature = interpreter_environment(env)
    with _zygotes_lock:
        if signature not in _zygotes:
            try:
                _zygotes[signature] = Zygote(signature, cwd)
            except OSError:
                _zygotes[signature] = None
        found = _zygotes[signature]
        return found if found is not None and not found.broken else None


_subreaping: bool | None = None


def _subreaper() -> bool:
    """Make this process inherit its orphaned descendants (Linux), once; False where that is not possible."""
    global _subreaping
    if _subreaping is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            _subreaping = sys.platform == "linux" and libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaping = False
    return _subreaping


# ------------------------------------------------------------------------------------------ the zygote


def _preload() -> None:
    """Everything a command may import: every module of the package but the emulator's, and what they import."""
    import reconciler

    for module in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if not module.name.startswith("reconciler.emulator") and not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _serve(channel: socket.socket) -> tuple[dict, list[int]]:
    """Fork a command per request until the test worker goes away; returns only in a command."""
    while True:
        message, fds, _, _ = socket.recv_fds(channel, _MAX_MESSAGE, 3)
        if not message:
            os._exit(0)
        read_end, write_end = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.close(read_end)
            command = os.fork()
            if command == 0:
                os.close(write_end)
                channel.close()
                return json.loads(message), fds
            os.write(write_end, str(command).encode())
            os._exit(0)  # the command is orphaned to the test worker, a subreaper, before this is reaped
        os.close(write_end)
        pid = int(os.read(read_end, 32) or b"0")
        os.close(read_end)
        os.waitpid(middle, 0)
        for fd in fds:
            os.close(fd)
        channel.send(json.dumps({"pid": pid} if pid else {"error": "the fork failed"}).encode())


def _become(request: dict, fds: list[int]) -> None:
    """Turn this fork into `python -m MODULE ARGS` started in `cwd` with `env`, on the test's pipes."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    # the same locale variables as the zygote's own (its key): one it has and the command was not given, the
    # interpreter set at start-up (PEP 538 coercion), as it will for the command
    coerced = os.environ.get("LC_CTYPE") if "LC_CTYPE" not in request["env"] else None
    os.environ.clear()
    os.environ.update(request["env"])
    if coerced is not None:  # PEP 538: the interpreter put it there at start-up, as it did in the zygote
        os.environ["LC_CTYPE"] = coerced
    if not sys.flags.safe_path:
        sys.path[0] = os.getcwd()  # as `python -m` puts it
    _standard_streams()
    sys.argv = ["-m", *request["args"]]


def _standard_streams() -> None:
    """New sys.stdin/stdout/stderr on fds 0-2, made as the interpreter makes them at start-up (`create_stdio`):
    the same encodings (the same locale variables), no newline translation; under PYTHONUNBUFFERED written
    through, else line-buffered where a terminal, and stderr always."""
    buffered = not sys.stdout.write_through  # as the zygote's own were made, under the same variables

    def stream(fd: int, name: str, mode: str, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        raw.name = name
        if mode == "r":
            buffer = io.BufferedReader(raw)
        else:
            buffer = io.BufferedWriter(raw) if buffered else raw
        return io.TextIOWrapper(buffer, encoding=sys.stdout.encoding, errors=errors, newline="\n",
                                line_buffering=buffered and (fd == 2 or os.isatty(fd)), write_through=not buffered)

    sys.stdin = sys.__stdin__ = stream(0, "<stdin>", "r", sys.stdin.errors)
    sys.stdout = sys.__stdout__ = stream(1, "<stdout>", "w", sys.stdout.errors)
    sys.stderr = sys.__stderr__ = stream(2, "<stderr>", "w", "backslashreplace")


def main() -> None:
    channel = socket.socket(fileno=int(sys.argv[1]))
    _preload()
    gc.collect()
    gc.freeze()  # the forks share these pages until they write them
    channel.send(b"ready")
    request, fds = _serve(channel)
    _become(request, fds)
    import runpy

    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
