"""Collecting located diagnostics while loading, and the small wording helpers every stage shares."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import Node

from reconciler.errors import Diagnostic

MAX_MESSAGE = 400


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, path: str, line: int, col: int, message: str, severity: str = "error") -> None:
        if len(message) > MAX_MESSAGE:  # a message quotes user input, which may be huge
            message = message[:MAX_MESSAGE - 3] + "..."
        self.items.append(Diagnostic(path, line, col, message, severity))

    def at(self, path: str, node: Node, message: str, severity: str = "error") -> None:
        self.add(path, node.start_mark.line + 1, node.start_mark.column + 1, message, severity)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(sorted(d for d in self.items if d.severity == "warning"))


def brief(value: Any) -> str:
    """A value as a message quotes it: repr, cut short."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "a huge number"
    return text if len(text) <= 60 else f"{text[:57]}..."


def did_you_mean(value: Any, choices: Any) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
