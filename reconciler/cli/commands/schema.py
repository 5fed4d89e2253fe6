"""`reconciler schema`: print the manifest JSON Schema (for editors and YAML language servers)."""

from __future__ import annotations

import argparse
import json

from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("schema", help="print the manifest JSON Schema (for editors)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    from reconciler.manifest import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return "ok"
