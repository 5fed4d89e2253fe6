"""`reconciler apply PATH|PLANFILE`: carry out a fresh plan (after confirmation) or a reviewed saved plan."""

from __future__ import annotations

import argparse

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import UserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("apply", parents=[session.api_flags()],
                                   help="carry out a plan (fresh, or a saved plan file)")
    parser.add_argument("path", metavar="PATH|PLANFILE", help="manifests to plan and apply, or a saved plan")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--wait", action="store_true", help="follow the jobs until they end")
    parser.add_argument("--timeout", type=session.duration, metavar="D", help="stop waiting after D (never cancels)")
    parser.add_argument("--parallelism", type=session.positive(int), metavar="N",
                        help="concurrent manifests (default: 8 per quota bucket the plan changes, at most 32)")
    parser.add_argument("--rate-limit", type=session.positive(float), default=50.0, metavar="RPS",
                        help="client-side requests per second per quota bucket (Vertex AI: each project and "
                             "region; the Gemini API), shared by all workers (50)")
    parser.add_argument("--lock-timeout", type=session.duration, default=0.0, metavar="D",
                        help="wait up to D (e.g. 5m) for another run's state lock (default: fail at once, exit 4)")
    parser.add_argument("--remote", action="store_true",
                        help="read the gs:// datasets of every paid change (streamed): checked, and priced in "
                             "the cost estimate (without it their cost is unknown)")
    parser.add_argument("--target", action="append", default=[], metavar="NAME", help="apply only this manifest")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME",
                        help="retrain this manifest even though nothing changed")
    parser.add_argument("--max-cost", type=session.non_negative(float), metavar="USD",
                        help="refuse, before anything starts, a plan whose estimated cost exceeds USD dollars "
                             "(or is unknown); a manifest's policy.maxCost limits that model alone")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--reviewed-only", action="store_true",
                      help="carry out only the follow-ups reviewed plans authorized (`then:`), nothing else")
    only.add_argument("--refresh-only", action="store_true",
                      help="record in the state what is live now (jobs ended, models gone); change nothing else")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler import operations, render
    from reconciler.clients.http import RateLimits
    from reconciler.plan import planfile

    saved = planfile.load(args.path)
    out = render.console()
    stop = session.stop_on_interrupt()
    limiter = RateLimits(rate=args.rate_limit, burst=max(1, int(args.rate_limit)))  # one per quota bucket
    options = operations.ApplyOptions(targets=frozenset(args.target), replace=frozenset(args.replace),
                                      wait=args.wait, timeout=args.timeout, parallelism=args.parallelism,
                                      poll_interval=session.poll_interval() if args.wait else 5.0,
                                      lock_timeout=args.lock_timeout, reviewed_only=args.reviewed_only,
                                      max_cost=args.max_cost)
    if saved and (args.reviewed_only or args.refresh_only):
        raise UserError(f"{args.path} is a saved plan: --reviewed-only and --refresh-only take a manifest path")
    root = planfile.root_of(saved, args.path) if saved else args.path
    if args.refresh_only:
        with session.workspace(args, root, limiter=limiter) as workspace:
            recorded = operations.refresh_only(workspace, options, session.Terminal(out), stop)
        out.print(f"Refresh: recorded what is live for {len(recorded)} entr{'y' if len(recorded) == 1 else 'ies'}"
                  f"{': ' + ', '.join(recorded) if recorded else ''}." if recorded
                  else "Refresh: the state already records what is live.", highlight=False, markup=False)
        return "ok"
    targets = frozenset(saved.targets) if saved else frozenset(args.target)  # what they need is all it reads
    with session.workspace(args, root, limiter=limiter, targets=targets, remote=args.remote) as workspace:
        session.print_warnings(workspace.desired.warnings)
        result = operations.apply(workspace, saved, options, session.Terminal(out, confirm=not args.yes), stop)
    if not result.plan.has_changes:
        return "ok"  # nothing to do
    if stop.is_set():
        return "interrupted"
    return "failed" if result.failed else "ok"
