"""A plan for a terminal (rich text) and for programs (JSON); the summary line every rendering shares."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from reconciler.plan.model import SUMMARY_ORDER, Change, FieldDiff, Plan

STYLES = {"train": "green", "retrain": "magenta", "update": "yellow", "cancel": "red", "delete": "red",
          "retire": "red", "adopt": "cyan", "forget": "blue", "noop": "dim"}
NOUNS = {"train": "to train ($)", "retrain": "to retrain ($)", "update": "to update", "cancel": "to cancel",
         "delete": "to delete", "retire": "to retire", "adopt": "to adopt", "forget": "to forget"}



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
