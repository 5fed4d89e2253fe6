"""Apply outcomes, the `status` table, and waiting progress: live rows on a terminal, lines in CI logs.

On a terminal (`apply --wait`, `wait`) each job is one live row: state, a bar where the API reports progress (a
pulse where it only says "training"), elapsed time, an ETA from the observed rate, the latest loss with its
sparkline, or the data the job reports. Rows finish in place. Elsewhere (a CI log) a job gets one line per state
change, and at most one progress line per PROGRESS_EVERY seconds; resource names are never cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console, Group
from rich.text import Text

from reconciler.render import jobs
from reconciler.render.jobs import JobView
from reconciler.render.status import NONE, cost_text
from reconciler.render.untrusted import for_terminal

OUTCOME_STYLES = {"done": "green", "failed": "bold red", "deferred": "yellow", "skipped": "dim"}
WORD_STYLES = {"succeeded": "green", "failed": "bold red", "cancelled": "red", "expired": "red", "gone": "bold red",
               "training": "cyan", "queued": "blue", "cancelling": "yellow"}
PROGRESS_EVERY = 60.0  # seconds: at most one progress line per job this often in a CI log
BAR_WIDTH = 24
COLUMNS = ("name", "state", "progress", "elapsed", "loss", "data", "resource")


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
        line.append(for_terminal(f"{result.action} {result.name}", newlines=False), style="bold")
        line.append(f"  {for_terminal(result.detail, newlines=False)}")  # often the server's error message
        out.print(line)
    counts = {status: sum(r.status == status for r in results) for status in OUTCOME_STYLES}
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    out.print(Text("Apply: " + ", ".join(parts) + ".", style="bold"))


# --- `reconciler status` ---------------------------------------------------------------------------------


def progress(now: dict, out: Console, estimates: Mapping[str, Mapping] = NONE) -> None:
    """The recorded jobs as live now (`reconciler status`): aligned columns, never cut, then what needs a look,
    then, for each job that ended, what it was estimated to cost (`estimates`: as the lock recorded them) beside
    the tokens its API says were billed."""
    if not now:
        out.print("Nothing recorded in the lock.")
        return
    views = [jobs.view(name, g, now=jobs.now_epoch()) for name, g in now.items()]
    rows = [COLUMNS] + [_cells(v) for v in views]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    table = Text(no_wrap=True)  # one print: rich's cost is per call, and a thousand rows were a thousand calls
    for index, row in enumerate(rows):
        line = Text(no_wrap=True)
        for i, cell in enumerate(row):
            style = "bold" if index == 0 else WORD_STYLES.get(cell, "") if i == 1 else ""
            line.append(cell if i == len(row) - 1 else cell.ljust(widths[i] + 2), style=style)
        line.rstrip()
        table.append_text(line)
        table.append("\n")
    table.rstrip()
    if out.color_system is None:  # a pipe or a CI log: the same characters, without rich laying out 1,000 lines
        out.file.write(table.plain + "\n")  # (a fifth of `status` on 1,000 jobs)
    else:
        out.print(table, crop=False, overflow="ignore")
    for v in views:
        if v.attention:
            out.print(Text(f"⚠ {v.name}: {v.attention}", style="yellow"), crop=False)
    for name, g in now.items():  # once a job ended: what it was billed, beside the estimate
        if g is not None and not g.active and estimates.get(name):
            out.print(Text(f"$ {name}: {for_terminal(cost_text(estimates[name], g))}"), crop=False, overflow="ignore")


def _cells(v: JobView) -> tuple[str, ...]:
    percent = jobs.percent_text(v)
    eta = jobs.duration(v.eta)
    progress_cell = f"{percent} (eta {eta})" if percent and eta and v.active else percent
    loss = f"{jobs.loss_text(v)} {v.spark}".strip()
    resource = v.model if v.word == "succeeded" and v.model else v.resource
    return v.name, v.word, progress_cell, jobs.duration(v.elapsed), loss, jobs.data(v.stats), resource


# --- waiting: `apply --wait`, `reconciler wait` --------------------------------------------------------


class Watching:
    """What a watcher saw of each job: (seconds, percent) samples for the ETA, and when it saw a job end."""

    def __init__(self, clock: Callable[[], float] = jobs.now_epoch):
        self.clock = clock
        self.latest: dict[str, Any] = {}
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self.ended: dict[str, float] = {}

    def see(self, now: dict) -> None:
        at = self.clock()
        for name, g in now.items():
            self.latest[name] = g
            if g is not None and g.active and g.progress is not None:
                kept = [s for s in self.samples.get(name, []) if s[0] >= at - jobs.RATE_WINDOW]
                self.samples[name] = [*kept, (at, g.progress)]
            if (g is None or not g.active) and name not in self.ended:
                self.ended[name] = at

    def views(self) -> list[JobView]:
        at = self.clock()
        return [jobs.view(name, g, now=at, samples=self.samples.get(name, ()), ended_at=self.ended.get(name))
                for name, g in self.latest.items()]


class LineLog:
    """A CI log: one line per state change of a job, and at most one progress line per job per PROGRESS_EVERY
    seconds (only when its percent or loss moved). `clock` is monotonic seconds (a test passes a fake one)."""

    def __init__(self, write: Callable[[str], None], watching: Watching,
                 clock: Callable[[], float] = time.monotonic):
        self.write = write
        self.watching = watching
        self.clock = clock
        self.said: dict[str, tuple[str, float | None, float | None]] = {}  # name -> (word, percent, loss)
        self.last_line: dict[str, float] = {}

    def update(self, now: dict) -> None:
        self.watching.see(now)
        at = self.clock()
        for v in self.watching.views():
            said = self.said.get(v.name)
            if said is None or said[0] != v.word:
                self.write(state_line(v))
            elif v.active and (said[1], said[2]) != (v.percent, v.loss) and \
                    at - self.last_line[v.name] >= PROGRESS_EVERY:
                self.write(progress_line(v))
            else:
                continue
            self.said[v.name] = (v.word, v.percent, v.loss)
            self.last_line[v.name] = at


def state_line(v: JobView) -> str:
    """`math-bot: succeeded after 2m01s · loss 0.051  tunedModels/math-bot-1a2b3c4d` (never cut)."""
    facts = [f"{v.word}" + (f" {jobs.percent_text(v)}" if v.active and v.percent is not None else "")]
    if not v.active and v.elapsed is not None:
        facts[0] += f" after {jobs.duration(v.elapsed)}"
    facts += [f for f in (jobs.data(v.stats), f"loss {jobs.loss_text(v)}" if v.loss is not None else "") if f]
    if v.attention:
        facts.append(v.attention)
    resource = v.model if v.word == "succeeded" and v.model else v.resource
    return f"  {v.name}: {' · '.join(facts)}" + (f"  {resource}" if resource else "")


def progress_line(v: JobView) -> str:
    """`math-bot: training 42% · elapsed 3m12s · eta 4m10s · loss 0.412 █▆▄▃▂`."""
    facts = [f"{v.word} {jobs.percent_text(v)}".strip()]
    facts += [f"{label} {jobs.duration(s)}" for label, s in (("elapsed", v.elapsed), ("eta", v.eta)) if s is not None]
    if v.loss is not None:
        facts.append(f"loss {jobs.loss_text(v)} {v.spark}".rstrip())
    return f"  {v.name}: {' · '.join(facts)}"


class live_progress:
    """Show waiting progress: live rows on a terminal, a LineLog elsewhere (CI logs)."""

    def __init__(self, out: Console, generations: dict):
        self.out = out
        self.watching = Watching()
        self.watching.see(generations)
        self.live = None
        self.log = LineLog(lambda line: out.print(line, markup=False, highlight=False, crop=False), self.watching)

    def __enter__(self) -> Callable[[dict], None]:
        if self.out.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.out, refresh_per_second=4, transient=False,
                             get_renderable=lambda: rows(self.watching.views(), self.out.width))
            self.live.__enter__()
        return self.update

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.refresh()  # the rows as they ended, in place
            self.live.__exit__(*exc)

    def update(self, now: dict) -> None:
        if self.live is not None:
            self.watching.see(now)
            self.live.refresh()
        else:
            self.log.update(now)


def _detail(v: JobView) -> Text:
    """The loss and its sparkline, and the data the job reports; or why it needs attention."""
    if v.attention:
        return Text(v.attention, style="red")
    detail = Text(f"loss {jobs.loss_text(v)} " if v.loss is not None else "")
    detail.append(v.spark, style="magenta")
    if v.stats:
        detail.append(("  " if detail else "") + jobs.data(v.stats), style="dim")
    return detail


def rows(views: list[JobView], width: int = 120):
    """The live rows: name, state, bar, percent, elapsed, ETA, and the loss with its sparkline or the data. Each
    row stays one line whatever the terminal's `width` (a shorter bar, then the detail ends in …): a folded row
    would make the live display jump."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    bar_width = BAR_WIDTH if width >= 110 else BAR_WIDTH // 2
    cells = []
    for v in views:
        finished = "red" if v.word in ("failed", "cancelled", "expired", "gone") else "green"
        bar = ProgressBar(total=100, completed=v.percent or 0, width=bar_width, finished_style=finished,
                          complete_style="red" if finished == "red" and not v.active else "bar.complete",
                          pulse=v.word == "training" and v.percent is None)
        eta = f"eta {jobs.duration(v.eta)}" if v.active and v.eta is not None else ""
        cells.append((v.name, v.word, bar, jobs.percent_text(v), jobs.duration(v.elapsed), eta, _detail(v)))
    fixed = [max((len(row[i]) for row in cells), default=0) for i in (0, 1)] + [bar_width] + \
            [max((len(row[i]) for row in cells), default=0) for i in (3, 4, 5)]
    table = Table.grid(padding=(0, 1))
    for justify, least in zip(("left", "left", "left", "right", "right", "left"), fixed):
        table.add_column(justify=justify, no_wrap=True, min_width=least)
    table.add_column(no_wrap=True, overflow="ellipsis", max_width=max(8, width - sum(fixed) - len(fixed) - 1))
    for name, word, bar, percent, elapsed, eta, detail in cells:
        table.add_row(Text(name, style="bold"), Text(word, style=WORD_STYLES.get(word, "")), bar, percent,
                      Text(elapsed, style="dim"), Text(eta, style="dim"), detail)
    counts: dict[str, int] = {}
    for v in views:
        counts[v.word] = counts.get(v.word, 0) + 1
    footer = ", ".join(f"{n} {word}" for word, n in counts.items())
    if any(v.active for v in views):
        footer += " · Ctrl-C stops waiting, cancels nothing (`reconciler wait` resumes)"
    return Group(table, Text(footer, style="dim", no_wrap=True, overflow="ellipsis"))
