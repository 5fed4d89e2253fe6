"""A plan as a pull-request comment (GitHub-Flavored Markdown), built for review.

Reading order: a hidden marker (to find and edit the one sticky comment), the title, the summary, the facts that
need attention, the paid and the destructive changes; a table of the changes with short resource ids; the count of
resources in sync; then each change in full: its reason, the follow-ups it starts (`then:`), the full planned spec
of a paid change, its field diffs and the full names of what it touches. With at most INLINE_CHANGES changes the
details are shown inline; with more, each is a collapsed section.

Every string from a server or a manifest goes through `untrusted` where it is placed: nothing in it can add HTML,
close a section, start a heading, ping someone or end a code fence.

Alerts (`> [!WARNING]`) are written so that a renderer without alert support still reads well: the marker is
alone on its line and the quote's first words, in bold, say what follows, never "Warning:" again. GitHub shows a
coloured "Warning" box; elsewhere the quote reads "[!WARNING] **3 changes start a paid tuning job:** …".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.plan.model import COSTLY, DESTRUCTIVE, Change, Plan
from reconciler.plan import costing
from reconciler.render.plan_text import (Step, attention, cost_summary, diff_line, noops, short_id, steps,
                                         summary, then_line)
from reconciler.render.untrusted import fence, for_html, for_marker, for_markdown, in_code

MARKDOWN_LIMIT = 60_000  # GitHub refuses a comment over 65,536 characters
MARKDOWN_NAMES = 20  # names listed in an alert line, then "… and N more"
INLINE_CHANGES = 5  # up to this many changes, their details are shown without a click
LISTED_NOOPS = 50  # up to this many resources in sync, a collapsed list names them; beyond, they are counted
REASON_CELL = 160  # characters of a reason in the table (the details hold it whole)
ALERT_TEXT = 500  # characters of a fact or a title in the head, which is never cut
MARKER = "<!-- reconciler-plan: {root} -->"
SPEC_FIRST = ("platform", "project", "location")
SPEC_SKIPPED = ("name", "digest", "digestAlgorithm", "examples", "immutable", "mutable")  # in the JSON


def markdown(plan: Plan, limit: int = MARKDOWN_LIMIT, *, title: str = "", warnings: Sequence = ()) -> str:
    """The comment. Over `limit` characters, the list of resources in sync goes first, then the details of the
    last changes (never while there is room for them), then the table rows that do not fit; the head (marker,
    summary, facts, alerts, their lists of names cut short) always stays."""
    head = _head(plan, title) + _alerts(plan, warnings)
    top = steps(plan)
    table_steps = _flatten(top)
    flagged = [c for c in plan.changes if not c.is_change and c.attention]
    rows = [_row(change, parent) for change, parent in table_steps] + [_row(c, None) for c in flagged]
    in_sync = _in_sync_line(plan)
    inline = len(table_steps) <= INLINE_CHANGES
    sections = [(_section(step, inline), len(_flatten([step]))) for step in top]
    noop_list = _noop_list(plan)
    details = "".join(section for section, _ in sections)
    body = head + _table(rows) + in_sync + details + noop_list
    if len(body) <= limit:
        return body
    body = head + _table(rows) + in_sync + details
    if len(body) <= limit:
        return body
    return _cut(head, rows, in_sync, sections, limit)


def invalid(diagnostics: Sequence, *, root: str, title: str = "", limit: int = MARKDOWN_LIMIT) -> str:
    """The comment for manifests that fail validation: every located error and warning, in a table (as many
    rows as fit), so that a pull request shows why there is no plan."""
    errors = sum(d.severity == "error" for d in diagnostics)
    warned = len(diagnostics) - errors
    counts = _count(errors, "error") + (f" and {_count(warned, 'warning')}" if warned else "")
    head = "\n".join([MARKER.format(root=for_marker(root)), _title(title), "",
                      f"**The manifests are invalid: {counts}. Nothing was planned.**", "",
                      "> [!CAUTION]", f"> **Fix these, then push again:** {in_code('reconciler validate ' + root)}"
                      " shows the same list offline.", "", ""])
    rows = [f"| {d.severity} | {in_code(_where(d), table=True)} | {for_markdown(d.message)} |" for d in diagnostics]
    tail = "\n"
    header = "| | where | problem |\n|---|---|---|\n"
    kept, room = [], limit - len(head) - len(header) - len(tail) - 60
    for row in rows:
        room -= len(row) + 1
        if room < 0:
            break
        kept.append(row)
    more = [f"| … | | {len(rows) - len(kept)} more not shown |"] if len(kept) < len(rows) else []
    return head + header + "\n".join(kept + more) + "\n" + tail


def _where(diagnostic) -> str:
    return diagnostic.path if diagnostic.line <= 0 else f"{diagnostic.path}:{diagnostic.line}:{diagnostic.col}"


def _title(title: str) -> str:
    return "### reconciler plan" + (f": {for_markdown(_cut_short(title, 200))}" if title.strip() else "")


def _head(plan: Plan, title: str) -> str:
    """The marker (to find the one sticky comment), the title, the summary and the estimated cost."""
    costs = cost_summary(plan)
    return "\n".join([MARKER.format(root=for_marker(plan.root)), _title(title), "", f"**{summary(plan)}**", "",
                      *([f"💲 {for_markdown(costs)}", ""] if costs else []), ""])


def _alerts(plan: Plan, warnings: Sequence) -> str:
    """The facts that need attention, then the paid changes, the destructive ones and the manifest warnings."""
    blocks = []
    facts = attention(plan)
    if facts:
        head = f"**{_count(len(facts), 'fact')} need{'s' if len(facts) == 1 else ''} attention:**"
        items = [f"{in_code(c.name)}: {for_markdown(_cut_short(c.attention))}" for c in facts]
        blocks.append(_alert("IMPORTANT", _listed(head, items, "(`reconciler plan --json`: `attention`)")))
    costly = [c for c in plan.changes if c.action in COSTLY]
    if costly:
        blocks.append(_alert("WARNING", [f"**{_count(len(costly), 'change')} start{_s(costly)} a paid tuning "
                                         f"job:** {_names(costly)}"]))
    destructive = [c for c in plan.changes if c.action in DESTRUCTIVE]
    moves = [c for c in plan.changes if c.moved_from]
    if destructive or moves:
        lines = [f"**{_count(len(destructive), 'change')} cancel{_s(destructive)} or "
                 f"delete{_s(destructive)} live resources:** {_names(destructive)}"] if destructive else []
        if moves:  # a changed project or location variable: check it is meant before the old models go
            lines += ([""] if lines else []) + [
                f"**{_count(len(moves), 'manifest')} move{'s' if len(moves) == 1 else ''} to another project or "
                f"location** (a paid train there, then the old model is retired): {_names(moves)}. "
                "Check the project and location variables before approving."]
        blocks.append(_alert("CAUTION", lines))
    if warnings:
        items = [f"{in_code(_where(w))}: {for_markdown(w.message)}" for w in warnings]
        blocks.append(_alert("NOTE", _listed(f"**{_count(len(warnings), 'manifest warning')}:**", items,
                                             "(`reconciler validate`)")))
    return "".join(blocks)


def _listed(head: str, items: list[str], where_all: str) -> list[str]:
    """An alert's lines: `head`, then the first MARKDOWN_NAMES items as a list, then how many more and where."""
    lines = [head] + [f"- {item}" for item in items[:MARKDOWN_NAMES]]
    if len(items) > MARKDOWN_NAMES:
        lines.append(f"- … and {len(items) - MARKDOWN_NAMES} more {where_all}")
    return lines


def _cut_short(text: str, most: int = ALERT_TEXT) -> str:
    """A server's message in a part of the comment that always stays: at most `most` characters (all in the JSON)."""
    return text if len(text) <= most else text[:most - 1].rstrip() + "…"


def _alert(kind: str, lines: list[str]) -> str:
    return "\n".join([f"> [!{kind}]"] + [f"> {line}" for line in lines]) + "\n\n"


def _s(changes: list) -> str:
    return "s" if len(changes) == 1 else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _names(changes: list[Change]) -> str:
    """The changes' names as code, the first MARKDOWN_NAMES of them: a list in a line must not outgrow the comment."""
    names = ", ".join(in_code(c.name) for c in changes[:MARKDOWN_NAMES])
    more = len(changes) - MARKDOWN_NAMES
    return names + (f", … and {more} more" if more > 0 else "")


def _flatten(top: list[Step], parent: Change | None = None) -> list[tuple[Change, Change | None]]:
    """The changes in reading order, each with the change it follows (None for one that starts a sequence)."""
    flat = []
    for step in top:
        flat.append((step.change, parent))
        flat += _flatten(step.then, step.change)
    return flat


TABLE_HEADER = "| action | name | reason |\n|---|---|---|"


def _table(rows: list[str], more: int = 0) -> str:
    """The table of changes (and of no-ops with a fact), one row each; `more` rows left out are counted."""
    if not rows and not more:
        return ""
    lines = [TABLE_HEADER, *rows]
    if more:
        lines.append(f"| … | | {more} more not shown |")
    return "\n".join(lines) + "\n"


def _row(change: Change, parent: Change | None) -> str:
    action = f"`{change.symbol}` {change.action}" + (" 💲" if change.costly else "") + (" ⚠" if change.attention else "")
    if change.estimate:
        action += f" {for_markdown(costing.estimate_of(change).short())}"
    if parent is not None:
        action = "↳ " + action
    reason = _short_reason(change.reason)
    shorts = [short_id(t) for t in change.targets]
    if shorts and not any(for_markdown(short) in reason for short in shorts):  # what it acts on, if unnamed
        reason += f" ({in_code(shorts[0], table=True)})"
    if parent is not None:
        once = f"the {parent.action}" if parent.name == change.name else in_code(parent.name, table=True)
        reason = f"then, once {once} succeeds: {reason}"
    return f"| {action} | {in_code(change.name, table=True)} | {reason} |"


_FULL_NAME = re.compile(r"\b(?:projects|tunedModels)/[^\s,;()]+")


def _short_reason(reason: str) -> str:
    """The reason for a table cell: full resource names as short ids, at most REASON_CELL characters."""
    short = _FULL_NAME.sub(lambda m: short_id(m.group()), reason)
    if len(short) > REASON_CELL:
        short = short[:REASON_CELL - 1].rstrip() + "…"
    return for_markdown(short)


def _in_sync(plan: Plan) -> list[Change]:
    """The no-ops with no fact to tell: counted (and, when few, listed collapsed) rather than shown as rows."""
    return [c for c in noops(plan) if not c.attention]


def _in_sync_line(plan: Plan) -> str:
    count = len(_in_sync(plan))
    return f"\n**{count} in sync.**\n\n" if count else "\n"


def _noop_list(plan: Plan) -> str:
    """The resources in sync, collapsed, when there are few enough to be worth a list."""
    in_sync = _in_sync(plan)
    if not in_sync or len(in_sync) > LISTED_NOOPS:
        return ""
    lines = [f"<details><summary>{_count(len(in_sync), 'resource')} in sync</summary>", ""]
    lines += [f"- {in_code(c.name)}: {for_markdown(c.reason)}" for c in in_sync]
    return "\n".join(lines + ["", "</details>", "", ""])


def _section(step: Step, inline: bool) -> str:
    """One change in full, with the follow-ups it starts; a collapsed section unless `inline`."""
    change = step.change
    flag = " 💲" if change.costly else ""
    if inline:
        opening = [f"#### `{change.symbol}` {change.action}{flag} {in_code(change.name)}", ""]
        closing: list[str] = []
    else:
        opening = [f"<details><summary><code>{for_html(change.symbol)}</code> {change.action}{flag} "
                   f"<b>{for_html(change.name)}</b></summary>", ""]
        closing = ["</details>", ""]
    return "\n".join(opening + _body(change, follows=False) + _then(step) + closing) + "\n"


def _then(step: Step) -> list[str]:
    lines = []
    for child in step.then:
        flag = " 💲" if child.change.costly else ""
        lines += [f"**{for_markdown(then_line(child.change, step.change))}**{flag}", ""]
        lines += _body(child.change, follows=True) + _then(child)
    return lines


def _body(change: Change, follows: bool) -> list[str]:
    lines = [for_markdown(change.reason), ""]
    if change.estimate:
        lines += [_estimate_line(change), ""]
    if change.after and not follows:
        lines += [f"Runs after {in_code(change.after)} succeeds.", ""]
    moved = change.moved_from
    if moved:
        lines += [f"**Moves** from {in_code(moved)}.", ""]
    reviewed = change.reviewed_in
    if reviewed:
        lines += [f"_Reviewed in plan {in_code(reviewed)}._", ""]
    spec = change.spec
    if spec:
        lines += ["**Planned spec**", "", fence(_spec_lines(spec), "yaml"), ""]
    if change.diffs:
        lines += (["**Changes from the live version**", ""] if spec else [])
        lines += [fence((diff_line(d) for d in change.diffs), "diff"), ""]
    if change.targets:
        lines += ["Acts on: " + ", ".join(in_code(t) for t in change.targets), ""]
    return lines


def _estimate_line(change: Change) -> str:
    estimate = costing.estimate_of(change)
    if not estimate.known:
        return f"**Cost unknown:** {for_markdown(estimate.text().removeprefix('cost unknown: '))}"
    return f"**Estimated cost:** {for_markdown(estimate.text())}"


def _spec_lines(spec: dict) -> Iterable[str]:
    """The planned spec as the manifest's own YAML shape: scope first, then the immutable fields (what is paid
    for), the mutable ones, the policy and where it was written. Values are JSON scalars (valid YAML)."""
    flat: dict[str, Any] = {k: spec[k] for k in SPEC_FIRST if spec.get(k) is not None}
    for group in ("immutable", "mutable"):
        flat.update(spec.get(group) or {})
    flat.update({k: v for k, v in spec.items() if k not in flat and k not in SPEC_SKIPPED
                 and v not in (None, "", {}, [])})
    yield from _yaml(flat, "")


def _yaml(mapping: dict, indent: str) -> Iterable[str]:
    for key, value in mapping.items():
        label = key if re.fullmatch(r"[A-Za-z0-9_./-]+", str(key)) else json.dumps(str(key), ensure_ascii=False)
        if isinstance(value, dict) and value:
            yield f"{indent}{label}:"
            yield from _yaml(value, indent + "  ")
        else:
            yield f"{indent}{label}: {json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)}"


def _cut(head: str, rows: list[str], in_sync: str, sections: list[tuple[str, int]], limit: int) -> str:
    """Over the limit: keep the head, the table and the details of as many changes as fit, in reading order;
    when even the table does not fit, keep the rows that do and count the rest."""
    note = ("_Details of {n} change(s) omitted: the full plan exceeds " f"{limit:,} characters. "
            "Run `reconciler plan --json` for every field diff._\n")
    total = sum(n for _, n in sections)
    table = _table(rows)
    fixed = len(head) + len(table) + len(in_sync) + len(note.format(n=total))
    if fixed <= limit:
        room, kept, shown = limit - fixed, [], 0
        for section, n in sections:
            room -= len(section)
            if room < 0:
                break
            kept.append(section)
            shown += n
        return head + table + in_sync + "".join(kept) + note.format(n=total - shown)
    # Too many rows even for the table: keep the rows that fit, and count the rest.
    note = note.format(n=total)
    room = limit - len(head) - len(_table([], len(rows))) - len(in_sync) - len(note)
    fit = 0
    for row in rows:
        room -= len(row) + 1
        if room < 0:
            break
        fit += 1
    return head + _table(rows[:fit], len(rows) - fit) + in_sync + note
