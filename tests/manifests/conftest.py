import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import manifest, pickles
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


@pytest.fixture
def imports_twice(cache_dir: Path):
    """`imports_twice(code)`: `python -c code` run twice, in fresh processes sharing `cache_dir`, each output
    followed by which of YAML and pydantic the process imported (the second run reads the caches the first wrote)."""

    def run(code: str) -> list[str]:
        probe = f"import sys; {code}; print(sorted(m for m in ('yaml', 'pydantic') if m in sys.modules))"
        env = {"PATH": "/usr/bin:/bin", pickles.DIRECTORY: str(cache_dir),
               "PYTHONPATH": str(Path(__file__).parents[2])}
        return [subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                               check=True).stdout for _ in range(2)]

    return run
