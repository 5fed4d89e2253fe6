"""`reconciler status PATH [--json|--markdown] [--plot NAME=FILE.svg]`: the jobs recorded in the lock, as live now.

Exits 1 when a recorded job needs attention (it failed, was cancelled or expired, or its model is gone), so that
a scheduled job can alert on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import UserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("status", parents=[session.api_flags()],
                                   help="show the jobs recorded in the lock, as live now (exit 1: one needs attention)")
    parser.add_argument("path", metavar="PATH")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="print the status as JSON (versioned format)")
    style.add_argument("--markdown", action="store_true", help="print a table to paste into an issue or a PR")
    parser.add_argument("--plot", action="append", default=[], metavar="NAME=FILE.svg", type=_plot,
                        help="write the training-loss curve of manifest NAME to FILE.svg (repeatable)")
    parser.set_defaults(run=run)


def _plot(text: str) -> tuple[str, Path]:
    name, sep, file = text.partition("=")
    if not sep or not name or not file:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.svg, got {text!r}")
    return name, Path(file)


def run(args: argparse.Namespace) -> Result:
    from reconciler import operations, render
    from reconciler.render import status as report

    with session.workspace(args, args.path, manifests=False) as workspace:  # the lock is what it shows
        now = operations.status(workspace)
        estimates = report.estimates_from(workspace.lock.entries if workspace.lock else {})
    for name, file in args.plot:
        _write_plot(now, name, file)
    if args.json:
        sys.stdout.write(report.as_json(now, estimates=estimates))
    elif args.markdown:
        sys.stdout.write(report.markdown(now, estimates=estimates))
    else:
        render.progress(now, render.console(), estimates)
    for name, file in args.plot:
        print(f"wrote the loss curve of {name} to {file}", file=sys.stderr)
    return "failed" if report.attention(now) else "ok"


def _write_plot(now: dict, name: str, file: Path) -> None:
    from reconciler.observed import state_word
    from reconciler.render.plot import loss_svg
    from reconciler.render.untrusted import for_terminal
    from reconciler.state import atomic

    if name not in now:
        known = ", ".join(sorted(now)) or "none"
        raise UserError(f"--plot {name}=…: no job recorded in the lock for {name!r} (recorded: {known})")
    generation = now[name]
    if generation is None or not generation.loss_history:
        raise UserError(f"--plot {name}=…: {name} reports no training loss "
                        f"({'it no longer exists' if generation is None else 'its API reports none, or not yet'})")
    subtitle = for_terminal(f"{generation.model or generation.key} · {state_word(generation)}", newlines=False)
    svg = loss_svg(generation.loss_history, title=f"{name}: training loss", subtitle=subtitle)
    try:
        atomic.replace_atomically(file, svg.encode(), None)
    except OSError as err:  # atomic.UnsafePath too: a link, a directory, a FIFO is never written through
        raise UserError(f"--plot {name}={file}: {err.strerror}; nothing was written") from None
