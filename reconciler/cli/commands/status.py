"""`reconciler status PATH`: the jobs recorded in the lock, as live now."""

from __future__ import annotations

import argparse

from reconciler.cli import session
from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("status", parents=[session.api_flags()],
                                   help="show the jobs recorded in the lock, as live now")
    parser.add_argument("path", metavar="PATH")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import operations, render

    with session.workspace(args, args.path) as workspace:
        now = operations.status(workspace)
    render.progress(now, render.console())
    return "ok"
