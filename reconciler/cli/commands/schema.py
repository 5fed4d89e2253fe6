"""`reconciler schema`: print the manifest JSON Schema (for editors and YAML language servers), or with `--plan`
the plan document's (for policy engines that read `reconciler plan --json`)."""

from __future__ import annotations

import argparse
import json

from reconciler.cli.commands import Result


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("schema", help="print the manifest JSON Schema (for editors), or the plan's")
    parser.add_argument("--plan", action="store_true",
                        help="print the JSON Schema of the plan document (`plan --json`, `plan --out`) instead")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> Result:
    if args.plan:
        from reconciler.plan.schema import plan_schema

        schema = plan_schema()
    else:
        from reconciler.manifest import json_schema

        schema = json_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return "ok"
