"""Command line: parses arguments, wires the stages together, renders, and decides exit codes here only."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler import __version__
from reconciler.errors import ManifestError, ReconcilerError, UserError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

Command = Callable[[argparse.Namespace], int]


def cmd_emulator(args: argparse.Namespace) -> int:
    from reconciler.emulator.__main__ import main as emulator_main

    return emulator_main(args.emulator_args)


def _emulator_argv(argv: list[str]) -> argparse.Namespace | None:
    """`reconciler emulator --port 8080`: the emulator parses its own options (argparse would claim them)."""
    return argparse.Namespace(emulator_args=argv[1:], run=cmd_emulator) if argv[:1] == ["emulator"] else None


def cmd_validate(args: argparse.Namespace) -> int:
    import json

    from reconciler import manifests
    from reconciler.errors import ManifestError

    try:
        state = manifests.load(args.path)
    except ManifestError as err:
        return _render_invalid(err.diagnostics, as_json=args.json)
    resources = list(state.resources.values())
    if args.json:
        print(json.dumps({"valid": True, "resources": [r.to_json() for r in resources],
                          "diagnostics": [d.to_json() for d in state.warnings]}, indent=2, sort_keys=True))
        return EXIT_OK
    for warning in state.warnings:
        print(warning, file=sys.stderr)
    print(_validate_summary(resources, len(state.warnings)))
    return EXIT_OK


def _render_invalid(diagnostics: list, *, as_json: bool) -> int:
    if as_json:
        import json

        print(json.dumps({"valid": False, "resources": [],
                          "diagnostics": [d.to_json() for d in diagnostics]}, indent=2, sort_keys=True))
        return EXIT_ERROR
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    counts = [_plural(errors, "error")] + ([_plural(warnings, "warning")] if warnings else [])
    print(", ".join(counts), file=sys.stderr)
    return EXIT_ERROR


def _validate_summary(resources: list, warnings: int) -> str:
    by_platform = {}
    for resource in resources:
        by_platform[resource.platform] = by_platform.get(resource.platform, 0) + 1
    platforms = ", ".join(f"{count} {platform}" for platform, count in sorted(by_platform.items(), reverse=True))
    summary = f"{_plural(len(resources), 'manifest')} valid" + (f" ({platforms})" if platforms else "")
    return summary + (f", {_plural(warnings, 'warning')}" if warnings else "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from reconciler.resources import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- API commands


@contextmanager
def _api_endpoint(args: argparse.Namespace) -> Iterator[tuple[str | None, bool]]:
    """`--emulator` serves the embedded emulator for the length of the command, its state under .reconciler/."""
    if not args.emulator:
        yield args.api_endpoint, False
        return
    from reconciler.emulator import Emulator

    state = Path(".reconciler") / "emulator.json"
    state.parent.mkdir(exist_ok=True)
    duration = float(os.environ.get("RECONCILER_EMULATOR_JOB_DURATION", "60"))
    with Emulator(state_file=str(state), job_duration=duration) as emulator:
        yield emulator.base_url, True


@contextmanager
def _workspace(args: argparse.Namespace, path: str, **kwargs) -> Iterator:
    from reconciler.workspace import open_workspace

    with _api_endpoint(args) as (endpoint, emulator):
        with open_workspace(path, api_endpoint=endpoint, emulator=emulator, **kwargs) as workspace:
            yield workspace


def cmd_plan(args: argparse.Namespace) -> int:
    from reconciler import render

    with _workspace(args, args.path) as workspace:
        _print_warnings(workspace.desired.warnings)
        workspace.refresh()
        plan = workspace.plan(frozenset(args.target), frozenset(args.replace))
    if args.out:
        Path(args.out).write_text(render.as_json(plan), encoding="utf-8")
    if args.json:
        sys.stdout.write(render.as_json(plan))
    elif args.markdown:
        sys.stdout.write(render.markdown(plan))
    else:
        render.text(plan, render.console())
        if args.out:
            print(f"\nSaved the plan to {args.out}: apply exactly this with `reconciler apply {args.out}`.")
    return EXIT_CHANGES if args.detailed_exitcode and plan.has_changes else EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from reconciler import lockfile, render
    from reconciler.clients import RateLimiter
    from reconciler.executor import Executor, Journal
    from reconciler.resources import DIGEST_ALGORITHM
    from reconciler.workspace import saved_plan

    saved = saved_plan(args.path)
    root = saved.root if saved else args.path
    out = render.console()
    stop = _stop_on_interrupt(out)
    limiter = RateLimiter(rate=args.rate_limit, burst=max(1, int(args.rate_limit)))
    with _workspace(args, root, limiter=limiter) as workspace:
        _print_warnings(workspace.desired.warnings)
        with lockfile.exclusive(workspace.lock_path, "reconciler apply") as holder:
            if holder.previous:
                print(f"warning: the previous run ({holder.previous.describe()}) ended without releasing the "
                      "state lock; taking over", file=sys.stderr)
            workspace.lock = lockfile.read(workspace.lock_path)
            workspace.refresh()
            if saved:
                workspace.check_fresh(saved)
                plan = saved
            else:
                plan = workspace.plan(frozenset(args.target), frozenset(args.replace))
            render.text(plan, out, show_noops=False)
            if not plan.has_changes:
                return EXIT_OK
            if not saved and not args.yes:
                _confirm(plan)
            journal = Journal(workspace.lock_path, workspace.lock or lockfile.empty(DIGEST_ALGORITHM))
            waiter = _upstream_waiter(workspace, journal, args, out) if args.wait else None
            executor = Executor(workspace.desired, workspace.observed, journal, workspace.clients,
                                parallelism=args.parallelism, stop=stop, wait_for_upstream=waiter,
                                observed_at=workspace.observed_at,
                                report=lambda line: out.print(line, markup=False, highlight=False))
            outcomes = executor.run(plan)
            render.outcomes(outcomes, out)
            # with --wait a deferral means the upstream did not succeed: the apply did not do what it said
            failed = any(o.status == "failed" or (args.wait and o.status == "deferred") for o in outcomes)
            if args.wait and not stop.is_set():
                names = {c.name for c in plan.changes}  # started now, or by an earlier run that was cut short
                failed |= not _wait(workspace.clients, journal.lock, names, args.timeout, out, stop,
                                    on_final=lambda final: journal.observe(final.values()))
    if stop.is_set():
        return EXIT_INTERRUPTED
    return EXIT_ERROR if failed else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from reconciler import render, tracker

    with _workspace(args, args.path) as workspace:
        recorded = tracker.recorded(workspace.lock)
        vertex, gemini = workspace.clients.vertex, workspace.clients.gemini
        now = {name: tracker.poll(g, vertex, gemini) for name, g in recorded.items()}
    render.progress(now, render.console())
    return EXIT_OK


def cmd_wait(args: argparse.Namespace) -> int:
    from reconciler import render

    out = render.console()
    stop = _stop_on_interrupt(out)
    with _workspace(args, args.path) as workspace:
        ok = _wait(workspace.clients, workspace.lock, None, args.timeout, out, stop)
    if stop.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK if ok else EXIT_ERROR


def _wait(clients, lock, names: set[str] | None, timeout: float | None, out, stop: threading.Event,
          on_final: Callable[[dict], None] = lambda final: None) -> bool:
    """Follow the in-flight jobs recorded in the lock until they end; True when none failed.

    `on_final` receives the last observation of each (apply records it in the lock it holds)."""
    from reconciler import render, tracker

    recorded = {n: g for n, g in tracker.recorded(lock, names).items() if g.active}
    if not recorded:
        out.print("Nothing in flight.")
        return True
    with render.live_progress(out, recorded) as show:
        final = tracker.watch(recorded, clients.vertex, clients.gemini, timeout=timeout,
                              interval=_poll_interval(),
                              on_update=show, stop=stop.is_set)
    on_final(final)
    still = [n for n, g in final.items() if g is not None and g.active]
    if still and not stop.is_set():
        out.print(f"Stopped waiting after the timeout; still running (nothing was cancelled): {', '.join(still)}. "
                  "Resume with `reconciler wait`.")
    return all(g is not None and g.phase == "succeeded" for g in final.values() if g is None or not g.active)


def _upstream_waiter(workspace, journal, args, out) -> Callable:
    from reconciler import tracker

    def wait_for(name: str):
        current = journal.entry(name).current
        out.print(f"waiting for {name} to finish before starting its dependents")
        final = tracker.watch({name: current}, workspace.clients.vertex, workspace.clients.gemini,
                              timeout=args.timeout, interval=_poll_interval())
        return final[name]
    return wait_for


def _poll_interval() -> float:
    """Seconds between polls while waiting (RECONCILER_POLL_INTERVAL; tests and the demo shorten it)."""
    return float(os.environ.get("RECONCILER_POLL_INTERVAL", "5"))


def _confirm(plan) -> None:
    if not sys.stdin.isatty():
        raise UserError("apply needs a confirmation: review the plan above and re-run with --yes "
                        "(or apply a saved plan file from `reconciler plan --out FILE`)")
    costly = sum(1 for c in plan.changes if c.costly)
    money = f" {costly} of them start paid tuning jobs." if costly else ""
    answer = input(f"Apply these changes?{money} Only 'yes' is accepted: ")
    if answer.strip() != "yes":
        raise UserError("apply cancelled: nothing was changed")


def _stop_on_interrupt(out) -> threading.Event:
    """First Ctrl-C: finish the request in flight, persist, exit 130. Second: exit at once (the lock stays valid)."""
    stop = threading.Event()

    def handle(signum, frame):
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        print("\ninterrupt: finishing the request in flight and saving the lock (Ctrl-C again to exit now)",
              file=sys.stderr)
    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _print_warnings(warnings) -> None:
    for warning in warnings:
        print(warning, file=sys.stderr)


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h)") from None


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value
    return parse


def _api_flags() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--emulator", action="store_true",
                       help="run against the embedded local emulator (state under .reconciler/)")
    flags.add_argument("--api-endpoint", metavar="URL",
                       help="send every API call to this server (or set RECONCILER_API_ENDPOINT)")
    return flags


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1 (a user error): argparse's own 2 would read as "changes present"."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reconciler", description="Declarative reconciler for Gemini tuned models: validate, plan, apply.")
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emulator = commands.add_parser("emulator", help="serve the local emulator of both tuning APIs",
                                   add_help=False)
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    emulator.set_defaults(run=cmd_emulator)

    validate = commands.add_parser("validate", help="check manifests offline (no credentials, no network)")
    validate.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    validate.set_defaults(run=cmd_validate)

    schema = commands.add_parser("schema", help="print the manifest JSON Schema (for editors)")
    schema.set_defaults(run=cmd_schema)

    api = _api_flags()
    plan = commands.add_parser("plan", parents=[api], help="read live state and show what apply would change")
    plan.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    plan.add_argument("--out", metavar="FILE", help="save the plan for `reconciler apply FILE`")
    style = plan.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="print the plan as JSON (versioned format)")
    style.add_argument("--markdown", action="store_true", help="print the plan as a pull-request comment")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the plan has changes")
    plan.add_argument("--target", action="append", default=[], metavar="NAME", help="plan only this manifest")
    plan.add_argument("--replace", action="append", default=[], metavar="NAME",
                      help="retrain this manifest even though nothing changed")
    plan.set_defaults(run=cmd_plan)

    apply = commands.add_parser("apply", parents=[api], help="carry out a plan (fresh, or a saved plan file)")
    apply.add_argument("path", metavar="PATH|PLANFILE", help="manifests to plan and apply, or a saved plan")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--wait", action="store_true", help="follow the jobs until they end")
    apply.add_argument("--timeout", type=_duration, metavar="D", help="stop waiting after D (never cancels)")
    apply.add_argument("--parallelism", type=_positive(int), default=8, metavar="N",
                       help="concurrent manifests (8)")
    apply.add_argument("--rate-limit", type=_positive(float), default=50.0, metavar="RPS",
                       help="client-side requests per second shared by all workers (50)")
    apply.add_argument("--target", action="append", default=[], metavar="NAME", help="apply only this manifest")
    apply.add_argument("--replace", action="append", default=[], metavar="NAME",
                       help="retrain this manifest even though nothing changed")
    apply.set_defaults(run=cmd_apply)

    status = commands.add_parser("status", parents=[api], help="show the jobs recorded in the lock, as live now")
    status.add_argument("path", metavar="PATH")
    status.set_defaults(run=cmd_status)

    wait = commands.add_parser("wait", parents=[api], help="wait for the in-flight jobs recorded in the lock")
    wait.add_argument("path", metavar="PATH")
    wait.add_argument("--timeout", type=_duration, metavar="D", help="stop waiting after D (never cancels)")
    wait.set_defaults(run=cmd_wait)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Loading a thousand manifests allocates millions of small objects and no garbage cycles: at the default
    # threshold (700) the cyclic collector ran hundreds of times and took a fifth of `plan`'s wall time.
    gc.set_threshold(100_000, 20, 100)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _emulator_argv(argv) or build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ManifestError as err:
        return _render_invalid(err.diagnostics, as_json=False)
    except BrokenPipeError:  # `reconciler plan --json | head`: the reader left; not our error
        sys.stderr.close()
        return EXIT_OK
    except ReconcilerError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the one place a bug becomes exit 3
        import traceback

        traceback.print_exc()
        print(f"internal error (a bug in reconciler, please report it): {err!r}", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    raise SystemExit(main())
