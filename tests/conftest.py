"""Fixtures for every test: the shared emulator fixtures of tests.testing.emulators.

- `emulator`: an in-process emulator on a free port (60-second virtual jobs).
- `spawn_emulator`: `spawn_emulator(*args, **options)` starts `python -m reconciler.emulator` children.

And the order tests run in: the suites whose tests take seconds each (real `reconciler` processes against
emulators, leases and operations waited out) first, so that pytest-xdist (`make test`: `--dist load --maxschedchunk 2`, small
scheduling chunks) starts them on every worker at once instead of leaving a few of them to run alone at the end;
within a group, and for everything else, the collection order is kept (a module's tests stay together).
"""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

from tests.testing.emulators import emulator, spawn_emulator  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent
# Paths under tests/, heaviest first (by seconds per test, measured on two cores): a test matches the first entry
# its file path starts with; whatever matches none runs after all of them. Only the order depends on this list.
HEAVY_FIRST = (
    "examples/test_ci_recipes.py",              # two CI pipelines of ~20 jobs each
    "reliability/test_reliability_scenarios.py",  # a cancel ignored, then deletes with 3 s operations
    "cli/test_cli_stacks.py",
    "reliability/test_gcs_backend_kill.py",     # takeovers wait out a lease
    "cli/test_cli_quiet_lock_diff.py",
    "reliability/test_hostile_server.py",
    "cli/test_cli_training_data.py",
    "reliability/test_data_staging_kill.py",
    "cli/test_cli_system_labels.py",
    "reliability/",
    "cli/",
    "bench/",
    "examples/",
    "datasets/",
)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """reconciler's caches (reconciler.pickles) in a directory of this test's own, turned on."""
    from reconciler import pickles

    directory = tmp_path / "cache"
    monkeypatch.setenv(pickles.DIRECTORY, str(directory))
    monkeypatch.delenv(pickles.SWITCH, raising=False)
    return directory


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the package once, before any worker starts: the suite runs hundreds of `reconciler` and
    emulator processes, and where PYTHONDONTWRITEBYTECODE is set (as on some CI machines) each of them would
    otherwise compile every module it imports from source, about 0.2 s of CPU apiece. compileall writes the
    .pyc files whatever that variable says, and skips those already fresh."""
    if not hasattr(config, "workerinput"):  # the controller, not each xdist worker
        compileall.compile_dir(HERE.parent / "reconciler", quiet=2, workers=1)


def _rank(item: pytest.Item) -> int:
    try:
        path = Path(str(item.fspath)).resolve().relative_to(HERE).as_posix()
    except ValueError:
        return len(HEAVY_FIRST)
    return next((i for i, prefix in enumerate(HEAVY_FIRST) if path.startswith(prefix)), len(HEAVY_FIRST))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)   # stable: the collection order within each rank
