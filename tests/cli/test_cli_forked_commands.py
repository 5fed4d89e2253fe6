"""The suite forks most `reconciler` commands from a zygote that has imported it (tests.testing.zygote) instead of
exec'ing `python -m reconciler`. These tests hold it to that promise: a forked command prints, exits, is
signalled and dies exactly as an exec'd one, as a child of the test; and whatever would start an interpreter
differently is exec'd."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest

from tests.testing import cli as reconciler_cli
from tests.testing import zygote

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forking needs a Linux subreaper"),
              pytest.mark.skipif(os.environ.get(zygote.SWITCH) == "off", reason=f"{zygote.SWITCH}=off: nothing forks")]


@pytest.mark.parametrize("args, endpoint, env", [
    (("--help",), False, {}),
    (("--version",), False, {}),
    (("validate", "manifests"), False, {}),
    (("validate", "manifests"), False, {"COLUMNS": "50"}),  # what the command reads of its own environment
    (("validate", "no-such-directory"), False, {}),
    (("plan", "manifests", "--detailed-exitcode"), True, {}),
    (("plan", "manifests", "--markdown"), True, {}),
    (("status", "manifests"), True, {}),
    (("apply", "manifests"), True, {}),  # no --yes and no terminal: refused
    (("plan", "manifests"), True, {"GOOGLE_OAUTH_ACCESS_TOKEN": ""}),  # no credentials
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_a_forked_command_prints_and_exits_as_an_execd_one(cli, args, endpoint, env):
    command = (*args, *(["--api-endpoint", cli.endpoint] if endpoint else []))
    forked, execd, was_forked = _both(command, cli.cwd, reconciler_cli.environment(env))
    assert was_forked
    assert forked == execd


def _both(args: tuple[str, ...], cwd, env: dict[str, str]) -> tuple[tuple, tuple, bool]:
    """`reconciler ARGS` as `start` starts it, then exec'd: (code, stdout, stderr) of each, and whether the first
    was forked."""
    process = reconciler_cli.start(*args, cwd=cwd, env=env)
    started = reconciler_cli.finish(process, args)
    execd = reconciler_cli.run(*args, cwd=cwd, env=env, fork=False)
    return (started.code, started.out, started.err), (execd.code, execd.out, execd.err), process.forked


def test_a_forked_command_is_a_child_of_the_test_in_its_directory(cli, silent_server):
    process = silent_server().blocked("plan", "manifests", cwd=cli.cwd)
    try:
        assert process.forked
        with open(f"/proc/{process.pid}/stat") as stat:
            assert int(stat.read().rpartition(")")[2].split()[1]) == os.getpid()  # ppid
        assert os.readlink(f"/proc/{process.pid}/cwd") == str(cli.cwd.resolve())
    finally:
        process.kill()
    assert process.wait(timeout=30) == -signal.SIGKILL


def test_ctrl_c_in_a_plan_waiting_on_a_silent_server_exits_130_at_once_forked_or_execd(cli, silent_server):
    results = []
    for fork in (False, True):
        process = silent_server().blocked("plan", "manifests", cwd=cli.cwd, fork=fork)
        assert process.forked is fork
        process.send_signal(signal.SIGINT)
        result = reconciler_cli.finish(process, ("plan",))
        results.append((result.code, result.out, result.err))
        assert result.seconds < 30, result  # not held until the blocked read times out (60 s)
    assert results[0] == results[1]
    assert results[0][0] == 130 and results[0][2].endswith("\ninterrupted\n")


@pytest.mark.parametrize("env, switch, forked", [
    ({}, None, True),
    ({"PYTHONIOENCODING": "latin-1"}, None, True),  # forked from a zygote started with it: other streams
    ({"LC_ALL": "C"}, None, True),                  # (one zygote per interpreter environment)
    ({"PYTHONPATH": "/elsewhere"}, None, False),    # another reconciler, perhaps: exec'd
    ({}, "off", False),
])
def test_a_command_is_forked_from_a_zygote_whose_interpreter_started_as_its_would(cli, monkeypatch, env, switch,
                                                                                   forked):
    if switch:
        monkeypatch.setenv(zygote.SWITCH, switch)
    started, execd, was_forked = _both(("validate", "manifests"), cli.cwd, reconciler_cli.environment(env))
    assert was_forked is forked
    assert started == execd


def test_a_command_is_execd_once_its_zygote_is_gone(tmp_path):
    environment = reconciler_cli.environment({"PYTHONHASHSEED": "4242"})  # a zygote of this test's own
    before = reconciler_cli.start("--version", cwd=tmp_path, env=environment)
    assert reconciler_cli.finish(before, ("--version",)).code == 0 and before.forked
    gone = zygote.zygote_for(environment, environment["PYTHONPATH"], str(tmp_path))
    gone.process.kill()
    gone.process.wait(timeout=30)
    after = reconciler_cli.start("--version", cwd=tmp_path, env=environment)
    assert reconciler_cli.finish(after, ("--version",)).code == 0 and not after.forked


def _without(name: str, env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != name}


@pytest.mark.parametrize("env", [
    _without("PYTHONUNBUFFERED", reconciler_cli.environment()),
    reconciler_cli.environment({"PYTHONUNBUFFERED": "1"}),   # streams written through, none line-buffered
    reconciler_cli.environment({"PYTHONSAFEPATH": "1"}),     # no working directory in sys.path
    reconciler_cli.environment({"TZ": "Asia/Tokyo"}),
    reconciler_cli.environment({"PYTHONIOENCODING": "latin-1"}),
    reconciler_cli.bare_environment(),                       # no locale: the interpreter coerces LC_CTYPE
], ids=["buffered", "unbuffered", "safe-path", "tz", "io-encoding", "bare"])
def test_a_forked_process_starts_as_an_execd_one(tmp_path, env):
    """What a `python -m` process sees of its start-up (tests.testing.probe): streams, sys.path[0], argv, cwd,
    environment, signal dispositions, open descriptors, stdin read as sent."""
    seen = []
    for fork in (True, False):
        process = reconciler_cli.Process([sys.executable, "-m", "tests.testing.probe", "a", "b"], stdin_text="x\r\ny",
                                         fork=fork, cwd=tmp_path, env=env)
        out, err = process.communicate(input=process.stdin_text, timeout=60)
        assert process.returncode == 0 and process.forked is fork, err
        seen.append(json.loads(out))
    assert seen[0] == seen[1]
