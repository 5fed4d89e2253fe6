"""A plan for a terminal (rich text) and for programs (JSON); the summary line and the reading order every rendering
shares: the facts that need attention first, then each change with the follow-ups it starts (`then:` lines), then
the resources in sync (counted, when there are many).

Every string a plan holds may come from a server or a manifest: it reaches the terminal only through
`untrusted.for_terminal`, inside `Text` objects (never as rich markup).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text

from reconciler import cost
from reconciler.plan import costing
from reconciler.plan.model import SUMMARY_ORDER, Change, FieldDiff, Plan
from reconciler.render.untrusted import for_terminal

STYLES = {"train": "green", "retrain": "magenta", "update": "yellow", "cancel": "red", "delete": "red",
          "retire": "red", "adopt": "cyan", "forget": "blue", "noop": "dim"}
NOUNS = {"train": "to train ($)", "retrain": "to retrain ($)", "update": "to update", "cancel": "to cancel",
         "delete": "to delete", "retire": "to retire", "adopt": "to adopt", "forget": "to forget"}
TEXT_NOOPS = 20  # resources in sync listed one per line up to this many; counted beyond
INDENT = "        "


def summary(plan: Plan) -> str:
    counts = plan.counts()
    facts = len(attention(plan))
    need = f"{facts} fact{'s' if facts != 1 else ''} need{'' if facts != 1 else 's'} attention (⚠)."
    if not counts and facts:
        return f"Plan: no changes. {need}"
    if not counts:
        return "Plan: no changes. Live state matches the manifests."
    parts = [f"{counts[a]} {NOUNS[a]}" for a in SUMMARY_ORDER if counts.get(a)]
    return "Plan: " + ", ".join(parts) + "." + (f" {need}" if facts else "")


def cost_summary(plan: Plan) -> str:
    """`Estimated cost: ≈ $42.00 for 3 paid changes (1 unknown: data not read)`; "" when the plan holds no
    estimate (costing.estimates: a paid change without one counts as unknown)."""
    paid = costing.estimates(plan)
    return cost.summary(paid.values()) if paid else ""


def attention(plan: Plan) -> tuple[Change, ...]:
    """The changes (no-ops included) that carry a fact a reviewer must see: listed first in every rendering."""
    return tuple(c for c in plan.changes if c.attention)


@dataclass
class Step:
    """A change and the follow-ups it starts: the changes whose `after` names it (`then:` lines)."""

    change: Change
    then: list[Step] = field(default_factory=list)


def steps(plan: Plan) -> list[Step]:
    """The changes (no-ops left out) in plan order, each follow-up under the change it waits for when that change
    is in this plan: a dependent's train under its upstream's train, a retire under the retrain it waits for."""
    changes = [c for c in plan.changes if c.is_change]
    found: dict[int, Step] = {id(c): Step(c) for c in changes}
    top: list[Step] = []
    for change in changes:
        parent = _followed(change, changes)
        (found[id(parent)].then if parent is not None else top).append(found[id(change)])
    return top


def _followed(change: Change, changes: list[Change]) -> Change | None:
    """The change `change` waits for, if this plan holds it (never itself, and never one that waits for it)."""
    parent = _waited_for(change, changes)
    seen, node = {id(change)}, parent
    while node is not None:  # an odd plan with a cycle of `after`s: every change in it stands on its own
        if id(node) in seen:
            return None
        seen.add(id(node))
        node = _waited_for(node, changes)
    return parent


def _waited_for(change: Change, changes: list[Change]) -> Change | None:
    """The change named by `change.after`: a retire of X waits for X's retrain (a paid change), not for itself."""
    if not change.after:
        return None
    return next((c for c in changes if c is not change and c.name == change.after
                 and (c.name != change.name or c.costly)), None)


def then_line(step: Change, parent: Change) -> str:
    """`then: train support-bot-de once support-bot succeeds` (plain text, for a renderer to make inert)."""
    if step.name == parent.name:
        which = f" ({', '.join(short_id(t) for t in step.targets)})" if step.targets else ""
        return f"then: {step.action} the previous version of {step.name}{which} once the {parent.action} succeeds"
    return f"then: {step.action} {step.name} once {parent.name} succeeds"


def short_id(name: str) -> str:
    """A live resource's short id, its last two path segments: `tuningJobs/123` for
    `projects/p/locations/l/tuningJobs/123` (the full name is in the details)."""
    return "/".join(name.rstrip("/").split("/")[-2:])


def noops(plan: Plan) -> list[Change]:
    return [c for c in plan.changes if not c.is_change]


def text(plan: Plan, out: Console, *, show_noops: bool = True) -> None:
    """Facts first, then the changes with their follow-ups, then what is in sync (listed when few, else counted),
    then the summary line."""
    facts = attention(plan)
    in_sync = noops(plan)
    listed = in_sync if show_noops and len(in_sync) <= TEXT_NOOPS else [c for c in in_sync if c.attention]
    names = [c.name for c in plan.changes if c.is_change] + [c.name for c in listed]
    width = min(32, max((len(for_terminal(n, newlines=False)) for n in names), default=0))
    lines: list[Text] = [line for change in facts for line in _fact(change)]
    if facts:
        lines.append(Text())
    for step in steps(plan):
        lines += _text_step(step, width)
    for change in listed:
        lines += _text_change(change, width)
    if show_noops and len(listed) < len(in_sync):
        lines.append(Text(f"  = {len(in_sync) - len(listed)} in sync (not listed; `reconciler plan --json` lists "
                          "every resource)", style="dim"))
    lines += [Text(), Text(summary(plan), style="bold")]
    costs = cost_summary(plan)
    if costs:
        lines.append(Text(_line(costs), style="bold"))
    out.print(Text("\n").join(lines))  # one print: a thousand separate prints cost a quarter of a second


def _fact(change: Change) -> list[Text]:
    line = Text("⚠ ", style="bold yellow")
    line.append(_line(change.name), style="bold")
    line.append(f": {_line(change.attention)}", style="yellow")
    return [line]


def _text_step(step: Step, width: int, parent: Change | None = None, depth: int = 0) -> list[Text]:
    if parent is None:
        lines = _text_change(step.change, width)
    else:
        style = STYLES[step.change.action]
        indent = INDENT + "  " * (depth - 1)
        line = Text(indent)
        line.append(_line(then_line(step.change, parent)), style=f"bold {style}")
        lines = [line] + _text_details(step.change, indent + "  ", follows=True)
    for child in step.then:
        lines += _text_step(child, width, step.change, depth + 1)
    return lines


def _text_change(change: Change, width: int) -> list[Text]:
    style = STYLES[change.action]
    line = Text()
    line.append(f"{change.symbol:>3} ", style=f"bold {style}")
    line.append(f"{change.action:<7} ", style=style)
    line.append(_line(change.name).ljust(width), style="bold")
    line.append(f"  {_line(change.reason)}", style="dim" if change.action == "noop" else "")
    if change.attention:
        line.append("  ⚠", style="yellow")  # the fact itself is listed first
    return [line] + _text_details(change, INDENT)


def _text_details(change: Change, indent: str, follows: bool = False) -> list[Text]:
    style = STYLES[change.action]
    lines = []
    if change.after and not follows:
        lines.append(Text(f"{indent}after {_line(change.after)} succeeds", style="dim"))
    moved = change.moved_from
    if moved:
        lines.append(Text(f"{indent}moves from {_line(moved)}", style="bold red"))
    reviewed = change.reviewed_in
    if reviewed:
        lines.append(Text(f"{indent}reviewed in plan {_line(reviewed)}", style="dim"))
    if change.estimate:
        lines.append(Text(f"{indent}{_line(costing.estimate_of(change).text())}", style="bold"))
    lines += [Text(f"{indent}{_line(diff_line(diff))}", style=style) for diff in change.diffs]
    return lines


def _line(text_: str) -> str:
    return for_terminal(text_, newlines=False)


def diff_line(diff: FieldDiff) -> str:
    if diff.kind == "added":
        return f"+ {diff.path}: {_value(diff.after)}"
    if diff.kind == "removed":
        return f"- {diff.path}: {_value(diff.before)}"
    return f"~ {diff.path}: {_value(diff.before)} → {_value(diff.after)}"


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def as_json(plan: Plan) -> str:
    """The plan document (`Plan.to_json`), with the facts that need attention first, as `attention`."""
    data = plan.to_json()
    data["attention"] = [{"name": c.name, "action": c.action, "attention": c.attention} for c in attention(plan)]
    paid = costing.estimates(plan)
    if paid:  # the summary's total, as the text and the PR comment show it
        usd, unknown = cost.total(paid.values())
        data["estimatedCost"] = {"usd": usd, "unknown": unknown, "paidChanges": len(paid)}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
