"""`reconciler plan PATH`: read live state and show what apply would change, and why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import ManifestError, UserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plan", parents=[session.api_flags()],
                                   help="read live state and show what apply would change")
    parser.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    parser.add_argument("--out", metavar="FILE", help="save the plan for `reconciler apply FILE`")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="print the plan as JSON (versioned format)")
    style.add_argument("--markdown", action="store_true", help="print the plan as a pull-request comment")
    parser.add_argument("--title", default="", metavar="TEXT",
                        help="add TEXT (a commit SHA, an environment) to the --markdown comment's heading")
    parser.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the plan has changes or facts that need attention "
                        "(a model deleted or a job failed out of band): for drift checks")
    parser.add_argument("--remote", action="store_true",
                        help="read the gs:// datasets of every paid change (streamed): checked, and priced in "
                             "the cost estimate (without it their cost is unknown)")
    parser.add_argument("--target", action="append", default=[], metavar="NAME", help="plan only this manifest")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME",
                        help="retrain this manifest even though nothing changed")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import render

    if args.out:
        _check_out(args.out)
    try:
        with session.workspace(args, args.path, targets=frozenset(args.target), remote=args.remote) as workspace:
            warnings = workspace.desired.warnings
            session.print_warnings(warnings)
            workspace.refresh()
            plan = workspace.plan(frozenset(args.target), frozenset(args.replace))
    except ManifestError as err:
        if args.markdown:  # the pull request shows why there is no plan; the errors still go to stderr (exit 1)
            sys.stdout.write(render.markdown_invalid(err.diagnostics, root=args.path, title=args.title))
        raise
    if args.out:
        _save(Path(args.out), render.as_json(plan).encode())
    if args.json:
        sys.stdout.write(render.as_json(plan))
    elif args.markdown:
        sys.stdout.write(render.markdown(plan, title=args.title, warnings=warnings))
    else:
        render.text(plan, render.console())
        if args.out:
            print(f"\nSaved the plan to {args.out}: apply exactly this with `reconciler apply {args.out}`.")
    return "changes" if args.detailed_exitcode and (plan.has_changes or plan.attention) else "ok"


def _check_out(out: str) -> None:
    """Before any work: `--out` may only be a new file or a saved plan (never a link, a FIFO, a manifest)."""
    from reconciler.plan import planfile
    from reconciler.state import atomic

    try:
        exists = atomic.check_replaceable(Path(out))
    except OSError as err:
        raise UserError(f"--out {out}: {err.strerror}; refusing to write the plan there") from None
    if not exists:
        return
    try:
        saved = planfile.load(out)
    except UserError:
        return  # a saved plan of another format version: replacing it is what --out is for
    if saved is None:
        raise UserError(f"--out {out}: the file exists and is not a saved plan; refusing to overwrite it "
                        "(choose a new file name, or remove it first)")


def _save(out: Path, data: bytes) -> None:
    """Atomically (temp file, fsync, rename): a failed write leaves the previous file, never half a plan."""
    from reconciler.state import atomic

    try:
        atomic.replace_atomically(out, data, atomic.mode_of(out))
        atomic.fsync_directory(out.parent)
    except OSError as err:
        raise UserError(f"cannot write the plan to {out}: {err.strerror or err}") from None
