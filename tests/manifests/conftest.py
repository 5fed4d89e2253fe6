from pathlib import Path

import pytest

from reconciler import manifest
from reconciler.manifest import yaml_nodes
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


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files composed (parsed), manifests and reconciler.yaml: those the caches did not answer."""
    seen: list[str] = []
    compose = yaml_nodes.compose

    def counting(text, shown, diagnostics):
        seen.append(Path(shown).name)
        return compose(text, shown, diagnostics)

    monkeypatch.setattr(yaml_nodes, "compose", counting)  # the loader and manifest.config import it when parsing
    return seen
