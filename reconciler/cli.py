"""Command line: parses arguments, wires the stages together, renders, and decides exit codes here only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from reconciler import __version__
from reconciler.errors import ReconcilerError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

Command = Callable[[argparse.Namespace], int]


def cmd_emulator(args: argparse.Namespace) -> int:
    from reconciler.emulator.__main__ import main as emulator_main

    return emulator_main(args.emulator_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reconciler", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emulator = commands.add_parser("emulator", help="serve the local emulator of both tuning APIs",
                                   add_help=False)
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    emulator.set_defaults(run=cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ReconcilerError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the one place a bug becomes exit 3
        import traceback

        traceback.print_exc()
        print(f"internal error (a bug in reconciler, please report it): {err!r}", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    raise SystemExit(main())
