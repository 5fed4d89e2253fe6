"""`reconciler state list | show | rm` through the real CLI: read without credentials, and `rm` forgets an
entry under the run lock, touching nothing live; the released resource is foreign from then on (never adopted
by its ownership labels again, never deleted) until `reconciler import` takes it back."""

from __future__ import annotations

import json
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


def _applied(root: Root) -> dict:
    """`bot` (Vertex) and `gem` (Gemini API) trained by the reconciler itself and succeeded; the lock's entries
    (as apply recorded them: in flight, since only apply writes the lock)."""
    root.vertex("bot")
    root.gemini("gem")
    assert root.run("apply", ".", "--yes").code == 0
    root.emulator.advance(100)
    assert root.run("plan", ".", "--detailed-exitcode").code == 0
    return root.lock()["entries"]


def _model(root: Root, key: str) -> str:
    return key if key.startswith("tunedModels/") else handmade.get(root.emulator, key)["tunedModel"]["model"]


def test_list_and_show_read_the_state_without_credentials(root):
    entries = _applied(root)
    listing = root.run_offline("state", "list")
    assert listing.code == 0, listing
    header, *rows = listing.out.splitlines()
    assert header.split() == ["name", "platform", "resource", "phase", "digest"]
    assert [row.split()[:4] for row in rows] == [
        ["bot", "vertex", entries["bot"]["current"]["job"], entries["bot"]["current"]["phase"]],
        ["gem", "gemini-api", entries["gem"]["current"]["model"], entries["gem"]["current"]["phase"]]]
    as_json = json.loads(root.run_offline("state", "list", "--json").out)
    assert as_json == {"released": {}, "entries": [
        {"name": name, "platform": entries[name]["platform"], "phase": entries[name]["current"]["phase"],
         "imported": False,
         "resource": entries[name]["current"]["job"] or entries[name]["current"]["model"],
         "digest": entries[name]["digest"][:12]} for name in ("bot", "gem")]}

    shown = root.run_offline("state", "show", "bot", "--json")
    assert shown.code == 0, shown
    assert json.loads(shown.out) == {"name": "bot", **entries["bot"]}
    text = root.run_offline("state", "show", "bot")
    assert text.out.startswith("bot\n") and f"job: {entries['bot']['current']['job']}" in text.out
    assert "immutable:" in text.out and "epochCount: 2" in text.out


@pytest.mark.parametrize("command", [("show", "nope"), ("rm", "nope")])
def test_an_unknown_name_is_a_user_error(root, command):
    _applied(root)
    lock = root.lock()
    result = root.run_offline("state", *command)
    assert result.code == 1 and "nope: no entry of that name in state (entries: bot, gem)" in result.err, result
    assert root.lock() == lock


def test_an_empty_state_lists_nothing(root):
    root.vertex("bot")
    result = root.run_offline("state", "list")
    assert result.code == 0 and "no entries" in result.out, result


@pytest.mark.parametrize("name", ["bot", "gem"])
def test_rm_makes_the_resource_foreign_and_leaves_it_alone(root, name):
    entries = _applied(root)
    key = entries[name]["current"]["job"] or entries[name]["current"]["model"]
    model = _model(root, key)
    live_before = handmade.get(root.emulator, model)
    before = len(root.mutations())

    removed = root.run_offline("state", "rm", name)
    assert removed.code == 0, removed
    assert f"released {key}" in removed.out
    lock = root.lock()
    assert name not in lock["entries"] and lock["released"] == {key: name}
    listing = root.run_offline("state", "list")
    assert key in listing.out and f"(was {name})" in listing.out

    plan = root.run("plan", ".", "--json")
    assert plan.code == 0, plan
    changes = [c for c in json.loads(plan.out)["changes"] if c["name"] == name]
    assert [c["action"] for c in changes] == ["train"]  # the manifest still wants one: not the released one
    assert all(key not in c["targets"] for c in changes)

    (root.path / f"{name}.yaml").unlink()  # nor is it deleted once nobody wants it
    gone = root.run("plan", ".", "--detailed-exitcode")
    assert gone.code == 0 and "Plan: no changes" in gone.out, gone
    assert root.run("apply", ".", "--yes").code == 0
    assert len(root.mutations()) == before
    assert handmade.get(root.emulator, model) == live_before


def test_an_import_takes_a_released_resource_back(root):
    entries = _applied(root)
    job = entries["bot"]["current"]["job"]
    assert root.run_offline("state", "rm", "bot").code == 0
    imported = root.run("import", "bot", job)
    assert imported.code == 0, imported
    lock = root.lock()
    assert lock.get("released", {}) == {} and lock["entries"]["bot"]["current"]["job"] == job
    labels = handmade.get(root.emulator, _model(root, job).split("@")[0])["labels"]
    assert labels[ownership.NAME_LABEL] == "bot"
    plan = root.run("plan", ".", "--detailed-exitcode")
    assert plan.code == 0 and "Plan: no changes" in plan.out, plan


def test_push_moves_the_local_lock_into_the_bucket_and_pull_brings_it_back(root):
    entries = _applied(root)
    lineage = root.lock()["lineage"]
    refused = root.run("state", "push")
    assert refused.code == 1 and "state.backend is local" in refused.err
    config = root.path / "reconciler.yaml"
    config.write_text(config.read_text() + "state: {backend: gcs, bucket: moved-state, prefix: team}\n")
    import httpx
    httpx.post(f"{root.emulator.base_url}/storage/v1/b", params={"project": "p"}, json={"name": "moved-state"},
               headers={"Authorization": "Bearer t"}).raise_for_status()

    pushed = root.run("state", "push")
    assert pushed.code == 0, pushed
    assert "gs://moved-state/team/default/reconciler.lock" in pushed.out and "git rm" in pushed.out
    (root.path / "reconciler.lock").unlink()
    planned = root.run("plan", ".", "--detailed-exitcode")  # read from the bucket: in sync, nothing adopted
    assert planned.code == 0, planned
    again = root.run("state", "pull")
    assert again.code == 0, again
    assert root.lock()["lineage"] == lineage and root.lock()["entries"] == entries
    clash = root.run("state", "pull")  # the file now holds that state: a rerun is a no-op, never an overwrite
    assert clash.code == 0 and root.lock()["lineage"] == lineage
