"""`reconciler emulator [OPTIONS]`: serve the local emulator of both tuning APIs (it parses its own options)."""

from __future__ import annotations

import argparse

from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("emulator", help="serve the local emulator of both tuning APIs", add_help=False)
    parser.add_argument("emulator_args", nargs=argparse.REMAINDER)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler.emulator.__main__ import main as emulator_main

    return "ok" if emulator_main(args.emulator_args) == 0 else "failed"
