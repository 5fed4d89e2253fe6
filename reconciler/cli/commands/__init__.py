"""One module per command, each with `add_parser(subparsers)` and a `run(args) -> Result`."""

from __future__ import annotations

from typing import Literal

Result = Literal["ok", "changes", "failed", "interrupted"]


def _all() -> list:
    from reconciler.cli.commands import apply, emulator, force_unlock, plan, schema, status, validate, wait
    from reconciler.cli.commands import import_, state

    return [emulator, validate, schema, plan, apply, status, wait, force_unlock, import_, state]


ALL = _all()
