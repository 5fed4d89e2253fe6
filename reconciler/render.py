"""Everything a person reads: validate results, plans (text via rich, JSON, and Markdown for PR comments),
apply outcomes and waiting progress.

The only module that imports rich. Text output honours NO_COLOR and plain (non-TTY) streams.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from reconciler.plan.model import COSTLY, DESTRUCTIVE, SUMMARY_ORDER, Change, FieldDiff, Plan

MARKDOWN_LIMIT = 60_000
MARKDOWN_NAMES = 20  # names listed in a warning line, then "… and N more"
STYLES = {"train": "green", "retrain": "magenta", "update": "yellow", "cancel": "red", "delete": "red",
          "retire": "red", "adopt": "cyan", "forget": "blue", "noop": "dim"}
NOUNS = {"train": "to train ($)", "retrain": "to retrain ($)", "update": "to update", "cancel": "to cancel",
         "delete": "to delete", "retire": "to retire", "adopt": "to adopt", "forget": "to forget"}


def console(stream: IO[str] | None = None, *, color: bool | None = None) -> Console:
    """A console that colours only a terminal, and never when NO_COLOR is set (rich reads it)."""
    return Console(file=stream, no_color=color is False or None, highlight=False, soft_wrap=True,
                   force_terminal=color or None, emoji=False)


# --------------------------------------------------------------------------------------------- validate


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


# --------------------------------------------------------------------------------------------- plans


def summary(plan: Plan) -> str:
    counts = plan.counts()
    facts = sum(1 for c in plan.changes if c.attention)
    if not counts and facts:
        return f"Plan: no changes. {facts} fact(s) above need attention (⚠)."
    if not counts:
        return "Plan: no changes. Live state matches the manifests."
    parts = [f"{counts[a]} {NOUNS[a]}" for a in SUMMARY_ORDER if counts.get(a)]
    return "Plan: " + ", ".join(parts) + "."


def text(plan: Plan, out: Console, *, show_noops: bool = True) -> None:
    shown = [c for c in plan.changes if c.is_change or show_noops or c.attention]
    width = min(32, max((len(c.name) for c in shown), default=0))
    lines = [line for change in shown for line in _text_change(change, width)]
    lines += [Text(), Text(summary(plan), style="bold")]
    out.print(Text("\n").join(lines))  # one print: a thousand separate prints cost a quarter of a second


def _text_change(change: Change, width: int) -> list[Text]:
    style = STYLES[change.action]
    line = Text()
    line.append(f"{change.symbol:>3} ", style=f"bold {style}")
    line.append(f"{change.action:<7} ", style=style)
    line.append(change.name.ljust(width), style="bold")
    line.append(f"  {change.reason}", style="dim" if change.action == "noop" else "")
    lines = [line]
    if change.after:
        lines.append(Text(f"        after {change.after} succeeds", style="dim"))
    lines += [Text(f"        {_diff_line(diff)}", style=style) for diff in change.diffs]
    if change.attention:
        lines.append(Text(f"        ⚠ {change.attention}", style="yellow"))
    return lines


def _diff_line(diff: FieldDiff) -> str:
    if diff.kind == "added":
        return f"+ {diff.path}: {_value(diff.after)}"
    if diff.kind == "removed":
        return f"- {diff.path}: {_value(diff.before)}"
    return f"~ {diff.path}: {_value(diff.before)} → {_value(diff.after)}"


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def as_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: a summary table, then a collapsible section per resource. Over `limit` characters,
    the details go, then the rows of resources in sync, then the rows that do not fit; the summary and the
    warnings (their lists of names cut short) always stay."""
    head = _markdown_intro(plan) + _markdown_table(plan.changes) + "\n\n"
    details = [_markdown_details(c) for c in plan.changes if c.is_change or c.attention]
    body = head + "".join(details)
    if len(body) <= limit:
        return body
    return _markdown_summarised(plan, head, limit)


def _markdown_intro(plan: Plan) -> str:
    """The title, the summary line and the warnings about paid and destructive changes."""
    lines = ["### reconciler plan", "", f"**{summary(plan)}**", ""]
    costly = [c for c in plan.changes if c.action in COSTLY]
    if costly:
        lines += [f"> [!WARNING]\n> {len(costly)} change(s) start a paid tuning job: {_names(costly)}", ""]
    destructive = [c for c in plan.changes if c.action in DESTRUCTIVE]
    if destructive:
        caution = f"{len(destructive)} change(s) cancel or delete live resources: {_names(destructive)}"
        lines += [f"> [!CAUTION]\n> {caution}", ""]
    return "\n".join(lines) + "\n"


def _names(changes: list[Change]) -> str:
    """The changes' names as code, the first MARKDOWN_NAMES of them: a list in a line must not outgrow the comment."""
    names = ", ".join(f"`{c.name}`" for c in changes[:MARKDOWN_NAMES])
    more = len(changes) - MARKDOWN_NAMES
    return names + (f", … and {more} more" if more > 0 else "")


def _markdown_table(changes: tuple[Change, ...], more: int = 0) -> str:
    """The table of changes, one row each (without the trailing newline); `more` rows left out are counted."""
    lines = ["| | action | name | platform | reason |", "|---|---|---|---|---|"]
    lines += [_markdown_row(c) for c in changes]
    if more:
        lines.append(f"| … | | | | {more} more not shown |")
    return "\n".join(lines)


def _markdown_row(c: Change) -> str:
    flag = " 💲" if c.costly else ""
    return f"| `{c.symbol}` | {c.action}{flag} | `{c.name}` | {c.platform} | {_cell(c.reason)} |"


def _markdown_details(change: Change) -> str:
    lines = [f"<details><summary><code>{change.symbol}</code> <b>{change.name}</b>: {change.action}</summary>", "",
             change.reason, ""]
    if change.attention:
        lines += [f"> ⚠ {change.attention}", ""]
    if change.after:
        lines += [f"Runs after `{change.after}` succeeds.", ""]
    if change.diffs:
        lines += ["```diff"] + [_diff_line(d) for d in change.diffs] + ["```", ""]
    if change.targets:
        lines += ["Targets: " + ", ".join(f"`{t}`" for t in change.targets), ""]
    lines += ["</details>", ""]
    return "\n".join(lines) + "\n"


def _markdown_summarised(plan: Plan, head: str, limit: int) -> str:
    note = (f"\n_Details omitted: the full plan exceeds {limit:,} characters. "
            "Run `reconciler plan --json` for every field diff._\n")
    if len(head) + len(note) <= limit:
        return head + note
    # Too many rows even for the table: keep the changes, count the no-ops, and keep the rows that fit.
    intro = _markdown_intro(plan)
    rows = [c for c in plan.changes if c.is_change or c.attention]
    noops = len(plan.changes) - len(rows)
    tail = (f"\n\n_{noops} resources in sync are not listed._\n" if noops else "\n\n") + note
    room = limit - len(intro) - len(tail) - len(_markdown_table((), len(rows))) - 1
    kept = 0
    for change in rows:
        room -= len(_markdown_row(change)) + 1
        if room < 0:
            break
        kept += 1
    return intro + _markdown_table(tuple(rows[:kept]), len(rows) - kept) + tail


def _cell(text_: str) -> str:
    return text_.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------------------------- apply and wait


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
