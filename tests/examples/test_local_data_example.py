"""examples/local-data is a working manifest root: its training data is in the repository, checked offline, and
uploaded by content when applied (here against the embedded emulator, as `make demo` runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.testing import ROOT
from tests.testing import cli

EXAMPLE = ROOT / "examples" / "local-data"
ENV = {"RECONCILER_EMULATOR_JOB_DURATION": "2", "RECONCILER_POLL_INTERVAL": "0.2"}


def run(cwd: Path, *args: str) -> cli.Result:
    return cli.run(*args, cwd=cwd, env=cli.environment(ENV))


def test_the_local_data_example_validates_plans_with_a_cost_applies_and_ends_in_sync(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "local-data")
    assert run(tmp_path, "validate", "local-data").code == 0
    planned = run(tmp_path, "plan", "local-data", "--emulator")
    assert planned.code == 0, planned
    assert "+ train   faq-bot" in planned.out and "× 3 epochs ≈ $" in planned.out, planned.out
    applied = run(tmp_path, "apply", "local-data", "--emulator", "--yes", "--wait")
    assert applied.code == 0, applied
    again = run(tmp_path, "plan", "local-data", "--emulator", "--detailed-exitcode")
    assert again.code == 0 and "no changes" in again.out, again
