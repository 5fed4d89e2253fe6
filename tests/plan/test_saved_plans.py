"""Saved plans are recognised by content, whatever their name or size; anything else is left to the loader."""

from __future__ import annotations

import json

import pytest

from reconciler.errors import UserError
from reconciler.plan.model import Change, Deferred, Plan
from reconciler.render import as_json
from reconciler.plan.planfile import load as saved_plan

LARGE = Plan(changes=tuple(Change(f"bot-{i:04d}", "train", "new manifest " * 10, "vertex") for i in range(200)),
             root="/repo/manifests")


@pytest.mark.parametrize("name", ["tfplan.json", "review.out", "plan"])
def test_a_large_saved_plan_is_found_under_any_name(tmp_path, name):
    path = tmp_path / name
    path.write_text(as_json(LARGE))
    assert path.read_text().index('"formatVersion"') > 4096  # sorted keys put it after the changes
    assert saved_plan(str(path)) == LARGE


@pytest.mark.parametrize("text", ["{apiVersion: reconciler/v1, kind: TunedModel}\n", "apiVersion: reconciler/v1\n",
                                  '{"kind": "TunedModel"}', "[1, 2]"])
def test_manifests_and_other_json_are_not_plans(tmp_path, text):
    path = tmp_path / "bot.yaml"
    path.write_text(text)
    assert saved_plan(str(path)) is None


def test_a_directory_is_not_a_plan(tmp_path):
    assert saved_plan(str(tmp_path)) is None


def test_a_plan_from_another_format_is_refused_clearly(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"formatVersion": 99, "changes": []}))
    with pytest.raises(UserError, match="not a saved plan this reconciler can apply"):
        saved_plan(str(path))


def test_a_plans_fingerprints_are_worked_out_when_first_read_and_once():
    calls: list[str] = []

    def fingerprint(text: str):
        return lambda: calls.append(text) or text * 64

    plan = Plan(changes=(), observed_fingerprint=Deferred(fingerprint("o")),
                desired_fingerprint=Deferred(fingerprint("d")))
    assert not plan.has_changes and calls == []  # showing a plan reads neither
    saved = json.loads(as_json(plan))
    assert (saved["observedFingerprint"], saved["desiredFingerprint"]) == ("o" * 64, "d" * 64)
    assert plan.id == saved["id"] and sorted(calls) == ["d", "o"]  # the id reads them again: worked out once
    assert Plan.from_json(saved) == plan and plan == Plan.from_json(saved)  # equal to the text it stands for
