"""`reconciler validate PATH`: schema and semantic checks, offline (no credentials, no network)."""

from __future__ import annotations

import argparse
import dataclasses
import os

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
    session.announce_root(args, args.path, state)
    render.valid(_narrowed(state, args.path), as_json=args.json)
    return "ok"


def _narrowed(state, path: str):
    """On part of a root, the manifests and warnings under the path given (the whole root was checked: an error
    anywhere in it fails, as it would fail a plan)."""
    if state.selected is None:
        return state
    given = os.path.abspath(path)
    under = [w for w in state.warnings if os.path.abspath(w.path) == given
             or os.path.abspath(w.path).startswith(given.rstrip(os.sep) + os.sep)]
    resources = {name: r for name, r in state.resources.items() if name in state.selected}
    return dataclasses.replace(state, resources=resources, warnings=tuple(under))
