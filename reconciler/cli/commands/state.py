"""`reconciler state list | show NAME | rm NAME`: what the state records, read and forgotten through the state
backend (as `terraform state`). No API credentials are needed; nothing live is touched."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from reconciler.cli import session
from reconciler.cli.commands import Result
from reconciler.errors import Diagnostic


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("state", help="list, show or forget what the state records")
    commands = parser.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    flags = argparse.ArgumentParser(add_help=False, parents=[session.api_flags()])
    flags.add_argument("--path", default=".", metavar="DIR", help="the manifest root (default: .)")

    listing = commands.add_parser("list", parents=[flags], help="every entry: name, platform, resource, phase")
    listing.add_argument("--json", action="store_true", help="print the entries as JSON")
    listing.set_defaults(run=run_list)
    show = commands.add_parser("show", parents=[flags], help="one entry, whole")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print the entry as the state stores it (JSON)")
    show.set_defaults(run=run_show)
    remove = commands.add_parser("rm", parents=[flags],
                                 help="forget an entry; its live resources are left alone and become foreign")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=run_rm)
    push = commands.add_parser("push", parents=[flags],
                               help="copy the local lock file into the gcs backend reconciler.yaml configures")
    push.set_defaults(run=run_move)
    pull = commands.add_parser("pull", parents=[flags],
                               help="copy the state from the gcs backend into the local lock file")
    pull.set_defaults(run=run_move)


def run_list(args: argparse.Namespace) -> Result:
    from reconciler import imports

    with session.workspace(args, args.path, connect_apis=False) as workspace:
        lock = workspace.lock
    rows, released = imports.rows(lock), dict(lock.released) if lock else {}
    if args.json:
        print(json.dumps({"entries": rows, "released": released}, indent=2, sort_keys=True, ensure_ascii=False))
        return "ok"
    if not rows:
        print("The state records no entries.")
    else:
        table = [("name", "platform", "resource", "phase", "digest")] + [
            (r["name"], r["platform"], r["resource"] or "-", r["phase"] or "-",
             r["digest"] + ("  (imported)" if r["imported"] else "")) for r in rows]
        _print_table(table)
    if released:
        print("\nReleased by `reconciler state rm` (foreign now; `reconciler import` takes one back):")
        for key, name in released.items():
            print(f"  {_clean(key)}  (was {_clean(name)})")
    return "ok"


def run_show(args: argparse.Namespace) -> Result:
    from reconciler import imports
    from reconciler.state import codec

    with session.workspace(args, args.path, connect_apis=False) as workspace:
        lock = workspace.lock
    entry = imports.entry_of(lock, args.name)
    data = codec.to_json(dataclasses.replace(lock, entries={args.name: entry}, released={}))["entries"][args.name]
    if args.json:
        print(json.dumps({"name": args.name, **data}, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print(_clean(args.name))
        _print_tree(data, "  ")
    return "ok"


def run_rm(args: argparse.Namespace) -> Result:
    from reconciler import imports

    with session.workspace(args, args.path, connect_apis=False) as workspace:
        released = imports.remove(workspace, args.name)
    print(f"Removed {_clean(args.name)} from the state. Nothing live was changed.")
    for key in released:
        print(f"  released {_clean(key)}: foreign from now on (never adopted by its labels, never deleted)")
    if not released:
        print("  (it recorded no live resource)")
    return "ok"


def _print_table(rows: list[tuple[str, ...]]) -> None:
    rows = [tuple(_clean(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] + "\n")


def _print_tree(value: Any, indent: str) -> None:
    """The entry as indented `key: value` lines (objects nested, lists as `- item`), empty parts left out."""
    for key, item in sorted(value.items()):
        if item in (None, [], {}, ""):
            continue
        if isinstance(item, dict):
            print(f"{indent}{_clean(key)}:")
            _print_tree(item, indent + "  ")
        elif isinstance(item, list):
            print(f"{indent}{_clean(key)}:")
            for element in item:
                if isinstance(element, dict):
                    print(f"{indent}  -")
                    _print_tree(element, indent + "    ")
                else:
                    print(f"{indent}  - {_scalar(element)}")
        else:
            print(f"{indent}{_clean(key)}: {_scalar(item)}")


def _scalar(value: Any) -> str:
    return _clean(value if isinstance(value, str) else json.dumps(value))


def _clean(text: str) -> str:
    return Diagnostic.escaped(str(text))


def run_move(args: argparse.Namespace) -> Result:
    """`state push` / `state pull`: the same lineage and entries, moved under both run locks into an empty target."""
    from reconciler.errors import UserError
    from reconciler.state import migrate
    from reconciler.state.local import LocalBackend

    with session.workspace(args, args.path, connect_apis=False) as workspace:
        config = workspace.desired.config
        if config.state.backend != "gcs":
            raise UserError(f"state {args.state_command}: reconciler.yaml's state.backend is local; set "
                            "`state: {backend: gcs, bucket: NAME, prefix: PATH}` first")
        local = LocalBackend(config.lock_path)
        origin, to = (local, workspace.backend) if args.state_command == "push" else (workspace.backend, local)
        moved = migrate.move(origin, to, f"reconciler state {args.state_command}")
    print(f"Copied the state (lineage {moved.lineage}, {len(moved.entries)} entries) from {origin.location} to "
          f"{to.location}.")
    if origin is local:
        print(f"The state now lives in {to.location}: `git rm {origin.location}` and stop committing it.")
    return "ok"
