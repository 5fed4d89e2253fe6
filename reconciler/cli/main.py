"""`reconciler COMMAND ...`: parse, run one command, and decide the exit code. The only place exit codes are
decided: commands return a `Result`, errors are the exceptions of `reconciler.errors`, anything else is a bug.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.cli import commands
from reconciler.cli.commands import Result
from reconciler.errors import ManifestError, ReconcilerError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXITS: dict[Result, int] = {"ok": EXIT_OK, "failed": EXIT_ERROR, "changes": EXIT_CHANGES,
                            "interrupted": EXIT_INTERRUPTED}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1 (a user error): argparse's own 2 would read as "changes present"."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reconciler",
                     description="Declarative reconciler for Gemini tuned models: validate, plan, apply.")
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands.ALL:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["emulator"]:  # the emulator parses its own options (argparse would claim them)
            from reconciler.emulator.__main__ import main as emulator_main

            return emulator_main(argv[1:])
        args = build_parser().parse_args(argv)
        return EXITS[args.run(args)]
    except ManifestError as err:
        from reconciler import render

        render.invalid(err.diagnostics, as_json=False)
        return EXIT_ERROR
    except BrokenPipeError:  # `reconciler plan --json | head`: the reader left; not our error
        sys.stderr.close()
        return EXIT_OK
    except ReconcilerError as err:
        from reconciler.render.untrusted import for_terminal  # an API's message may hold escape sequences

        print(f"error: {for_terminal(str(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        after_echo = "\n" if sys.stderr.isatty() else ""  # a terminal echoed ^C: not on that line
        print(f"{after_echo}interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the one place a bug becomes exit 3
        import traceback

        traceback.print_exc()
        from reconciler.render.untrusted import for_terminal

        print(f"internal error (a bug in reconciler, please report it): {for_terminal(repr(err))}", file=sys.stderr)
        return EXIT_BUG


def run() -> int:
    """The console script: the CLI is a short-lived process, so it may tune the interpreter for itself.

    Loading a thousand manifests allocates millions of small objects and no garbage cycles: at the default
    threshold (700) the cyclic collector ran hundreds of times and took a fifth of `plan`'s wall time. And what
    is left when the command is done is the exit's to free: without `gc.freeze()` the interpreter's last
    collection walked it all again (0.3 s after a plan of 10,000 resources had printed everything).
    """
    gc.set_threshold(100_000, 20, 100)
    code = main()
    gc.freeze()
    if code == EXIT_INTERRUPTED:  # what is left are reads abandoned (refresh._readers): not waited for
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(run())
