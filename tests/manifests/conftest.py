from pathlib import Path

import pytest

from reconciler import manifest
from tests.testing.manifests import write_files


@pytest.fixture
def write(tmp_path: Path):
    """Write files (name -> text) under a fresh manifest root and return the root."""

    def write_root(files: dict[str, str | bytes]) -> Path:
        return write_files(tmp_path, files)

    return write_root


@pytest.fixture
def load_files(write):
    """Write files and load the root: the DesiredState."""

    def load(files: dict[str, str | bytes], env: dict[str, str] | None = None):
        return manifest.load(write(files), env=env or {})

    return load
