"""`python -m tests.testing.probe`: print, as JSON, what a process started with `python -m` sees of its own start-up
(standard streams, sys.path[0], argv, environment, signal dispositions, open descriptors), so that a forked one
(tests.testing.zygote) can be compared with an exec'd one."""

from __future__ import annotations

import json
import os
import signal
import sys


def _stream(stream) -> dict:
    return {"name": stream.name, "encoding": stream.encoding, "errors": stream.errors,
            "line_buffering": stream.line_buffering, "write_through": stream.write_through,
            "raw": type(stream.buffer).__name__}


def main() -> None:
    print(json.dumps({
        "stdin": _stream(sys.stdin), "stdout": _stream(sys.stdout), "stderr": _stream(sys.stderr),
        "path0": sys.path[0], "argv": sys.argv[1:], "cwd": os.getcwd(), "environ": dict(sorted(os.environ.items())),
        "signals": {name: str(signal.getsignal(getattr(signal, name))) for name in ("SIGINT", "SIGTERM", "SIGPIPE",
                                                                                     "SIGCHLD", "SIGHUP")},
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else [],
        "stdin_text": sys.stdin.read(),
    }, sort_keys=True))


if __name__ == "__main__":
    main()
