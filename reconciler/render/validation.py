"""`validate` results: warnings and a one-line summary, every located problem, or the whole result as JSON."""

from __future__ import annotations

import json
import sys
from typing import Any


def valid(state: Any, *, as_json: bool) -> None:
    """A DesiredState that passed validation: its warnings, then a one-line summary (or JSON)."""
    resources = list(state.resources.values())
    if as_json:
        print(json.dumps({"valid": True, "resources": [r.to_json() for r in resources],
                          "diagnostics": [d.to_json() for d in state.warnings]}, indent=2, sort_keys=True))
        return
    for warning in state.warnings:
        print(warning, file=sys.stderr)
    by_platform: dict[str, int] = {}
    for resource in resources:
        by_platform[resource.platform] = by_platform.get(resource.platform, 0) + 1
    platforms = ", ".join(f"{count} {platform}" for platform, count in sorted(by_platform.items(), reverse=True))
    line = f"{_plural(len(resources), 'manifest')} valid" + (f" ({platforms})" if platforms else "")
    print(line + (f", {_plural(len(state.warnings), 'warning')}" if state.warnings else ""))


def invalid(diagnostics: list, *, as_json: bool) -> None:
    """Every located problem (on stderr), then the counts; or the whole result as JSON on stdout."""
    if as_json:
        print(json.dumps({"valid": False, "resources": [],
                          "diagnostics": [d.to_json() for d in diagnostics]}, indent=2, sort_keys=True))
        return
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    counts = [_plural(errors, "error")] + ([_plural(warnings, "warning")] if warnings else [])
    print(", ".join(counts), file=sys.stderr)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
