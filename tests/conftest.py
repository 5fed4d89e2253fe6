"""Fixtures for every test: the shared emulator fixtures of tests.testing.emulators.

- `emulator`: an in-process emulator on a free port (60-second virtual jobs).
- `spawn_emulator`: `spawn_emulator(*args, **options)` starts `python -m reconciler.emulator` children.
"""

from tests.testing.emulators import emulator, spawn_emulator  # noqa: F401  (fixtures)
