"""`reconciler plan PATH`: read live state and show what apply would change, and why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.cli import session
from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plan", parents=[session.api_flags()],
                                   help="read live state and show what apply would change")
    parser.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    parser.add_argument("--out", metavar="FILE", help="save the plan for `reconciler apply FILE`")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="print the plan as JSON (versioned format)")
    style.add_argument("--markdown", action="store_true", help="print the plan as a pull-request comment")
    parser.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the plan has changes")
    parser.add_argument("--target", action="append", default=[], metavar="NAME", help="plan only this manifest")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME",
                        help="retrain this manifest even though nothing changed")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import render

    with session.workspace(args, args.path) as workspace:
        session.print_warnings(workspace.desired.warnings)
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
    return "changes" if args.detailed_exitcode and plan.has_changes else "ok"
