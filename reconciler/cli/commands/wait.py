"""`reconciler wait PATH`: follow the in-flight jobs recorded in the lock until they end (never cancels)."""

from __future__ import annotations

import argparse

from reconciler.cli import session
from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("wait", parents=[session.api_flags()],
                                   help="wait for the in-flight jobs recorded in the lock")
    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--timeout", type=session.duration, metavar="D", help="stop waiting after D (never cancels)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import operations, render

    out = render.console()
    stop = session.stop_on_interrupt()
    options = operations.ApplyOptions(timeout=args.timeout, poll_interval=session.poll_interval())
    with session.workspace(args, args.path, manifests=False) as workspace:  # it follows what the lock records
        selected = workspace.desired.selected  # a sub-path of the root: only its manifests (None: all)
        ok = operations.wait(workspace, workspace.lock, None if selected is None else set(selected), options,
                             session.Terminal(out), stop)
    if stop.is_set():
        return "interrupted"
    return "ok" if ok else "failed"
