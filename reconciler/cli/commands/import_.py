"""`reconciler import NAME RESOURCE`: bring an existing tuning job or tuned model, made without this tool, under
manifest NAME (as `terraform import`). The live resource is compared with the manifest first; differences
refuse the import unless `--accept-diff`, and the next plan then updates or retrains them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import Diagnostic


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("import", parents=[session.api_flags()],
                                   help="bring an existing tuning job or tuned model under a manifest")
    parser.add_argument("name", metavar="NAME", help="the manifest (metadata.name) to record it under")
    parser.add_argument("resource", metavar="RESOURCE",
                        help="projects/P/locations/L/tuningJobs/J, projects/P/locations/L/models/M[@V], "
                             "or tunedModels/ID")
    parser.add_argument("--path", default=".", metavar="DIR", help="the manifest root (default: .)")
    parser.add_argument("--accept-diff", action="store_true",
                        help="record it even though it differs from the manifest: the next plan updates "
                             "(mutable fields) or retrains (immutable fields) it")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import imports

    with session.workspace(args, args.path) as workspace:
        session.print_warnings(workspace.desired.warnings)
        result = imports.import_resource(workspace, args.name, args.resource, accept_diff=args.accept_diff)
    _report(result)
    return "ok" if result.recorded else "failed"


def _report(result: Any) -> None:
    comparison, live = result.comparison, result.live
    if comparison.differences:
        print(f"{live.key} differs from manifest {result.name}:")
        rows = [("field", "live", "manifest")] + [
            (d.field + ("" if d.mutable else " (immutable)"), _shown(d.live), _shown(d.manifest))
            for d in comparison.differences]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for row in rows:
            print(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    for path, why in sorted(comparison.not_comparable.items()):
        print(f"not comparable: {path}: {Diagnostic.escaped(why)}")
    if not result.recorded:
        print(f"error: refusing to import {live.key} into {result.name}: it differs from the manifest (above); edit "
              "the manifest to match, or re-run with --accept-diff to record it and have the next plan "
              f"{_consequence(comparison)}. Nothing was changed", file=sys.stderr)
        return
    print(f"Imported {live.generation.describe()} ({live.generation.phase}) as {result.name}.")
    print("Added ownership labels to its model." if result.labelled
          else "No ownership labels were added (the API allows none on it): the state is the record.")
    if comparison.differences:
        print(f"The differences were accepted: the next `reconciler plan` will {_consequence(comparison)}.")


def _consequence(comparison: Any) -> str:
    return "retrain it (an immutable field differs)" if comparison.immutable_differs \
        else "update the mutable fields in place"


def _shown(value: Any) -> str:
    """A value from the API or a manifest, on one line, with no control character a terminal would act on."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "(unset)" if value is None else Diagnostic.escaped(text)
