"""Ctrl-C and SIGTERM while a command waits on a server that does not answer. Before anything is changed, an
interrupt stops the command at once: exit 130, `interrupted`, the state lock released (not waited out for the
read timeout and its retries). Once changes have started, the first one finishes the request in flight and saves
the lock (tests/reliability/test_reliability_kill.py)."""

from __future__ import annotations

import signal

import pytest

from tests.testing import cli as reconciler_cli


@pytest.mark.parametrize("args, signum", [
    (("plan", "manifests"), signal.SIGINT),
    (("apply", "manifests", "--yes"), signal.SIGINT),   # refreshing: nothing changed yet, the state lock held
    (("apply", "manifests", "--yes"), signal.SIGTERM),
], ids=["plan-ctrl-c", "apply-ctrl-c", "apply-sigterm"])
def test_an_interrupt_before_anything_changed_stops_at_once(cli, silent_server, args, signum):
    process = silent_server().blocked(*args, cwd=cli.cwd)
    process.send_signal(signum)
    result = reconciler_cli.finish(process, args)
    assert result.code == 130 and result.err.endswith("\ninterrupted\n"), result
    assert result.seconds < 30 and "Traceback" not in result.err, result  # the reads' timeout is 60 s
    after = cli.run("apply", "manifests", "--yes")  # the state lock was released, not left to be taken over
    assert after.code == 0 and "taking over" not in after.text, after


def test_ctrl_c_while_refresh_only_reads_stops_at_once(cli, silent_server):
    """`apply --refresh-only` changes the state only after it has read everything: until then, as above."""
    assert cli.run("apply", "manifests", "--yes").code == 0  # a state with jobs in it to read
    lock = (cli.cwd / "manifests" / "reconciler.lock").read_bytes()
    process = silent_server().blocked("apply", "manifests", "--refresh-only", cwd=cli.cwd)
    process.send_signal(signal.SIGINT)
    result = reconciler_cli.finish(process, ("apply", "--refresh-only"))
    assert result.code == 130 and result.err.splitlines()[-1] == "interrupted" and result.seconds < 30, result
    assert (cli.cwd / "manifests" / "reconciler.lock").read_bytes() == lock
    after = cli.run("apply", "manifests", "--refresh-only")
    assert after.code == 0 and "taking over" not in after.text, after
