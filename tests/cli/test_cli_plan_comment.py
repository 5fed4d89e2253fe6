"""`plan --markdown` as a pull request sees it: a sticky-comment marker, an optional title, the full planned spec of
each paid change, a comment (and exit 1) when the manifests are invalid; and `plan --json` as a policy engine sees
it: valid against `reconciler schema --plan`."""

from __future__ import annotations

import json

import pytest


def test_the_comment_has_a_marker_a_title_and_the_planned_spec(cli):
    result = cli.run("plan", "manifests", "--markdown", "--title", "a1b2c3d (staging)")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("<!-- reconciler-plan: ") and lines[0].endswith(" -->")
    assert lines[1] == "### reconciler plan: a1b2c3d (staging)"
    assert "**Plan: 5 to train ($).**" in result.stdout
    assert 'baseModel: "gemini-2.5-flash"' in result.stdout  # the full planned spec of a paid change
    assert "then: train support-bot-continued once support-bot succeeds" in result.stdout


def test_the_plan_json_validates_against_the_published_schema(cli):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(cli.run("schema", "--plan", endpoint=False).stdout)
    plan = json.loads(cli.run("plan", "manifests", "--json").stdout)
    jsonschema.Draft202012Validator(schema).validate(plan)
    trains = [c for c in plan["changes"] if c["action"] == "train"]
    assert trains and all(c["spec"]["immutable"] and c["spec"]["policy"] for c in trains)
    assert any(c["spec"]["immutable"].get("baseModel") == "gemini-2.5-flash" for c in trains)


def test_invalid_manifests_give_a_comment_with_the_located_errors_and_exit_1(cli):
    (cli.cwd / "manifests" / "vertex" / "broken.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: TunedModel\nmetadata:\n  name: broken-bot\nspec:\n  platform: vertex\n"
        "  baseModel: gemini-2.5-flash\n  epoch: 3\n  training:\n    dataset: gs://acme-tuning/t.jsonl\n", encoding="utf-8")
    result = cli.run("plan", "manifests", "--markdown", "--title", "a1b2c3d")
    assert result.returncode == 1
    assert result.stdout.startswith("<!-- reconciler-plan: manifests -->\n### reconciler plan: a1b2c3d\n")
    assert "**The manifests are invalid: 1 error" in result.stdout
    assert "| error | `manifests/vertex/broken.yaml:8:3` | " in result.stdout
    assert "broken.yaml:8:3" in result.stderr  # the log still says it
