"""End to end against the strict emulator: the service adds system labels to what a tuning job creates
(`google-vertex-llm-tuning-base-model-id`, `google-vertex-llm-tuning-job-id`, `tune-type`). They are never
drift, a label edit keeps them (a labels patch replaces the whole map, so the tool sends the merged map), and a
label the manifest dropped that the tool applied is removed. And `preTunedModel.checkpointId` reaches the
create body."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from tests.testing.manifests import config, vertex_manifest

SYSTEM = ("google-vertex-llm-tuning-base-model-id", "google-vertex-llm-tuning-job-id", "tune-type")


def _only(cli, files: dict[str, str]) -> None:
    root = cli.cwd / "manifests"
    shutil.rmtree(root)
    root.mkdir()
    (root / "reconciler.yaml").write_text(config("label-project"))
    for name, text in files.items():
        (root / name).write_text(text)


def _live_model(cli, name: str) -> dict:
    lock = json.loads((cli.cwd / "manifests" / "reconciler.lock").read_text())
    model = lock["entries"][name]["current"]["model"].split("@")[0]
    response = httpx.get(f"{cli.endpoint}/v1/{model}", headers={"Authorization": "Bearer t"})
    assert response.status_code == 200, response.text
    return response.json()


def _patches(cli) -> list[dict]:
    return [r for r in cli.emulator.requests() if r["method"] == "PATCH" and "/models/" in r["path"]]


@pytest.mark.parametrize("cli", [{"job_duration": 4}], indirect=True)
def test_system_labels_are_not_drift_and_a_label_edit_keeps_them(cli):
    manifest = cli.cwd / "manifests" / "bot.yaml"
    _only(cli, {"bot.yaml": vertex_manifest("bot", labels={"team": "a", "tier": "gold"})})
    assert cli.run("apply", "manifests", "--yes", "--wait").returncode == 0
    live = _live_model(cli, "bot")["labels"]
    assert set(SYSTEM) <= set(live) and live["team"] == "a"

    plan = cli.run("plan", "manifests", "--detailed-exitcode")
    assert plan.returncode == 0 and "Plan: no changes" in plan.stdout, plan.stdout + plan.stderr

    # someone else's label, added out of band, is not drift either
    model = _live_model(cli, "bot")
    edited = httpx.post(f"{cli.endpoint}/__emulator__/resources:patch",
                        json={"name": model["name"], "labels": {**live, "owner": "alice"}})
    assert edited.status_code == 200, edited.text
    assert cli.run("plan", "manifests", "--detailed-exitcode").returncode == 0

    # a label edit: team changes, tier (applied before, dropped from the manifest) goes, the rest stays
    manifest.write_text(vertex_manifest("bot", labels={"team": "b"}))
    plan = cli.run("plan", "manifests")
    assert "labels.team" in plan.stdout and "labels.tier" in plan.stdout, plan.stdout
    assert not any(key in plan.stdout for key in (*SYSTEM, "owner")), plan.stdout
    applied = cli.run("apply", "manifests", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(_patches(cli)) == 1
    after = _live_model(cli, "bot")["labels"]
    assert after["team"] == "b" and "tier" not in after and after["owner"] == "alice"
    assert {key: after[key] for key in SYSTEM} == {key: live[key] for key in SYSTEM}
    assert after["managed-by"] == "reconciler" and after["reconciler-name"] == "bot"
    again = cli.run("plan", "manifests", "--detailed-exitcode")
    assert again.returncode == 0 and "Plan: no changes" in again.stdout, again.stdout


@pytest.mark.parametrize("cli", [{"record_bodies": True, "job_duration": 4}], indirect=True)
def test_a_pre_tuned_checkpoint_reaches_the_create_body(cli):
    dependent = vertex_manifest("follow", from_manifest="base").replace(
        "preTunedModel: {fromManifest: base}", "preTunedModel: {fromManifest: base, checkpointId: '1'}")
    _only(cli, {"base.yaml": vertex_manifest("base", epochs=2), "follow.yaml": dependent})
    assert cli.run("apply", "manifests", "--yes", "--wait").returncode == 0
    creates = [r for r in cli.emulator.requests() if r["method"] == "POST" and r["path"].endswith("/tuningJobs")]
    assert len(creates) == 2 and all(r["status"] == 200 for r in creates)
    pre = creates[1]["response"]["preTunedModel"]   # the job as the emulator accepted it from the body
    assert pre["checkpointId"] == "1" and pre["tunedModelName"].endswith("@1")
    plan = cli.run("plan", "manifests", "--detailed-exitcode")
    assert plan.returncode == 0 and "Plan: no changes" in plan.stdout, plan.stdout


@pytest.mark.parametrize("cli", [{"record_bodies": True, "job_duration": 4}], indirect=True)
def test_a_checkpoint_the_upstream_does_not_have_is_refused_by_the_api(cli):
    dependent = vertex_manifest("follow", from_manifest="base").replace(
        "preTunedModel: {fromManifest: base}", "preTunedModel: {fromManifest: base, checkpointId: '7'}")
    _only(cli, {"base.yaml": vertex_manifest("base", epochs=2), "follow.yaml": dependent})
    applied = cli.run("apply", "manifests", "--yes", "--wait")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Checkpoint '7' does not exist" in applied.stdout + applied.stderr
