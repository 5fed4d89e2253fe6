"""`plan --out` and the user's environment (issue 12 §3), through the real CLI: `--out` writes a new file or
replaces a saved plan, atomically, and refuses anything else; bad flags, variables and emulator state are
user errors (exit 1, a message, no traceback). Every run is bounded (HANG seconds) so that a hang fails fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.testing import cli as reconciler_cli

HANG = 30.0


def run(cli, *args: str, endpoint: bool = True, env: dict | None = None) -> reconciler_cli.Result:
    command = [*args, *(["--api-endpoint", cli.endpoint] if endpoint else [])]
    return reconciler_cli.run(*command, cwd=cli.cwd, env=reconciler_cli.environment(env), timeout=HANG)


def refused(result: reconciler_cli.Result, message: str) -> None:
    assert result.code == 1, result
    assert message in result.err, result
    assert "Traceback" not in result.err and "internal error" not in result.err, result


# --- --out ---------------------------------------------------------------------------------------------------

def test_out_writes_a_new_plan_then_replaces_only_a_saved_plan(cli):
    first = run(cli, "plan", "manifests", "--out", "saved.json")
    assert first.code == 0, first
    assert json.loads((cli.cwd / "saved.json").read_text())["formatVersion"] == 2
    again = run(cli, "plan", "manifests", "--out", "saved.json")
    assert again.code == 0, again
    assert [p.name for p in cli.cwd.iterdir() if p.name.endswith(".tmp")] == []  # atomic: no temp left
    assert run(cli, "apply", "saved.json").code == 0


def test_out_refuses_a_manifest_and_any_file_that_is_not_a_saved_plan(cli):
    manifest = cli.cwd / "manifests" / "vertex" / "support-bot.yaml"
    before = manifest.read_bytes()
    refused(run(cli, "plan", "manifests", "--out", str(manifest)), "exists and is not a saved plan")
    assert manifest.read_bytes() == before
    lock = cli.cwd / "notes.json"
    lock.write_text('{"not": "a plan"}')
    refused(run(cli, "plan", "manifests", "--out", "notes.json"), "exists and is not a saved plan")
    assert lock.read_text() == '{"not": "a plan"}'
    assert cli.emulator.requests() == []  # refused before reading anything live


def test_out_never_follows_a_symlink(cli, tmp_path):
    target = tmp_path / "victim.json"
    assert run(cli, "plan", "manifests", "--out", str(target)).code == 0  # a saved plan, even
    before = target.read_bytes()
    (cli.cwd / "link.json").symlink_to(target)
    refused(run(cli, "plan", "manifests", "--out", "link.json"), "Is a symbolic link (never followed)")
    assert target.read_bytes() == before


@pytest.mark.parametrize(("out", "message"), [
    (".", "--out .: Is a directory"),
    ("/dev/full", "--out /dev/full: Is a device or special file"),
    ("missing-dir/plan.json", "cannot write the plan to missing-dir/plan.json: No such file or directory"),
])
def test_out_into_a_directory_a_device_or_nowhere_is_a_user_error(cli, out, message):
    refused(run(cli, "plan", "manifests", "--out", out), message)


def test_out_onto_a_fifo_is_refused_not_opened(cli):
    os.mkfifo(cli.cwd / "plan.fifo")
    refused(run(cli, "plan", "manifests", "--out", "plan.fifo"), "--out plan.fifo: Is a FIFO, not a regular file")


def test_apply_of_a_fifo_does_not_hang(cli):
    os.mkfifo(cli.cwd / "plan.fifo")
    refused(run(cli, "apply", "plan.fifo", "--yes"), "plan.fifo: is a FIFO")


# --- flags and variables ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["ht!tp:/bad", "localhost:9", "ftp://example.com"])
def test_a_malformed_api_endpoint_is_a_user_error(cli, url):
    refused(run(cli, "plan", "manifests", "--api-endpoint", url, endpoint=False), "--api-endpoint")


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_bad_emulator_job_duration_is_a_user_error(cli, value):
    refused(run(cli, "plan", "manifests", "--emulator", endpoint=False,
                env={"RECONCILER_EMULATOR_JOB_DURATION": value}),
            f"RECONCILER_EMULATOR_JOB_DURATION: not a number of seconds: {value!r}")


def test_a_bad_poll_interval_is_a_user_error(cli):
    assert run(cli, "apply", "manifests", "--yes").code == 0
    refused(run(cli, "wait", "manifests", env={"RECONCILER_POLL_INTERVAL": "soon"}),
            "RECONCILER_POLL_INTERVAL: not a number of seconds: 'soon'")


# --- the embedded emulator's state (.reconciler/) ------------------------------------------------------------

def test_a_corrupt_emulator_state_is_a_user_error(cli):
    (cli.cwd / ".reconciler").mkdir()
    (cli.cwd / ".reconciler" / "emulator.json").write_text("{not json")
    refused(run(cli, "plan", "manifests", "--emulator", endpoint=False),
            "cannot start the embedded emulator: .reconciler/emulator.json")


def test_a_symlinked_emulator_state_directory_is_refused(cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (cli.cwd / ".reconciler").symlink_to(outside)
    refused(run(cli, "plan", "manifests", "--emulator", endpoint=False), ".reconciler (the embedded emulator's "
            "state) is a symbolic link")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_symlinked_or_fifo_emulator_state_file_is_refused(cli, tmp_path, kind):
    (cli.cwd / ".reconciler").mkdir()
    state = cli.cwd / ".reconciler" / "emulator.json"
    if kind == "fifo":
        os.mkfifo(state)
    else:
        state.symlink_to(tmp_path / "elsewhere.json")
    refused(run(cli, "plan", "manifests", "--emulator", endpoint=False), ".reconciler/emulator.json (the embedded "
            "emulator's state) is")
    assert not (tmp_path / "elsewhere.json").exists()


def test_a_malformed_emulator_state_file_flag_is_a_user_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("[1, 2")
    result = reconciler_cli.run("emulator", "--", "--state-file", str(state), "--port", "0", cwd=tmp_path,
                                timeout=HANG)
    refused(result, "cannot start the emulator")
    assert Path(state).read_text() == "[1, 2"
