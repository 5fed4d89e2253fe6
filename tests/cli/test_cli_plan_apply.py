"""The plan/apply workflow as a pipeline sees it: exit codes, formats, saved plans, and bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.testing import cli as reconciler_cli


def test_a_pipeline_gates_on_the_plan_exit_code_then_applies_and_converges(cli):
    first = cli.run("plan", "manifests", "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "Plan: 5 to train ($)." in first.stdout

    applied = cli.run("apply", "manifests", "--yes")
    assert applied.returncode == 0, applied.stderr + applied.stdout
    assert "Apply: 4 done, 1 deferred." in applied.stdout  # the continuous tune waits for its upstream
    cli.emulator.advance(3600)

    second = cli.run("apply", "manifests", "--yes")
    assert second.returncode == 0, second.stderr + second.stdout
    cli.emulator.advance(3600)

    last = cli.run("plan", "manifests", "--detailed-exitcode")
    assert last.returncode == 0, last.stdout + last.stderr
    assert "Plan: no changes" in last.stdout


def test_json_and_markdown_renderings(cli):
    as_json = cli.run("plan", "manifests", "--json")
    assert as_json.returncode == 0
    data = json.loads(as_json.stdout)
    assert data["formatVersion"] == 2 and data["summary"]["train"] == 5
    assert all(c["reason"] for c in data["changes"])
    markdown = cli.run("plan", "manifests", "--markdown")
    assert markdown.stdout.startswith("<!-- reconciler-plan: ") and "\n### reconciler plan\n" in markdown.stdout
    assert "start a paid tuning job" in markdown.stdout


def test_a_saved_plan_is_applied_exactly_once(cli):
    saved = cli.run("plan", "manifests", "--out", "tfplan.json")
    assert saved.returncode == 0 and (cli.cwd / "tfplan.json").exists()
    assert cli.run("apply", "tfplan.json").returncode == 0
    jobs_after_first = _creates(cli)
    again = cli.run("apply", "tfplan.json")  # applied before: only its reviewed follow-ups are left (none here)
    assert again.returncode == 0, again.stderr
    assert "already applied" in again.stdout + again.stderr and "Traceback" not in again.stderr
    assert _creates(cli) == jobs_after_first


def test_apply_without_yes_and_without_a_terminal_changes_nothing(cli):
    result = cli.run("apply", "manifests")
    assert result.returncode == 1
    assert "re-run with --yes" in result.stderr
    assert cli.mutations() == []


def test_a_declined_confirmation_changes_nothing(cli):
    result = cli.run("apply", "manifests", stdin="no\n")
    assert result.returncode == 1
    assert cli.mutations() == []


@pytest.mark.parametrize(("manifest", "old", "new", "diagnostic"), [
    ("vertex/support-bot.yaml", "baseModel:", "baseModell:",
     "vertex/support-bot.yaml:11:3: unknown field 'baseModell'; did you mean 'baseModel'?"),
    ("vertex/support-bot-tier2.yaml", "epochCount", "epochs",
     "vertex/support-bot-tier2.yaml:21:5: unknown field 'epochs'; did you mean 'epochCount'?"),
], ids=["spec-field", "hyperparameter"])
def test_bad_manifests_stop_before_any_api_call(cli, manifest, old, new, diagnostic):
    bad = cli.cwd / "manifests" / manifest
    text = bad.read_text()
    assert text.count(old) == 1, f"the example {manifest} changed: edit another field"
    bad.write_text(text.replace(old, new))
    for command in (("plan", "manifests"), ("apply", "manifests", "--yes")):
        result = cli.run(*command)
        assert result.returncode == 1, result.stdout
        assert f"manifests/{diagnostic}" in result.stderr.splitlines(), result.stderr
        assert "Traceback" not in result.stderr
    assert cli.emulator.requests() == []


def test_unknown_target_is_a_user_error(cli):
    result = cli.run("plan", "manifests", "--target", "nope")
    assert result.returncode == 1
    assert "--target nope: no manifest of that name" in result.stderr


def test_an_unreachable_endpoint_is_a_clear_error(cli):
    result = cli.run("plan", "manifests", "--api-endpoint", "http://127.0.0.1:9", endpoint=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "127.0.0.1:9" in result.stderr


def test_missing_credentials_name_what_to_do(cli):
    missing = cli.cwd / "no-such-credentials.json"
    result = cli.run("plan", "manifests", env={"GOOGLE_OAUTH_ACCESS_TOKEN": "", "GEMINI_API_KEY": "",
                                               "GOOGLE_APPLICATION_CREDENTIALS": str(missing)})
    assert result.returncode == 1
    assert "credentials" in result.stderr and "--emulator" in result.stderr
    assert "Traceback" not in result.stderr


def status_rows(stdout: str) -> dict[str, dict[str, str]]:
    """`reconciler status` as {name: {state, progress, ..., resource}}, cut at the header's column starts (the
    lines after the table say what needs attention)."""
    header, *rows = [line for line in stdout.rstrip("\n").splitlines() if not line.startswith("⚠")]
    columns = ["name", "state", "progress", "elapsed", "loss", "data", "resource"]
    starts = [header.index(column) for column in columns]
    assert header.split() == columns and starts == sorted(starts), header
    cells = [[row[a:b].strip() for a, b in zip(starts, [*starts[1:], None])] for row in rows]
    return {name: dict(zip(columns[1:], rest)) for name, *rest in cells}


LONG_JOBS = pytest.mark.parametrize("cli", [{"job_duration": 3600}], ids=["hour-long-jobs"], indirect=True)


@LONG_JOBS
def test_status_and_wait_resume_from_the_lock(cli):
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    status = cli.run("status", "manifests")
    assert status.returncode == 0
    rows = status_rows(status.stdout)
    # hour-long jobs: Vertex jobs are queued, then pending (both shown "queued", the plan's word) for their first 12 virtual
    # minutes, Gemini API tunes run at once; the continuation waits for support-bot: nothing in the lock yet
    assert {name: row["state"] for name, row in rows.items()} == {
        "math-bot": "training", "number-generator": "training", "support-bot": "queued",
        "support-bot-tier2": "queued"}, status.stdout
    assert rows["support-bot"]["resource"].startswith("projects/"), status.stdout
    assert rows["math-bot"]["resource"].startswith("tunedModels/math-bot-"), status.stdout
    short = cli.run("wait", "manifests", "--timeout", "0.5")
    assert short.returncode == 0 and "still running (nothing was cancelled)" in short.stdout
    cli.emulator.advance(3600)
    done = cli.run("wait", "manifests")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout


def _creates(cli) -> int:
    return sum(1 for r in cli.emulator.requests()
               if r["method"] == "POST" and r["path"].endswith(("/tuningJobs", "/tunedModels")))


def test_reverting_an_edit_reuses_the_old_model_at_no_cost(cli):
    manifest = cli.cwd / "manifests" / "gemini" / "math-bot.yaml"
    original = manifest.read_text()
    for resource in ("vertex", "gemini/number-generator.yaml"):  # keep the test to one manifest
        target = cli.cwd / "manifests" / resource
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(3600)
    manifest.write_text(original.replace("epochCount: 2", "epochCount: 3"))
    retrain = cli.run("apply", "manifests", "--yes")
    assert retrain.returncode == 0 and "retrain" in retrain.stdout, retrain.stdout + retrain.stderr
    cli.emulator.advance(3600)
    manifest.write_text(original)
    creates_before = _creates(cli)
    revert = cli.run("plan", "manifests")
    assert "< adopt" in revert.stdout and "instead of training (no cost)" in revert.stdout, revert.stdout
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    assert _creates(cli) == creates_before
    after = cli.run("plan", "manifests")
    assert "retire" in after.stdout and "epochCount" not in after.stdout, after.stdout


def test_a_fresh_apply_reads_each_scope_once_and_sends_one_create_per_manifest(cli):
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    requests = cli.emulator.requests()
    job_lists = [r for r in requests if r["method"] == "GET" and r["path"].endswith("/tuningJobs")]
    model_gets = [r for r in requests if r["method"] == "GET" and "/tunedModels/" in r["path"]]
    assert len(job_lists) == 1, "the run's own listing stands in for the lookup before each create"
    assert model_gets == []
    assert _creates(cli) == 4  # the continuous tune waits for its upstream


def test_usage_errors_exit_1_never_2_which_means_changes(cli):
    for args in (("apply", "manifests", "--rate-limit", "0"), ("plan",), ("plan", "manifests", "--bogus")):
        result = cli.run(*args, endpoint=False)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_saved_plan_made_in_one_checkout_applies_in_another_and_changes_that_checkouts_state(cli):
    assert cli.run("plan", "manifests", "--out", "review.out").returncode == 0
    assert json.loads((cli.cwd / "review.out").read_text())["root"] == "manifests"  # relative: portable
    other = cli.cwd / "checkout-b"  # another absolute path, as a CI job's own directory is
    shutil.copytree(cli.cwd / "manifests", other / "manifests")
    (cli.cwd / "review.out").rename(other / "review.out")  # recognised by content, whatever its name
    shutil.rmtree(cli.cwd / "manifests")  # the checkout it was made in is gone
    result = reconciler_cli.run("apply", "review.out", "--api-endpoint", cli.endpoint, cwd=other, timeout=60,
                                env=reconciler_cli.bare_environment({"GOOGLE_OAUTH_ACCESS_TOKEN": "t",
                                                                     "GEMINI_API_KEY": "k", "NO_GCE_CHECK": "True"}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _creates(cli) == 4
    assert (other / "manifests" / "reconciler.lock").exists()
    assert not (cli.cwd / "manifests").exists()


def test_a_saved_plan_names_the_missing_root_when_applied_from_the_wrong_directory(cli):
    assert cli.run("plan", "manifests", "--out", "review.out").returncode == 0
    elsewhere = cli.cwd / "elsewhere"
    elsewhere.mkdir()
    result = reconciler_cli.run("apply", str(cli.cwd / "review.out"), "--api-endpoint", cli.endpoint, cwd=elsewhere,
                                timeout=60, env=reconciler_cli.bare_environment({"GOOGLE_OAUTH_ACCESS_TOKEN": "t"}))
    assert result.returncode == 1 and "there is no 'manifests' here" in result.stderr, result.stderr
    assert _creates(cli) == 0


def _only(cli, keep: str) -> None:
    """Keep one manifest (a path under manifests/) so a test reads about one resource."""
    for path in sorted((cli.cwd / "manifests").rglob("*.yaml")):
        if not str(path).endswith(keep) and path.name != "reconciler.yaml":
            path.unlink()


@LONG_JOBS
def test_a_gemini_replace_deletes_the_old_tune_then_really_starts_a_new_one(cli):
    _only(cli, "gemini/math-bot.yaml")
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(3600)
    plan = cli.run("plan", "manifests", "--replace", "math-bot")
    assert "first, because the new tune reuses its id" in plan.stdout, plan.stdout
    replaced = cli.run("apply", "manifests", "--yes", "--replace", "math-bot")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "started tunedModels/math-bot-" in replaced.stdout, replaced.stdout
    assert _creates(cli) == 2
    status = cli.run("status", "manifests")
    assert {name: row["state"] for name, row in status_rows(status.stdout).items()} == {"math-bot": "training"}, \
        status.stdout
    cli.emulator.advance(3600)
    assert "Plan: no changes" in cli.run("plan", "manifests").stdout


def test_a_policy_edit_is_recorded_and_a_removal_then_honours_it(cli):
    _only(cli, "vertex/support-bot.yaml")
    manifest = cli.cwd / "manifests" / "vertex" / "support-bot.yaml"
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    cli.emulator.advance(3600)
    text = manifest.read_text()
    manifest.write_text(text + "  policy: {onDelete: orphan}\n" if "policy:" not in text else text)
    recorded = cli.run("apply", "manifests", "--yes")
    assert "recorded the new policy" in recorded.stdout, recorded.stdout + recorded.stderr
    manifest.unlink()
    removal = cli.run("plan", "manifests")
    assert "x forget" in removal.stdout and "onDelete: orphan" in removal.stdout, removal.stdout


def test_a_bad_poll_interval_is_a_user_error_and_apply_without_wait_ignores_it(cli):
    bad = {"RECONCILER_POLL_INTERVAL": "soon"}
    waited = cli.run("wait", "manifests", env=bad)
    assert waited.code == 1 and "RECONCILER_POLL_INTERVAL: not a number of seconds: 'soon'" in waited.stderr
    assert cli.run("apply", "manifests", "--yes", env=bad).code == 0
