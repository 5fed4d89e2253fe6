"""`reconciler force-unlock LOCK_ID`: remove a run lock left by a run that is gone, only with its lock ID."""

from __future__ import annotations

import argparse

from reconciler.cli import session
from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("force-unlock", parents=[session.api_flags()],
                                   help="remove the state lock of a run that is gone (needs its lock ID)")
    parser.add_argument("lock_id", metavar="LOCK_ID", help="the lock ID a refused run named")
    parser.add_argument("--path", default=".", metavar="DIR", help="the manifest root (default: .)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import render

    with session.workspace(args, args.path, connect_apis=False) as workspace:
        holder = workspace.backend.force_unlock(args.lock_id)
        where = workspace.backend.location
    render.console().print(render.for_terminal(f"Removed the state lock of {holder.describe()} from {where}."),
                           markup=False, highlight=False)  # the holder is what another machine wrote
    return "ok"
