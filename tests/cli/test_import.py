"""`reconciler import NAME RESOURCE` through the real CLI against the emulator: resources made by hand (no
reconciler, no ownership labels) brought under a manifest, compared first, refused with nothing changed when
they cannot be, and planned as in sync (or as the update or retrain an accepted difference asks for)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import ownership
from tests.testing import handmade
from tests.testing.emulators import running
from tests.testing.handmade import Root


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    with running(job_duration=30) as emulator:
        yield handmade.root(tmp_path / "manifests", emulator)


def _vertex_job(root: Root, name: str = "bot", **options) -> str:
    job = handmade.vertex_job(root.emulator, name, **options)
    root.emulator.advance(100)
    return job


def _model_of(root: Root, job: str) -> str:
    return handmade.get(root.emulator, job)["tunedModel"]["model"]


# ------------------------------------------------------------------------------------------- imports that work


@pytest.mark.parametrize("kind", ["vertex-job", "vertex-model", "vertex-running-job", "gemini"])
def test_an_import_without_differences_plans_in_sync_and_trains_nothing(root, kind):
    if kind == "gemini":
        root.gemini("bot")
        resource = key = handmade.gemini_model(root.emulator, "hand-made-tune", "bot")
        root.emulator.advance(100)
    else:
        root.vertex("bot")
        key = handmade.vertex_job(root.emulator, "bot")
        root.emulator.advance(0 if kind == "vertex-running-job" else 100)
        resource = _model_of(root, key) if kind == "vertex-model" else key
    creates = root.creates()

    imported = root.run("import", "bot", resource)
    assert imported.code == 0, imported
    assert "Imported" in imported.out

    entry = root.lock()["entries"]["bot"]
    assert entry["current"]["owner"] == "bot"
    assert entry["imported"]["key"] == (entry["current"]["job"] or entry["current"]["model"]) == key
    assert entry["imported"]["accepted"] == []
    plan = root.run("plan", ".", "--detailed-exitcode")
    assert plan.code == 0, plan
    assert "Plan: no changes" in plan.out
    if kind == "vertex-running-job":
        assert "bot  training" in plan.out or "bot  queued" in plan.out, plan
        root.emulator.advance(100)
        after = root.run("plan", ".", "--detailed-exitcode")
        assert after.code == 0 and "Plan: no changes" in after.out, after
    assert root.creates() == creates  # nothing was trained


def test_a_vertex_model_gets_ownership_labels_and_the_job_stays_as_it_was(root):
    root.vertex("bot")
    job = _vertex_job(root)
    assert root.run("import", "bot", job).code == 0
    labels = handmade.get(root.emulator, _model_of(root, job).split("@")[0])["labels"]
    digest = root.lock()["entries"]["bot"]["digest"]
    assert labels["team"] == "rel"
    assert {k: labels[k] for k in (ownership.MANAGED_BY, ownership.NAME_LABEL, ownership.DIGEST_LABEL)} == {
        ownership.MANAGED_BY: ownership.MANAGER, ownership.NAME_LABEL: "bot",
        ownership.DIGEST_LABEL: digest[:ownership.SHORT_DIGEST]}
    assert handmade.get(root.emulator, job)["labels"] == {"team": "rel"}  # a tuning job cannot be patched


def test_a_gemini_import_lists_what_the_api_cannot_compare(root):
    root.gemini("bot")
    model = handmade.gemini_model(root.emulator, "hand-made-tune", "bot")
    result = root.run("import", "bot", model)
    assert result.code == 0, result
    assert "not comparable: training:" in result.out
    assert "No ownership labels were added" in result.out
    assert [r for r in root.mutations() if r["method"] == "PATCH"] == []


# ------------------------------------------------------------------------------------------- differences


@pytest.mark.parametrize(("kind", "edit", "field", "action"), [
    ("vertex", {"display": "Another name"}, "displayName", "update"),
    ("vertex", {"labels": {"team": "other"}}, "labels.team", "update"),
    ("vertex", {"epochs": 3}, "hyperParameters.epochCount (immutable)", "retrain"),
    ("gemini", {"display": "another"}, "displayName", "update"),
    ("gemini", {"epochs": 4}, "hyperParameters.epochCount (immutable)", "retrain"),
], ids=["vertex-display-name", "vertex-label", "vertex-epochs", "gemini-display-name", "gemini-epochs"])
def test_a_differing_import_is_refused_then_accepted_and_planned(root, kind, edit, field, action):
    if kind == "vertex":
        root.vertex("bot", **edit)
        resource = _vertex_job(root)
    else:
        root.gemini("bot", **edit)
        resource = handmade.gemini_model(root.emulator, "hand-made-tune", "bot")
        root.emulator.advance(100)
    before = len(root.mutations())

    refused = root.run("import", "bot", resource)
    assert refused.code == 1, refused
    assert field in refused.out and "--accept-diff" in refused.err
    assert root.lock() is None and len(root.mutations()) == before  # nothing recorded, nothing labelled

    accepted = root.run("import", "bot", resource, "--accept-diff")
    assert accepted.code == 0, accepted
    assert root.lock()["entries"]["bot"]["imported"]["accepted"] == [field.removesuffix(" (immutable)")]
    plan = root.run("plan", ".", "--detailed-exitcode")
    assert plan.code == 2, plan
    assert f" {action} " in plan.out and "bot" in plan.out
    assert "adopt" not in plan.out


# ------------------------------------------------------------------------------------------- refusals


def _refusal(root: Root, case: str) -> tuple[str, str, str]:
    """(name, resource, what the error says) for one refusal; the manifests and resources it needs are made."""
    root.vertex("bot")
    root.gemini("gem")
    if case == "no-manifest":
        return "nope", _vertex_job(root), "nope: no manifest of that name"
    if case == "another-platform":
        return "bot", handmade.gemini_model(root.emulator, "hand-made-tune", "gem"), "is a gemini-api resource"
    if case == "another-location":
        return "bot", _vertex_job(root, location="europe-west4"), "lies in project"
    if case == "another-manifest":
        labels = {ownership.MANAGED_BY: ownership.MANAGER, ownership.NAME_LABEL: "other", "team": "rel"}
        return "bot", _vertex_job(root, labels=labels), "marked as manifest other's"
    if case == "gemini-id-of-another-manifest":
        model = handmade.gemini_model(root.emulator, "other-0badcafe", "gem")
        return "gem", model, "marked as manifest other's"
    if case == "another-stack":
        labels = {ownership.MANAGED_BY: ownership.MANAGER, ownership.NAME_LABEL: "bot",
                  ownership.STACK_LABEL: "someone-else", "team": "rel"}
        return "bot", _vertex_job(root, labels=labels), "belongs to another stack"
    if case == "missing":
        return "bot", f"projects/{handmade.PROJECT}/locations/{handmade.LOCATION}/tuningJobs/123", "no such tuning job"
    if case == "missing-gemini":
        return "gem", "tunedModels/nothing-here", "no such tuned model"
    if case == "cancelled":
        job = handmade.vertex_job(root.emulator, "bot")
        handmade.cancel(root.emulator, job)
        root.emulator.advance(100)
        return "bot", job, "ended CANCELLED"
    if case == "not-a-name":
        return "bot", "models/gemini-2.5-flash", "not a resource name that can be imported"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no-manifest", "another-platform", "another-location", "another-manifest",
                                  "gemini-id-of-another-manifest", "another-stack", "missing", "missing-gemini",
                                  "cancelled", "not-a-name"])
def test_refusals_say_why_and_change_nothing(root, case):
    name, resource, message = _refusal(root, case)
    before = len(root.mutations())
    result = root.run("import", name, resource, "--accept-diff")
    assert result.code == 1, result
    assert message in result.err, result
    assert "Traceback" not in result.err
    assert root.lock() is None
    assert len(root.mutations()) == before


def test_a_name_with_a_current_generation_must_be_removed_from_state_first(root):
    root.vertex("bot")
    first, second = _vertex_job(root), _vertex_job(root)
    assert root.run("import", "bot", first).code == 0
    lock = root.lock()
    again = root.run("import", "bot", second)
    assert again.code == 1 and "reconciler state rm bot" in again.err, again
    assert root.lock() == lock
    assert root.run("state", "rm", "bot").code == 0
    assert root.run("import", "bot", second).code == 0
    assert root.lock()["entries"]["bot"]["current"]["job"] == second


def test_a_resource_recorded_under_another_name_is_refused(root):
    root.vertex("bot")
    root.vertex("twin", dataset=handmade.DATASET)
    job = _vertex_job(root)
    assert root.run("import", "bot", job).code == 0
    other = root.run("import", "twin", job)
    assert other.code == 1 and "already recorded in state under bot" in other.err, other
