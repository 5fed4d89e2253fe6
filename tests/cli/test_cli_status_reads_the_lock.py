"""`status` and `wait` on a root read reconciler.yaml and the lock, never a manifest (issue 13: at 1,000 jobs,
loading manifests was half of `status`): a broken manifest does not stop them, as Terraform's `state list` works
without configuration. On part of a root the manifests are read, since what the path selects is their names;
and reconciler.yaml is still checked, with its located errors."""

from __future__ import annotations

import json

import pytest

LONG_JOBS = pytest.mark.parametrize("cli", [{"job_duration": 3600}], ids=["hour-long-jobs"], indirect=True)


def _jobs(result) -> dict[str, str]:
    assert "Traceback" not in result.stderr, result.stderr
    return {j["name"]: j["state"] for j in json.loads(result.stdout)["jobs"]}


@LONG_JOBS
def test_status_and_wait_on_the_root_work_with_a_broken_manifest(cli):
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    (cli.cwd / "manifests" / "vertex" / "support-bot.yaml").write_text("apiVersion: [unclosed\n")
    assert cli.run("plan", "manifests").returncode == 1  # the manifests are broken for what reads them
    status = cli.run("status", "manifests", "--json")
    assert status.returncode == 0, status.stderr
    assert _jobs(status)["support-bot"] == "queued"
    waited = cli.run("wait", "manifests", "--timeout", "0.3")
    assert waited.returncode == 0 and "still running (nothing was cancelled)" in waited.stdout, waited


@LONG_JOBS
def test_status_on_part_of_a_root_still_selects_the_manifests_under_it(cli):
    assert cli.run("apply", "manifests", "--yes").returncode == 0
    status = cli.run("status", "manifests/gemini", "--json")
    assert status.returncode == 0, status.stderr
    assert set(_jobs(status)) == {"math-bot", "number-generator"}
    assert "using root manifests" in status.stderr and "showing 2 of" in status.stderr, status.stderr


def test_status_reports_an_error_in_reconciler_yaml_where_it_is(cli):
    config = cli.cwd / "manifests" / "reconciler.yaml"
    config.write_text(config.read_text() + "lockFiles: typo.lock\n")
    status = cli.run("status", "manifests")
    assert status.returncode == 1 and "reconciler.yaml" in status.stderr and "lockFiles" in status.stderr, status
    assert cli.emulator.requests() == []  # refused before any call


def test_status_of_a_workspace_without_a_stack_is_refused(cli):
    config = cli.cwd / "manifests" / "reconciler.yaml"
    config.write_text(config.read_text().replace("stack: demo", ""))
    status = cli.run("status", "manifests", "--workspace", "staging")
    assert status.returncode == 1 and "needs a `stack:`" in status.stderr, status
