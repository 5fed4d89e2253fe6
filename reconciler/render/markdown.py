"""A plan as a pull-request comment (GitHub-Flavored Markdown)."""

from __future__ import annotations

from reconciler.plan.model import COSTLY, DESTRUCTIVE, Change, Plan
from reconciler.render.plan_text import _diff_line, summary

MARKDOWN_LIMIT = 60_000
MARKDOWN_NAMES = 20  # names listed in a warning line, then "… and N more"


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
