"""Helpers shared by the whole suite and the benchmarks.

- `tests.testing.emulators`: the emulator in process (`Emulator` as a context manager) or as a child process
  (`python -m reconciler.emulator --port 0`), its admin surface over HTTP, and the pytest fixtures
  `emulator` and `spawn_emulator` (registered for every test by tests/conftest.py).
- `tests.testing.cli`: the `reconciler` command run as a child process (`python -m reconciler ...`), forked from a
  zygote that has imported it (`tests.testing.zygote`, compared with exec'd ones through `tests.testing.probe`).
- `tests.testing.silent`: a server that never answers (the `silent_server` fixture), for interrupt tests.
- `tests.testing.manifests`: manifest YAML builders, the two sample manifests, and file writers.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository: the working directory of every child process, the source of manifests/ and schema.json."""
