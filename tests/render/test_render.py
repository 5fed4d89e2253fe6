"""Golden renderings of one plan that uses every action: text, Markdown and JSON.

Regenerate after an intended change with `UPDATE_GOLDEN=1 make test` and review the diff.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from reconciler import render
from reconciler.plan.model import Change, FieldDiff, Plan

GOLDEN = Path(__file__).parent / "golden"

PLAN = Plan(
    changes=(
        Change("support-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex", digest="d" * 64),
        Change("faq-bot", "retrain", "immutable fields changed: hyperParameters.epochCount: start a tuning job ($)",
               "vertex", diffs=(FieldDiff("hyperParameters.epochCount", 3, 4),), targets=("jobs/1",)),
        Change("math-bot", "update", "mutable fields differ from the live model (displayName, labels): patch in place",
               "gemini-api", diffs=(FieldDiff("displayName", "Old", "New"),
                                    FieldDiff("labels.extra", "x", None, "removed"),
                                    FieldDiff("labels.team", None, "a", "added")), targets=("tunedModels/m",)),
        Change("old-bot", "cancel", "manifest removed while tuning job jobs/2 is still training", "vertex",
               targets=("jobs/2",)),
        Change("gone-bot", "delete", "manifest removed: undeploy and delete tuning job jobs/3", "vertex",
               targets=("jobs/3",)),
        Change("faq-bot", "retire", "the retrained job succeeded; jobs/0 is superseded", "vertex", targets=("jobs/0",)),
        Change("lost-bot", "adopt", "live tuning job jobs/4 is owned by this manifest but the lock has no record of it",
               "vertex", targets=("jobs/4",)),
        Change("kept-bot", "forget", "manifest removed (onDelete: orphan): dropped from the lock", "vertex"),
        Change("child-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex",
               after="support-bot"),
        Change("steady-bot", "noop", "in sync", "vertex"),
        Change("broken-bot", "noop", "last job ended FAILED", "vertex",
               attention="tuning job jobs/5 ended FAILED: quota exceeded; it is retrained only by a spec change"),
    ),
    lock_lineage="00000000-0000-4000-8000-000000000000", lock_serial=3, observed_fingerprint="o" * 64,
    desired_fingerprint="p" * 64, digest_algorithm="sha256/v1", root="manifests",
    created_at="2026-11-21T09:00:00Z",
)


def text_of(plan: Plan) -> str:
    stream = io.StringIO()
    render.text(plan, render.console(stream, color=False))
    return stream.getvalue()


@pytest.mark.parametrize("name, produce", [
    ("plan.txt", lambda: text_of(PLAN)),
    ("plan.md", lambda: render.markdown(PLAN)),
    ("plan.json", lambda: render.as_json(PLAN)),
])
def test_golden(name, produce):
    path = GOLDEN / name
    actual = produce()
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("counts, expected", [
    ({}, "Plan: no changes. Live state matches the manifests."),
    ({"train": 2, "update": 1, "cancel": 1, "delete": 1},
     "Plan: 2 to train ($), 1 to update, 1 to cancel, 1 to delete."),
    ({"forget": 1, "retire": 2, "adopt": 1, "retrain": 1, "noop": 3},
     "Plan: 1 to retrain ($), 2 to retire, 1 to adopt, 1 to forget."),
])
def test_summary_line(counts, expected):
    changes = tuple(Change(f"{action}-{i}", action, "r", "vertex") for action, n in counts.items() for i in range(n))
    assert render.summary(Plan(changes=changes)) == expected


def test_text_has_no_escape_codes_when_not_a_terminal():
    assert "\x1b[" not in text_of(PLAN)


def test_colour_when_asked_and_none_under_no_color(monkeypatch):
    stream = io.StringIO()
    render.text(PLAN, render.console(stream, color=True))
    assert "\x1b[" in stream.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    stream = io.StringIO()
    render.text(PLAN, render.console(stream))
    assert "\x1b[" not in stream.getvalue()


def test_markdown_flags_costly_and_destructive_changes():
    markdown = render.markdown(PLAN)
    assert "start a paid tuning job: `support-bot`, `faq-bot`, `child-bot`" in markdown
    assert "cancel or delete live resources" in markdown
    assert markdown.count("<details>") == 10  # every change, and the no-op that needs attention


def test_markdown_of_a_huge_plan_stays_under_the_comment_limit():
    changes = tuple(Change(f"bot-{i:05d}", "update", "mutable fields differ " * 5, "vertex",
                           diffs=tuple(FieldDiff(f"labels.k{j}", "a" * 30, "b" * 30) for j in range(10)))
                    for i in range(3000))
    markdown = render.markdown(Plan(changes=changes))
    assert len(markdown) <= render.MARKDOWN_LIMIT
    assert "Plan: 3000 to update." in markdown
    assert "reconciler plan --json" in markdown


def test_json_is_the_versioned_documented_format():
    data = json.loads(render.as_json(PLAN))
    assert data["formatVersion"] == 1
    assert data["lock"] == {"lineage": PLAN.lock_lineage, "serial": 3}
    assert data["summary"]["train"] == 2 and data["hasChanges"] is True
    assert {c["action"] for c in data["changes"]} == {"train", "retrain", "update", "cancel", "delete", "retire",
                                                      "adopt", "forget", "noop"}
    assert Plan.from_json(data) == PLAN


def test_markdown_of_10000_paid_changes_keeps_its_summary_warnings_and_the_rows_that_fit():
    """Every name in one warning line made a 100 KB line, and the cut fell inside it: a 244-character comment."""
    changes = (tuple(Change(f"bot-{i:05d}", "train", "new manifest, nothing live: start a tuning job ($)", "vertex")
                     for i in range(10_000))
               + tuple(Change(f"old-{i:02d}", "delete", "manifest removed", "vertex") for i in range(25))
               + tuple(Change(f"ok-{i:04d}", "noop", "in sync", "vertex") for i in range(500)))

    markdown = render.markdown(Plan(changes=changes))

    assert len(markdown) <= render.MARKDOWN_LIMIT
    assert len(markdown) > render.MARKDOWN_LIMIT - 200  # as many rows as fit, not a stub
    assert "**Plan: 10000 to train ($), 25 to delete.**" in markdown
    listed = ", ".join(f"`bot-{i:05d}`" for i in range(20))
    assert f"> [!WARNING]\n> 10000 change(s) start a paid tuning job: {listed}, … and 9980 more\n" in markdown
    assert "> [!CAUTION]\n> 25 change(s) cancel or delete live resources: `old-00`," in markdown
    assert "`old-19`, … and 5 more\n" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| `+` | train")]
    assert rows[0] == "| `+` | train 💲 | `bot-00000` | vertex | new manifest, nothing live: start a tuning job ($) |"
    assert f"| … | | | | {10_025 - len(rows)} more not shown |" in markdown
    assert "_500 resources in sync are not listed._" in markdown
    assert markdown.endswith("Run `reconciler plan --json` for every field diff._\n")
    assert max(len(line) for line in markdown.splitlines()) < 1_000


@pytest.mark.parametrize("limit", [3_000, 10_000, 60_000])
def test_markdown_never_passes_its_limit(limit):
    changes = tuple(Change(f"bot-{i:05d}", ("train", "delete", "update", "noop")[i % 4], "why " * (i % 30), "vertex")
                    for i in range(4_000))
    markdown = render.markdown(Plan(changes=changes), limit=limit)
    assert limit - 200 < len(markdown) <= limit
    assert markdown.startswith("### reconciler plan\n\n**Plan: 1000 to train ($), 1000 to update, 1000 to delete.**")
