"""Plans a reviewer and a pipeline can trust, through the real CLI against the emulator: saved plans bound to
content (tampered, other state, unrelated applies), reviewed follow-ups finished by `apply --wait PLANFILE` and by
later applies, drift signals for a scheduled check, and `apply --refresh-only`."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from tests.testing import cli as reconciler_cli

LONG_JOBS = pytest.mark.parametrize("cli", [{"job_duration": 3600}], ids=["hour-long-jobs"], indirect=True)
SHORT_JOBS = pytest.mark.parametrize("cli", [{"job_duration": 4}], ids=["4-second-jobs"], indirect=True)  # --wait


def creates(cli) -> int:
    return sum(1 for r in cli.emulator.requests()
               if r["method"] == "POST" and r["path"].endswith(("/tuningJobs", "/tunedModels")))


def deletes(cli) -> list[str]:
    return [r["path"] for r in cli.emulator.requests() if r["method"] == "DELETE"]


def admin(cli, route: str, body: dict) -> None:
    response = httpx.post(f"{cli.endpoint}/__emulator__/{route}", json=body)
    assert response.status_code == 200, response.text


def lock(cli) -> dict:
    return json.loads((cli.cwd / "manifests" / "reconciler.lock").read_text())


def only(cli, *keep: str) -> None:
    """Keep the example manifests named (paths under manifests/), remove the others."""
    root = cli.cwd / "manifests"
    for path in sorted(root.rglob("*.yaml")):
        relative = path.relative_to(root).as_posix()
        if relative != "reconciler.yaml" and relative not in keep:
            path.unlink()


def edit(cli, manifest: str, old: str, new: str) -> None:
    path = cli.cwd / "manifests" / manifest
    text = path.read_text()
    assert text.count(old) == 1, f"the example {manifest} changed: edit another field"
    path.write_text(text.replace(old, new))


# --------------------------------------------------------------------------------------------- bound to content


def test_a_tampered_saved_plan_is_refused_and_starts_nothing(cli):
    only(cli, "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(3600)
    assert cli.run("plan", "manifests", "--out", "plan.json").returncode == 0
    data = json.loads((cli.cwd / "plan.json").read_text())
    row = next(c for c in data["changes"] if c["name"] == "support-bot")
    assert row["action"] == "noop"
    row.update(action="retrain", symbol="-/+", costly=True)  # a paid job nobody reviewed
    (cli.cwd / "plan.json").write_text(json.dumps(data))
    before = creates(cli)
    result = cli.run("apply", "plan.json")
    assert result.returncode == 1 and "edited after `reconciler plan` wrote it" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert creates(cli) == before


def test_a_plan_made_against_another_branchs_state_is_refused_with_nothing_deleted(cli):
    only(cli, "gemini/math-bot.yaml", "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(3600)
    assert cli.run("apply", "manifests", "--yes").returncode == 0  # record the finished jobs
    branch_b_lock = lock(cli)
    # branch a removes math-bot and plans its deletion
    (cli.cwd / "manifests" / "gemini" / "math-bot.yaml").unlink()
    planned = cli.run("plan", "manifests", "--out", "a.plan.json")
    assert "delete" in planned.stdout, planned.stdout
    # branch b's lock: same lineage and serial, other entries (it never recorded math-bot)
    del branch_b_lock["entries"]["math-bot"]
    (cli.cwd / "manifests" / "reconciler.lock").write_text(json.dumps(branch_b_lock, indent=2, sort_keys=True))
    result = cli.run("apply", "a.plan.json")
    assert result.returncode == 1 and "other state" in result.stderr, result.stdout + result.stderr
    assert deletes(cli) == []


@LONG_JOBS
def test_a_saved_plan_survives_an_unrelated_apply_and_leaves_unreviewed_changes_alone(cli):
    only(cli, "gemini/math-bot.yaml", "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    edit(cli, "vertex/support-bot.yaml", "baseModel: gemini-2.5-flash", "baseModel: gemini-2.5-pro")  # PR 3's change, reviewed
    assert cli.run("plan", "manifests", "--out", "pr3.json", "--target", "support-bot").returncode == 0
    edit(cli, "gemini/math-bot.yaml", "epochCount: 2", "epochCount: 3")  # PR 2, merged and applied first
    assert cli.run("apply", "manifests", "--yes", "--target", "math-bot").returncode == 0
    before = creates(cli)
    applied = cli.run("apply", "pr3.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert creates(cli) == before + 1  # support-bot's retrain, and nothing else


# --------------------------------------------------------------------------------------------- follow-ups


@SHORT_JOBS
def test_apply_wait_of_a_reviewed_plan_finishes_the_whole_sequence(cli):
    only(cli, "vertex/support-bot.yaml", "vertex/support-bot-continued.yaml")
    planned = cli.run("plan", "manifests", "--out", "p1.json")
    assert "support-bot-continued" in planned.stdout
    first = cli.run("apply", "p1.json", "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    assert creates(cli) == 2 and "deferred" not in first.stdout
    edit(cli, "vertex/support-bot.yaml", "baseModel: gemini-2.5-flash", "baseModel: gemini-2.5-pro")
    retrain = cli.run("plan", "manifests", "--out", "p2.json", "--target", "support-bot")
    assert "then: retire" in retrain.stdout, retrain.stdout
    second = cli.run("apply", "p2.json", "--wait")
    assert second.returncode == 0, second.stdout + second.stderr
    assert any("/models/" in path for path in deletes(cli)), "the superseded model was retired"
    settled = cli.run("plan", "manifests", "--target", "support-bot", "--detailed-exitcode")
    assert settled.returncode == 0, settled.stdout


@LONG_JOBS
def test_a_later_apply_finishes_reviewed_follow_ups_and_nothing_else(cli):
    only(cli, "vertex/support-bot.yaml", "vertex/support-bot-continued.yaml")
    assert cli.run("plan", "manifests", "--out", "p1.json").returncode == 0
    first = cli.run("apply", "p1.json")
    assert first.returncode == 0 and "deferred" in first.stdout, first.stdout + first.stderr
    plan_id = json.loads((cli.cwd / "p1.json").read_text())["id"]
    assert [a["name"] for a in lock(cli)["authorized"]] == ["support-bot-continued"]
    cli.emulator.advance(3600)
    shown = cli.run("plan", "manifests")
    assert f"reviewed in plan {plan_id}" in shown.stdout, shown.stdout
    edit(cli, "vertex/support-bot.yaml", "displayName: Support bot", "displayName: Unreviewed")
    finished = cli.run("apply", "manifests", "--reviewed-only")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert creates(cli) == 2  # the reviewed dependent only
    assert not [r for r in cli.emulator.requests() if r["method"] == "PATCH"], "the unreviewed edit was left alone"
    assert "authorized" not in lock(cli)
    assert "~ update" in cli.run("plan", "manifests").stdout


# --------------------------------------------------------------------------------------------- drift


@SHORT_JOBS
def test_a_model_deleted_out_of_band_is_drift_for_a_scheduled_check(cli):
    only(cli, "gemini/math-bot.yaml", "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes", "--wait").returncode == 0
    assert cli.run("plan", "manifests", "--detailed-exitcode").returncode == 0
    model = lock(cli)["entries"]["support-bot"]["current"]["model"]
    admin(cli, "resources:delete", {"name": model.split("@")[0]})
    for style in ((), ("--json",), ("--markdown",)):
        drift = cli.run("plan", "manifests", "--detailed-exitcode", *style)
        assert drift.returncode == 2, (style, drift.stdout + drift.stderr)
        assert "deleted out of band" in drift.stdout
    text = cli.run("plan", "manifests").stdout
    assert text.startswith("⚠ support-bot:") and "deleted out of band" in text.splitlines()[0], text  # facts first
    markdown = cli.run("plan", "manifests", "--markdown").stdout
    assert markdown.index("deleted out of band") < markdown.index("| action |"), markdown
    data = json.loads(cli.run("plan", "manifests", "--json").stdout)
    assert [a["name"] for a in data["attention"]] == ["support-bot"]
    status = cli.run("status", "manifests")
    assert status.returncode == 1, status.stdout


def test_a_job_failed_out_of_band_is_drift(cli):
    only(cli, "vertex/support-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    job = lock(cli)["entries"]["support-bot"]["current"]["job"]
    admin(cli, "resources:fail", {"name": job, "message": "quota exceeded"})
    drift = cli.run("plan", "manifests", "--detailed-exitcode")
    assert drift.returncode == 2 and "FAILED" in drift.stdout, drift.stdout


def test_refresh_only_records_what_is_live_and_changes_nothing(cli):
    only(cli, "vertex/support-bot.yaml", "gemini/math-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    assert lock(cli)["entries"]["support-bot"]["current"]["phase"] != "succeeded"
    cli.emulator.advance(3600)
    mutations_before = len(cli.mutations())
    refreshed = cli.run("apply", "manifests", "--refresh-only")
    assert refreshed.returncode == 0 and "recorded what is live for 2 entries" in refreshed.stdout, refreshed.stdout
    assert len(cli.mutations()) == mutations_before
    entry = lock(cli)["entries"]["support-bot"]["current"]
    assert entry["phase"] == "succeeded" and entry["model"]
    again = cli.run("apply", "manifests", "--refresh-only")
    assert "already records what is live" in again.stdout


def test_follow_up_flags_take_a_manifest_path_not_a_plan(cli):
    assert cli.run("plan", "manifests", "--out", "p.json").returncode == 0
    for flag in ("--reviewed-only", "--refresh-only"):
        result = cli.run("apply", "p.json", flag)
        assert result.returncode == 1 and "take a manifest path" in result.stderr


def test_a_saved_plan_applies_from_a_checkout_in_an_odd_place(cli, tmp_path_factory):
    odd = tmp_path_factory.mktemp("odd place [ü] $HOME")
    shutil.copytree(cli.cwd / "manifests", odd / "manifests")
    assert cli.run("plan", "manifests", "--out", str(odd / "p.json")).returncode == 0
    result = reconciler_cli.run("apply", "p.json", "--api-endpoint", cli.endpoint, cwd=odd, timeout=60,
                                env=reconciler_cli.environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert (odd / "manifests" / "reconciler.lock").exists()
    assert not (cli.cwd / "manifests" / "reconciler.lock").exists()
