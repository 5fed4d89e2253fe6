import textwrap
from pathlib import Path

import pytest

from reconciler import manifest


@pytest.fixture
def write(tmp_path: Path):
    """Write files (name -> text) under a fresh manifest root and return the root."""

    def write_files(files: dict[str, str | bytes]) -> Path:
        for name, content in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content))
        return tmp_path

    return write_files


@pytest.fixture
def load_files(write):
    """Write files and load the root: the DesiredState."""

    def load(files: dict[str, str | bytes], env: dict[str, str] | None = None):
        return manifest.load(write(files), env=env or {})

    return load
