"""Apply outcomes, `status` tables and waiting progress (a live table on a terminal, lines in CI logs)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text


OUTCOME_STYLES = {"done": "green", "failed": "bold red", "deferred": "yellow", "skipped": "dim"}


def outcomes(results: list, out: Console) -> None:
    """What apply did not do (failed, deferred, skipped: one line each, with why), then the counts."""
    if not results:
        return
    out.print()
    for result in results:
        if result.status == "done":
            continue  # already reported live, as it happened
        line = Text()
        line.append(f"{result.status:<8} ", style=OUTCOME_STYLES[result.status])
        line.append(f"{result.action} {result.name}", style="bold")
        line.append(f"  {result.detail}")
        out.print(line)
    counts = {status: sum(r.status == status for r in results) for status in OUTCOME_STYLES}
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    out.print(Text("Apply: " + ", ".join(parts) + ".", style="bold"))


def _progress_row(name: str, generation: Any) -> tuple[str, str, str, str]:
    if generation is None:
        return name, "gone", "", "no longer exists"
    percent = f"{generation.progress:.0f}%" if generation.progress is not None else ""
    if generation.loss is not None and generation.active:
        percent = f"{percent} loss {generation.loss:.3f}".strip()
    detail = generation.error or generation.model or generation.key
    return name, generation.phase, percent, detail


def progress(now: dict, out: Console) -> None:
    """A table of recorded jobs as live now (`reconciler status`)."""
    out.print(_progress_table(now) if now else "Nothing recorded in the lock.")


def _progress_table(now: dict):
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("name", "state", "progress", "resource"):
        table.add_column(column)
    for name, generation in now.items():
        row = _progress_row(name, generation)
        table.add_row(*row, style=PHASE_STYLES.get(row[1], ""))
    return table


PHASE_STYLES = {"succeeded": "green", "failed": "red", "cancelled": "red", "expired": "red", "gone": "red",
                "running": "cyan", "pending": "cyan", "cancelling": "yellow"}


class live_progress:
    """Show waiting progress: a live table on a terminal, one line per state change elsewhere (CI logs)."""

    def __init__(self, out: Console, generations: dict):
        self.out = out
        self.seen: dict[str, tuple] = {}
        self.live = None
        self.initial = generations

    def __enter__(self):
        if self.out.is_terminal:
            from rich.live import Live

            self.live = Live(_progress_table(self.initial), console=self.out, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self.update

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, now: dict) -> None:
        if self.live is not None:
            self.live.update(_progress_table(now))
            return
        for name, generation in now.items():
            row = _progress_row(name, generation)
            if self.seen.get(name) != row:
                self.seen[name] = row
                self.out.print(f"  {row[0]}: {row[1]} {row[2]}".rstrip() + (f"  {row[3]}" if row[1] != "running"
                                                                              else ""), highlight=False)
