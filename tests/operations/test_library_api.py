"""The library API a program calls instead of the CLI: open a workspace, plan, apply with no terminal, wait."""

from __future__ import annotations

import threading

from reconciler import operations
from tests.testing.emulators import running
from tests.testing.manifests import copy_examples


def test_a_program_applies_and_converges_without_a_terminal(tmp_path):
    root = copy_examples(tmp_path / "manifests")
    options = operations.ApplyOptions(wait=True, timeout=60, poll_interval=0.05)
    with running(job_duration=0.5) as emulator:
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            result = operations.apply(workspace, None, options, operations.Silent(), threading.Event())
        assert not result.failed and result.plan.counts() == {"train": 5}
        assert [o.status for o in result.outcomes] == ["done"] * 5
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            workspace.refresh()
            assert not workspace.plan().has_changes
            assert {name: g.phase for name, g in operations.status(workspace).items()} == \
                {name: "succeeded" for name in workspace.desired.resources}
