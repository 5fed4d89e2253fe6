"""`reconciler validate PATH [--remote]`: schema and semantic checks, offline (no credentials, no network).

`--remote` also downloads every Cloud Storage dataset the manifests name (streamed, under a size cap) and checks
its rows as a tuning job would read them; that needs credentials that can read the objects (or `--emulator` /
`--api-endpoint`, as the other API-facing commands take)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import ManifestError, UserError
from reconciler.manifest.diagnostics import Diagnostics


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("validate", parents=[session.api_flags()],
                                   help="check manifests offline (no credentials, no network; --remote: also "
                                        "the gs:// datasets they name)")
    parser.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    parser.add_argument("--remote", action="store_true",
                        help="also download and check every gs:// dataset the manifests name (needs credentials)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import manifest, render  # not operations: validate stays offline, and its imports too

    session.select_workspace(args)
    if (args.emulator or args.api_endpoint) and not args.remote:
        raise UserError("--emulator and --api-endpoint only apply with --remote: without it validate is offline")
    try:
        state = manifest.load(args.path)
    except ManifestError as err:
        render.invalid(err.diagnostics, as_json=args.json)
        return "failed"
    session.announce_root(args, args.path, state)
    state = _narrowed(state, args.path)
    if args.remote:
        found = _check_datasets(args, state)
        if found.errors:
            render.invalid([*state.warnings, *found.items], as_json=args.json)
            return "failed"
        state = dataclasses.replace(state, warnings=(*state.warnings, *found.warnings))
    render.valid(state, as_json=args.json)
    return "ok"


NO_CREDENTIALS = ("validate --remote reads the datasets from Cloud Storage and needs Google credentials that can "
                  "read them: run `gcloud auth application-default login`, or set GOOGLE_OAUTH_ACCESS_TOKEN "
                  "(or check against the emulator: --emulator / --api-endpoint URL)")


def _check_datasets(args: argparse.Namespace, state) -> Diagnostics:
    """Every gs:// dataset of the manifests validated, each downloaded once (streamed) and checked."""
    from reconciler.datasets import remote
    from reconciler.platforms.connect import connect_storage

    diagnostics = Diagnostics()
    if not remote.datasets(state.resources.values()):
        return diagnostics
    with contextlib.ExitStack() as stack:
        endpoint, emulator = stack.enter_context(session._api_endpoint(args))
        storage = stack.enter_context(connect_storage(api_endpoint=endpoint, emulator=emulator,
                                                      no_credentials=NO_CREDENTIALS))
        remote.check_all(storage, state.resources.values(), diagnostics)
    return diagnostics


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
