"""`reconciler validate PATH`: schema and semantic checks, offline (no credentials, no network)."""

from __future__ import annotations

import argparse

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import ManifestError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("validate", parents=[session.workspace_flag()],
                                   help="check manifests offline (no credentials, no network)")
    parser.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import operations, render

    session.select_workspace(args)
    try:
        state = operations.validate(args.path)
    except ManifestError as err:
        render.invalid(err.diagnostics, as_json=args.json)
        return "failed"
    render.valid(state, as_json=args.json)
    return "ok"
