"""The rich console every terminal rendering writes to. Text output honours NO_COLOR and plain (non-TTY) streams."""

from __future__ import annotations

from typing import IO

from rich.console import Console


def console(stream: IO[str] | None = None, *, color: bool | None = None) -> Console:
    """A console that colours only a terminal, and never when NO_COLOR is set (rich reads it)."""
    return Console(file=stream, no_color=color is False or None, highlight=False, soft_wrap=True,
                   force_terminal=color or None, emoji=False)
