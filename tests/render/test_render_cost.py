"""Cost estimates in every rendering: each paid change's line (text and Markdown), the total under the summary,
the JSON against the plan schema, and `status` beside the billable tokens a finished job reported."""

from __future__ import annotations

import json
from dataclasses import replace

import jsonschema
import pytest
from markdown_it import MarkdownIt

from reconciler import render
from reconciler.cost import Estimate
from reconciler.observed import Generation
from reconciler.plan.model import Plan
from reconciler.plan.schema import plan_schema
from reconciler.render import status
from reconciler.state.model import AppliedSpec, LockEntry
from tests.render import plans
from tests.render.plans import ASSUMED, KNOWN, NOT_READ, priced, text_of

TOTAL = "Estimated cost: ≈ $42.00 for 4 paid changes (1 unknown: data not read)"
HOSTILE_MODEL = "gemini-<script>alert(1)</script> @octocat `x` $5$ \x1b[31mred\x1b[0m"


def test_text_shows_each_estimate_under_its_change_and_the_total_under_the_summary():
    lines = text_of(priced()).splitlines()
    assert lines[-2].startswith("Plan: 3 to train ($), 1 to retrain ($), 1 to update, 1 to delete.")
    assert lines[-1] == TOTAL
    at = {line.strip(): i for i, line in enumerate(lines)}
    assert "≈ 1.2 M tokens × 3 epochs ≈ $18.00" in at and "cost unknown: data not read" in at
    assert "≈ 480 k tokens × 10 epochs (assumed) ≈ $24.00" in at
    assert "≈ 12.2 k tokens × 2 epochs: $0.00 (free)" in at


def test_markdown_shows_the_total_in_the_head_and_each_estimate_in_the_details_and_the_table():
    text = render.markdown(priced())
    head = text.split("| action |")[0]
    assert TOTAL.replace("$", "\\$") in head  # escaped: GitHub reads $…$ as math
    assert "**Estimated cost:** ≈ 1.2 M tokens × 3 epochs ≈ \\$18.00" in text
    assert "**Cost unknown:** data not read" in text
    assert "| `+` train 💲 ≈ \\$18.00 | `support-bot` |" in text
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "≈ $42.00 for 4 paid changes" in rendered


def test_without_estimates_nothing_about_cost_is_shown():
    plan = plans.three_changes()
    assert "Estimated cost" not in text_of(plan) and "Estimated cost" not in render.markdown(plan)


def test_a_paid_change_without_an_estimate_counts_as_unknown_in_the_total():
    plan = priced()
    plan = replace(plan, changes=(replace(plan.changes[0], estimate={}),) + plan.changes[1:])
    assert text_of(plan).splitlines()[-1] == ("Estimated cost: ≈ $24.00 for 4 paid changes (2 unknown: not "
                                              "estimated; data not read)")


def test_a_base_model_named_in_an_estimate_is_inert_everywhere():
    why = Estimate(1_000, 1, None, None, f"no price for base model {HOSTILE_MODEL!r}")
    plan = replace(priced(), changes=(replace(priced().changes[0], estimate=why.to_json()),))
    text = text_of(plan)
    assert "\x1b" not in text and "cost unknown: no price for base model" in text
    comment = render.markdown(plan)
    rendered = MarkdownIt("commonmark").enable("table").render(comment)
    assert "<script>" not in rendered and "<code>x</code>" not in rendered and "@octocat" not in comment
    jsonschema.Draft202012Validator(plan_schema()).validate(json.loads(render.as_json(plan)))


def test_the_json_plan_carries_the_total_the_summary_shows():
    document = json.loads(render.as_json(priced()))
    assert document["estimatedCost"] == {"usd": 42.0, "unknown": 1, "paidChanges": 4}
    validator().validate(document)
    assert "estimatedCost" not in json.loads(render.as_json(replace(priced(), changes=())))
    # a paid change nobody priced is unknown there too, as in the text's last line (the test above)
    plan = replace(priced(), changes=(replace(priced().changes[0], estimate={}),) + priced().changes[1:])
    assert json.loads(render.as_json(plan))["estimatedCost"] == {"usd": 24.0, "unknown": 2, "paidChanges": 4}


# --- the plan schema -------------------------------------------------------------------------------------

def validator():
    schema = plan_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_a_plan_with_estimates_validates_and_round_trips():
    document = json.loads(render.as_json(priced()))
    validator().validate(document)
    assert document["changes"][0]["estimate"] == {"tokens": 1_200_000, "epochs": 3, "usd": 18.0, "price": 5.0,
                                                  "unknown": "", "epochs_assumed": False}
    assert Plan.from_json(document) == priced()


@pytest.mark.parametrize("index, estimate, path", [
    (5, KNOWN.to_json(), ("changes", 5, "estimate")),                      # a delete costs nothing to estimate
    (0, {**KNOWN.to_json(), "usd": None}, ("changes", 0, "estimate", "unknown")),  # no figure without a reason
    (0, {**KNOWN.to_json(), "usd": -1}, ("changes", 0, "estimate", "usd")),
    (0, {**KNOWN.to_json(), "dollars": 18}, ("changes", 0, "estimate")),
])
def test_the_schema_refuses_a_malformed_estimate(index, estimate, path):
    document = json.loads(render.as_json(priced()))
    document["changes"][index]["estimate"] = estimate
    assert path in {tuple(e.absolute_path) for e in validator().iter_errors(document)}


# --- status ------------------------------------------------------------------------------------------------

def vertex(phase: str, tokens: int | None = None) -> Generation:
    stats = {"examples": 4_000, "tokens": tokens} if tokens is not None else {}
    return Generation(platform="vertex", owner="support-bot", digest="d", phase=phase,
                      job=plans.job(9), data_stats=stats)


NOW = {"support-bot": vertex("succeeded", 3_400_000), "faq-bot": vertex("running", 4_800_000),
       "math-bot": None}
RECORDED = {"support-bot": KNOWN.to_json(), "faq-bot": ASSUMED.to_json()}


@pytest.mark.parametrize("estimate, generation, expected", [
    (KNOWN.to_json(), vertex("succeeded", 3_400_000),
     "est. ≈ $18.00 (≈ 3.6 M tokens) · reported: 3.4 M tokens billable"),
    (KNOWN.to_json(), vertex("running", 3_400_000), "est. ≈ $18.00 (≈ 3.6 M tokens)"),  # not ended: not final
    (KNOWN.to_json(), vertex("failed"), "est. ≈ $18.00 (≈ 3.6 M tokens)"),
    (NOT_READ.to_json(), vertex("succeeded", 950), "cost unknown: data not read · reported: 950 tokens billable"),
    ({}, vertex("succeeded", 12_345), "reported: 12.3 k tokens billable"),
    ({}, None, ""),
])
def test_status_cost_text(estimate, generation, expected):
    assert status.cost_text(estimate, generation) == expected


def test_status_markdown_has_a_cost_column_only_when_the_lock_recorded_estimates():
    assert "| cost |" not in status.markdown(NOW)
    text = status.markdown(NOW, estimates=RECORDED)
    assert "| model | state | progress | elapsed | loss | data | cost | resource |" in text
    assert "est. ≈ \\$18.00 (≈ 3.6 M tokens) · reported: 3.4 M tokens billable" in text
    rows = [line for line in text.splitlines() if line.startswith("| **")]
    assert all(row.count(" | ") == 7 for row in rows)


def test_status_json_carries_the_recorded_estimate():
    document = json.loads(status.as_json(NOW, estimates=RECORDED))
    jsonschema.validate(document, status.SCHEMA)
    by_name = {job["name"]: job for job in document["jobs"]}
    assert by_name["support-bot"]["estimate"] == KNOWN.to_json()
    assert by_name["support-bot"]["dataStats"]["tokens"] == 3_400_000
    assert "estimate" not in by_name["math-bot"]
    assert all("estimate" not in job for job in json.loads(status.as_json(NOW))["jobs"])


def test_estimates_are_read_from_the_lock_entries_that_recorded_one():
    def entry(name: str, estimate: dict) -> LockEntry:
        return LockEntry(name=name, platform="vertex", project="p", location="l", digest="d", spec=AppliedSpec(),
                         current=None, estimate=estimate)

    assert status.estimates_from({"a": entry("a", KNOWN.to_json()), "b": entry("b", {})}) == {"a": KNOWN.to_json()}
