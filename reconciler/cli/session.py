"""What the API-facing commands share: the `--emulator` / `--api-endpoint` flags, opening a workspace
against them, Ctrl-C handling, and the terminal listener that renders a run."""

from __future__ import annotations

import argparse
import math
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from reconciler.apply.stop import Stop
from reconciler.errors import UserError

EXIT_INTERRUPTED = 130
LOCK_NOTICE_EVERY = 10.0  # seconds between "waiting for the state lock" lines


WORKSPACE_VARIABLE = "RECONCILER_WORKSPACE"


def workspace_flag() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--workspace", metavar="NAME",
                       help=f"a separate state and identity, e.g. staging (or set {WORKSPACE_VARIABLE}; "
                            "default: default); manifests may use ${RECONCILER_WORKSPACE}")
    return flags


def select_workspace(args: argparse.Namespace) -> None:
    """`--workspace` is the environment variable manifests interpolate: one place decides it, for this process."""
    if getattr(args, "workspace", None) is not None:
        os.environ[WORKSPACE_VARIABLE] = args.workspace


def api_flags() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False, parents=[workspace_flag()])
    flags.add_argument("--emulator", action="store_true",
                       help="run against the embedded local emulator (state under .reconciler/)")
    flags.add_argument("--api-endpoint", metavar="URL",
                       help="send every API call to this server (or set RECONCILER_API_ENDPOINT)")
    return flags


@contextmanager
def _api_endpoint(args: argparse.Namespace) -> Iterator[tuple[str | None, bool]]:
    """`--emulator` serves the embedded emulator for the length of the command, its state under .reconciler/."""
    if not args.emulator:
        yield args.api_endpoint, False
        return
    from reconciler.emulator import Emulator

    duration = _seconds("RECONCILER_EMULATOR_JOB_DURATION", "60")
    state = _emulator_state(Path(".reconciler"))
    try:
        emulator = Emulator(state_file=str(state), job_duration=duration)
    except (ValueError, OSError) as err:
        hint = f"; delete {state} to start from an empty emulator" if str(state) in str(err) else ""
        raise UserError(f"cannot start the embedded emulator: {err}{hint}") from None
    with emulator:
        yield emulator.base_url, True


def _emulator_state(directory: Path) -> Path:
    """`.reconciler/emulator.json`: a real directory and a regular file (or none yet), never through a link."""
    try:
        directory.mkdir(exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {directory}/ for the embedded emulator's state: {err.strerror}") from None
    for path, want, what in ((directory, stat.S_ISDIR, "a directory"),
                             (directory / "emulator.json", stat.S_ISREG, "a regular file")):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode) or not want(mode):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not " + what
            raise UserError(f"{path} (the embedded emulator's state) is {kind}; refusing to use it: "
                            f"it must be {what} under the current directory")
    return directory / "emulator.json"


def _seconds(variable: str, default: str) -> float:
    text = os.environ.get(variable, default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UserError(f"{variable}: not a number of seconds: {text!r}")
    return value


@contextmanager
def workspace(args: argparse.Namespace, path: str, **kwargs) -> Iterator:
    from reconciler.operations import open_workspace

    select_workspace(args)
    with _api_endpoint(args) as (endpoint, emulator):
        with open_workspace(path, api_endpoint=endpoint, emulator=emulator, **kwargs) as opened:
            announce_root(args, path, opened.desired, opened.lock)
            yield opened


def print_warnings(warnings) -> None:
    for warning in warnings:
        print(_inert(str(warning)), file=sys.stderr)


def _inert(text: str) -> str:
    """A line that may quote a server or a manifest, without escape sequences or controls (render.untrusted)."""
    from reconciler.render.untrusted import for_terminal

    return for_terminal(text)


def poll_interval() -> float:
    """Seconds between polls while waiting (RECONCILER_POLL_INTERVAL; tests and the demo shorten it)."""
    return _seconds("RECONCILER_POLL_INTERVAL", "5")


def stop_on_interrupt() -> Stop:
    """Ctrl-C and SIGTERM: a run that may be abandoned (`apply.stop`) ends at once (KeyboardInterrupt); otherwise
    the first interrupt finishes the request in flight and saves the lock, and a second exits at once (the lock
    stays valid)."""
    stop = Stop()

    def handle(signum, frame):
        if stop.abandonable:
            raise KeyboardInterrupt
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        print("\ninterrupt: finishing the request in flight and saving the lock (Ctrl-C again to exit now)",
              file=sys.stderr)
    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h)") from None


def positive(kind: type) -> Callable[[str], float]:
    return _bounded(kind, lambda value: value > 0, "greater than 0")


def non_negative(kind: type) -> Callable[[str], float]:
    return _bounded(kind, lambda value: value >= 0, "0 or more")


def _bounded(kind: type, holds: Callable[[float], bool], wanted: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or not holds(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value
    return parse


class Terminal:
    """The operations Listener for a person at a terminal (or a CI log): renders through `render`."""

    def __init__(self, out, *, confirm: bool = True):
        self.out = out
        self.ask = confirm
        self._lock_notice = -LOCK_NOTICE_EVERY

    def warn(self, message: str) -> None:
        print(_inert(message), file=sys.stderr)

    def planned(self, plan) -> None:
        from reconciler import render

        render.text(plan, self.out, show_noops=False)

    def confirm(self, plan) -> None:
        if not self.ask:
            return
        if not sys.stdin.isatty():
            raise UserError("apply needs a confirmation: review the plan above and re-run with --yes "
                            "(or apply a saved plan file from `reconciler plan --out FILE`)")
        costly = sum(1 for c in plan.changes if c.costly)
        money = f" {costly} of them start paid tuning jobs." if costly else ""
        answer = input(f"Apply these changes?{money} Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            raise UserError("apply cancelled: nothing was changed")

    def did(self, line: str) -> None:
        self.out.print(_inert(line), markup=False, highlight=False)

    def outcomes(self, outcomes) -> None:
        from reconciler import render

        render.outcomes(outcomes, self.out)

    def waiting(self, generations) -> AbstractContextManager[Callable[[dict], None]]:
        from reconciler import render

        return render.live_progress(self.out, generations)

    def say(self, message: str) -> None:
        self.out.print(_inert(message), markup=False, highlight=False)

    def lock_busy(self, holder, seconds_left: float) -> None:
        """At most one line per LOCK_NOTICE_EVERY seconds while waiting for another run's state lock."""
        now = time.monotonic()
        if now - self._lock_notice < LOCK_NOTICE_EVERY:
            return
        self._lock_notice = now
        who = holder.describe() if holder else "another run"
        print(_inert(f"waiting for the state lock held by {who}; giving up in {seconds_left:.0f}s"), file=sys.stderr,
              flush=True)


_DOING = {"plan": "planning", "apply": "applying", "status": "showing", "wait": "waiting for",
          "validate": "validating"}


def announce_root(args: argparse.Namespace, path: str, desired, lock=None) -> None:
    """On stderr, when `path` is part of a manifest root (a sub-directory or a file of it): which root, which
    state and which of its manifests this command acts on. Nothing is said when `path` is the root."""
    if desired.selected is None:
        return
    config = desired.config
    state = (f"lock {config.lock_path}" if config.state.backend == "local"
             else f"state gs://{config.state.bucket}/{config.state.prefix}")
    doing = _DOING.get(getattr(args, "command", ""), "selecting")
    line = (f"using root {config.root}{os.sep} (reconciler.yaml; {state}); {doing} {len(desired.selected)} of "
            f"{len(desired.resources)} manifests under {path}")
    only_locked = sorted(set(lock.entries) - set(desired.resources)) if lock is not None else []
    if only_locked:
        line += (f"; {len(only_locked)} removed manifest(s) the lock still records are left alone (removals are "
                 f"planned only from the root)")
    print(_inert(line), file=sys.stderr)
