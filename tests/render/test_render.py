"""Golden renderings: one plan that uses every action (text, Markdown and JSON), and the PR comments of a 3-change
plan, a 30-change plan and a 1,000-model plan with 2 changes. Every rendered plan validates against the plan
JSON Schema.

Regenerate after an intended change with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render` and review
the diff.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from reconciler import render
from reconciler.plan.model import FORMAT_VERSION, Change, FieldDiff, Plan
from reconciler.plan.schema import plan_schema
from tests.render import plans
from tests.render.plans import text_of

GOLDEN = Path(__file__).parent / "golden"

PLAN = Plan(
    changes=(
        Change("support-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex", digest="d" * 64,
               spec=plans.vertex_spec("support-bot")),
        Change("faq-bot", "retrain", "immutable fields changed: hyperParameters.epochCount: start a tuning job ($)",
               "vertex", diffs=(FieldDiff("hyperParameters.epochCount", 3, 4),), targets=("jobs/1",),
               spec=plans.vertex_spec("faq-bot")),
        Change("math-bot", "update", "mutable fields differ from the live model (displayName, labels): patch in place",
               "gemini-api", diffs=(FieldDiff("displayName", "Old", "New"),
                                    FieldDiff("labels.extra", "x", None, "removed"),
                                    FieldDiff("labels.team", None, "a", "added")), targets=("tunedModels/m",)),
        Change("old-bot", "cancel", "manifest removed while tuning job jobs/2 is still training", "vertex",
               targets=("jobs/2",)),
        Change("gone-bot", "delete", "manifest removed: undeploy and delete tuning job jobs/3", "vertex",
               targets=("jobs/3",)),
        Change("faq-bot", "retire", "jobs/0 is superseded once the retrain succeeds", "vertex", targets=("jobs/0",),
               after="faq-bot", reviewed_in="0123456789abcdef"),
        Change("lost-bot", "adopt", "live tuning job jobs/4 is owned by this manifest but the lock has no record of it",
               "vertex", targets=("jobs/4",)),
        Change("kept-bot", "forget", "manifest removed (onDelete: orphan): dropped from the lock", "vertex"),
        Change("child-bot", "train", "new manifest, nothing live: start a tuning job ($)", "vertex",
               after="support-bot", spec=plans.vertex_spec("child-bot", depends_on="support-bot")),
        Change("steady-bot", "noop", "in sync", "vertex"),
        Change("broken-bot", "noop", "last job ended FAILED", "vertex",
               attention="tuning job jobs/5 ended FAILED: quota exceeded; it is retrained only by a spec change"),
    ),
    lock_lineage="00000000-0000-4000-8000-000000000000", lock_serial=3, observed_fingerprint="o" * 64,
    desired_fingerprint="p" * 64, digest_algorithm="sha256/v1", root="manifests",
    created_at="2026-11-21T09:00:00Z",
)


PLANS = {"every-action": PLAN, "3-changes": plans.three_changes(), "30-changes": plans.thirty_changes(),
         "1000-models": plans.thousand_models()}


@pytest.mark.parametrize("name, produce", [
    ("plan.txt", lambda: text_of(PLAN)),
    ("plan.md", lambda: render.markdown(PLAN)),
    ("plan.json", lambda: render.as_json(PLAN)),
    ("plan-3-changes.md", lambda: render.markdown(PLANS["3-changes"], title="a1b2c3d (production)")),
    ("plan-3-changes.txt", lambda: text_of(PLANS["3-changes"])),
    ("plan-30-changes.md", lambda: render.markdown(PLANS["30-changes"])),
    ("plan-30-changes.txt", lambda: text_of(PLANS["30-changes"])),
    ("plan-1000-models.md", lambda: render.markdown(PLANS["1000-models"], title="a1b2c3d")),
    ("plan-1000-models.txt", lambda: text_of(PLANS["1000-models"])),
    ("plan-cost.txt", lambda: text_of(plans.priced())),
    ("plan-cost.md", lambda: render.markdown(plans.priced(), title="a1b2c3d")),
    ("plan-cost.json", lambda: render.as_json(plans.priced())),
])
def test_golden(name, produce):
    path = GOLDEN / name
    actual = produce()
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


def test_the_comment_of_a_1000_model_plan_with_2_changes_is_small():
    """It was 45 KB of 998 "in sync" rows; the target is under 5 KB."""
    comment = render.markdown(PLANS["1000-models"], title="a1b2c3d")
    assert len(comment.encode()) < 5_000
    assert "**998 in sync.**" in comment and "support-bot-0001" not in comment


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


def test_the_summary_counts_the_facts_that_need_attention():
    assert render.summary(Plan(changes=(plans.FAILED,))) == "Plan: no changes. 1 fact needs attention (⚠)."
    assert render.summary(plans.three_changes()).endswith("1 to delete. 1 fact needs attention (⚠).")


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


@pytest.mark.parametrize("plan", [PLANS["3-changes"], PLANS["30-changes"]], ids=["3-changes", "30-changes"])
def test_attention_comes_first_in_every_rendering(plan):
    fact = plans.FAILED.attention
    text = text_of(plan)
    assert text.startswith(f"⚠ triage-bot: {fact}\n")
    comment = render.markdown(plan)
    assert comment.index("> - `triage-bot`: tuning job") < comment.index("> [!WARNING]") < comment.index("| action |")
    data = json.loads(render.as_json(plan))
    assert list(data).index("attention") < list(data).index("changes")  # sorted keys: first for a reader too
    assert data["attention"] == [{"name": "triage-bot", "action": "noop", "attention": fact}]


def test_text_lists_follow_ups_under_the_change_they_follow():
    text = text_of(PLANS["30-changes"])
    lines = text.splitlines()
    train = lines.index(next(line for line in lines if line.startswith("  + train   support-bot ")))
    assert lines[train + 1] == "        then: train support-bot-de once support-bot succeeds"
    assert ("        then: retire the previous version of faq-bot (tuningJobs/8000000000000000001, "
            "models/4000000000000000001@1) once the retrain succeeds") in lines
    assert not any(line.startswith(("  + train   support-bot-de", "  - retire")) for line in lines)
    assert "        reviewed in plan 3f2a9c1d0b7e4a55" in lines
    assert "        moves from acme-prod/us-central1" in lines


def test_text_counts_the_resources_in_sync_when_there_are_many():
    text = text_of(PLANS["1000-models"])
    assert "  = 998 in sync (not listed; `reconciler plan --json` lists every resource)" in text
    assert "support-bot-0001" not in text and len(text.splitlines()) < 12
    assert "= noop    faq-bot" in text_of(PLANS["3-changes"])  # a few are listed
    assert "noop" not in text_of(PLANS["3-changes"], show_noops=False).replace("noop    triage-bot", "")


def test_markdown_flags_costly_and_destructive_changes():
    markdown = render.markdown(PLAN)
    assert "> [!WARNING]\n> **3 changes start a paid tuning job:** `support-bot`, `faq-bot`, `child-bot`\n" in markdown
    assert "> [!CAUTION]\n> **3 changes cancel or delete live resources:** `old-bot`, `gone-bot`, `faq-bot`" \
        in markdown
    assert markdown.count("<details>") == 8  # each change that starts a sequence, and the list of those in sync


def test_markdown_leads_with_the_marker_title_and_summary():
    comment = render.markdown(PLANS["3-changes"], title="a1b2c3d (production)")
    assert comment.startswith("<!-- reconciler-plan: models -->\n### reconciler plan: a1b2c3d (production)\n\n"
                              "**Plan: 1 to train ($), 1 to update, 1 to delete. 1 fact needs attention (⚠).**\n")


def test_few_changes_are_shown_inline_with_their_full_spec():
    comment = render.markdown(PLANS["3-changes"])
    assert "<details><summary><code>" not in comment  # no click needed for 3 changes
    assert "#### `+` train 💲 `support-bot`" in comment
    for shown in ('baseModel: "gemini-2.5-flash"', 'dataset: "gs://acme-tuning/support-bot/train.jsonl"',
                  "epochCount: 4", 'project: "acme-prod"', 'location: "us-central1"', 'onDelete: "delete"'):
        assert shown in comment
    assert "| `-` delete | `legacy-bot` | manifest removed: undeploy and delete model models/4000000000000000003@1 |" \
        in comment  # short ids in the table; full names in the details
    assert "Acts on: `projects/acme-prod/locations/us-central1/tuningJobs/8000000000000000003`" in comment


def test_many_changes_collapse_and_follow_ups_read_as_then_lines():
    comment = render.markdown(PLANS["30-changes"])
    assert comment.count("<details><summary><code>") == 30 - 2  # the two follow-ups are inside their sections
    assert "**then: train support-bot-de once support-bot succeeds** 💲" in comment
    assert "| ↳ `+` train 💲 | `support-bot-de` |" in comment
    assert "_Reviewed in plan `3f2a9c1d0b7e4a55`._" in comment
    assert "**Moves** from `acme-prod/us-central1`" in comment


def test_markdown_of_a_huge_plan_stays_under_the_comment_limit():
    changes = tuple(Change(f"bot-{i:05d}", "update", "mutable fields differ " * 5, "vertex",
                           diffs=tuple(FieldDiff(f"labels.k{j}", "a" * 30, "b" * 30) for j in range(10)))
                    for i in range(3000))
    markdown = render.markdown(Plan(changes=changes))
    assert len(markdown) <= render.MARKDOWN_LIMIT
    assert "Plan: 3000 to update." in markdown
    assert "reconciler plan --json" in markdown


def test_truncation_drops_the_rows_in_sync_first_and_keeps_every_change_while_there_is_room():
    changes = (tuple(Change(f"bot-{i:03d}", "update", "mutable fields differ", "vertex",
                            diffs=(FieldDiff("displayName", "a" * 200, "b" * 200),)) for i in range(40))
               + tuple(Change(f"ok-{i:02d}", "noop", "in sync " + "x" * 300, "vertex") for i in range(50)))
    plan = Plan(changes=changes)
    full = render.markdown(plan, limit=10**9)
    assert "<summary>50 resources in sync</summary>" in full
    cut = render.markdown(plan, limit=len(full) - 1)
    assert "resources in sync</summary>" not in cut and "**50 in sync.**" in cut
    assert all(f"<b>bot-{i:03d}</b>" in cut for i in range(40)) and "displayName" in cut
    tighter = render.markdown(plan, limit=len(cut) - 100)
    assert "<b>bot-039</b>" not in tighter and "<b>bot-038</b>" in tighter  # the last change's details go first
    assert "_Details of 1 change(s) omitted" in tighter


def test_json_is_the_versioned_documented_format():
    data = json.loads(render.as_json(PLAN))
    assert data["formatVersion"] == FORMAT_VERSION
    assert data["lock"]["lineage"] == PLAN.lock_lineage and data["lock"]["serial"] == 3
    assert data["summary"]["train"] == 2 and data["hasChanges"] is True
    assert {c["action"] for c in data["changes"]} == {"train", "retrain", "update", "cancel", "delete", "retire",
                                                      "adopt", "forget", "noop"}
    assert data["changes"][0]["spec"]["immutable"]["baseModel"] == "gemini-2.5-flash"
    assert Plan.from_json(data) == PLAN


@pytest.mark.parametrize("plan", [*PLANS.values(), plans.hostile()], ids=[*PLANS.keys(), "hostile"])
def test_every_rendered_plan_validates_against_the_plan_schema(plan):
    jsonschema = pytest.importorskip("jsonschema")
    schema = plan_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(render.as_json(plan)))


def test_the_schema_refuses_what_a_policy_engine_must_not_see():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(plan_schema())
    data = json.loads(render.as_json(PLANS["3-changes"]))
    data["changes"][0]["spec"] = {}  # a paid change with no planned spec
    data["changes"][1]["action"] = "explode"
    errors = {tuple(e.absolute_path) for e in validator.iter_errors(data)}
    assert ("changes", 0, "spec") in errors and ("changes", 1, "action") in errors


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
    assert f"> [!WARNING]\n> **10000 changes start a paid tuning job:** {listed}, … and 9980 more\n" in markdown
    assert "> [!CAUTION]\n> **25 changes cancel or delete live resources:** `old-00`," in markdown
    assert "`old-19`, … and 5 more\n" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| `+` train")]
    assert rows[0] == "| `+` train 💲 | `bot-00000` | new manifest, nothing live: start a tuning job (\\$) |"
    assert f"| … | | {10_025 - len(rows)} more not shown |" in markdown
    assert "**500 in sync.**" in markdown
    assert markdown.endswith("Run `reconciler plan --json` for every field diff._\n")
    assert max(len(line) for line in markdown.splitlines()) < 1_000


@pytest.mark.parametrize("limit", [3_000, 10_000, 60_000])
def test_markdown_never_passes_its_limit(limit):
    changes = tuple(Change(f"bot-{i:05d}", ("train", "delete", "update", "noop")[i % 4], "why " * (i % 30), "vertex")
                    for i in range(4_000))
    markdown = render.markdown(Plan(changes=changes), limit=limit)
    assert limit - 200 < len(markdown) <= limit
    assert markdown.startswith("<!-- reconciler-plan:  -->\n### reconciler plan\n\n"
                               "**Plan: 1000 to train ($), 1000 to update, 1000 to delete.**")
