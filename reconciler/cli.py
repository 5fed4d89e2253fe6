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


def cmd_validate(args: argparse.Namespace) -> int:
    import json

    from reconciler import manifests
    from reconciler.errors import ManifestError

    try:
        state = manifests.load(args.path)
    except ManifestError as err:
        return _render_invalid(err.diagnostics, as_json=args.json)
    resources = list(state.resources.values())
    if args.json:
        print(json.dumps({"valid": True, "resources": [r.to_json() for r in resources],
                          "diagnostics": [d.to_json() for d in state.warnings]}, indent=2, sort_keys=True))
        return EXIT_OK
    for warning in state.warnings:
        print(warning, file=sys.stderr)
    print(_validate_summary(resources, len(state.warnings)))
    return EXIT_OK


def _render_invalid(diagnostics: list, *, as_json: bool) -> int:
    if as_json:
        import json

        print(json.dumps({"valid": False, "resources": [],
                          "diagnostics": [d.to_json() for d in diagnostics]}, indent=2, sort_keys=True))
        return EXIT_ERROR
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    counts = [_plural(errors, "error")] + ([_plural(warnings, "warning")] if warnings else [])
    print(", ".join(counts), file=sys.stderr)
    return EXIT_ERROR


def _validate_summary(resources: list, warnings: int) -> str:
    by_platform = {}
    for resource in resources:
        by_platform[resource.platform] = by_platform.get(resource.platform, 0) + 1
    platforms = ", ".join(f"{count} {platform}" for platform, count in sorted(by_platform.items(), reverse=True))
    summary = f"{_plural(len(resources), 'manifest')} valid" + (f" ({platforms})" if platforms else "")
    return summary + (f", {_plural(warnings, 'warning')}" if warnings else "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from reconciler.resources import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reconciler", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emulator = commands.add_parser("emulator", help="serve the local emulator of both tuning APIs",
                                   add_help=False)
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    emulator.set_defaults(run=cmd_emulator)

    validate = commands.add_parser("validate", help="check manifests offline (no credentials, no network)")
    validate.add_argument("path", metavar="PATH", help="a manifest file or a directory of manifests")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    validate.set_defaults(run=cmd_validate)

    schema = commands.add_parser("schema", help="print the manifest JSON Schema (for editors)")
    schema.set_defaults(run=cmd_schema)
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
