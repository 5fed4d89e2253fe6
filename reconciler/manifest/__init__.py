"""Manifests: YAML files and directories -> a validated `reconciler.desired.DesiredState`.

    load(path, env=None) -> DesiredState   raises reconciler.errors.ManifestError with every problem, located,
                                           cause first; a path inside a root selects (DesiredState.selected)
    load_config(path, env=None)            reconciler.yaml alone (status, wait)
    json_schema() -> dict                  the manifest JSON Schema (`reconciler schema`)

Modules, lowest first: diagnostics, fields (constrained strings), schema (the pydantic models and what each
platform declares about itself), config (reconciler.yaml, kept once read clean), canonical (canonical form and digest), yaml_nodes, files, roots (the root a
path belongs to, and what it selects), explain (pydantic errors -> located messages), causes (diagnostics cause
first: grouped, one per unset variable), checks (across documents), data_files (training files in the
repository) and examples (training rows), loader.
Importing this package is cheap: each function imports what it needs when first called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.desired import DesiredState

__all__ = ["json_schema", "load", "load_config"]


def load(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> DesiredState:
    """Load, validate and canonicalise every manifest under `path` (a file or a directory); `env` for
    ${VAR} interpolation (default: os.environ)."""
    from reconciler.manifest.loader import load as load_manifests

    return load_manifests(path, env)


def load_config(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> DesiredState:
    """What `status` and `wait` need of the root `path` belongs to: its reconciler.yaml (lock, state, identity),
    as a DesiredState with no resources. No manifest is read, so a broken one does not stop them (as Terraform's
    `state list` works without configuration); on part of a root the manifests are loaded (`load`), since what
    the path selects is the names of the manifests under it. reconciler.yaml read clean before is not parsed
    again (manifest.config), so this imports neither YAML nor pydantic."""
    from pathlib import Path

    from reconciler.errors import Diagnostic, ManifestError
    from reconciler.manifest import config, roots

    if not Path(path).exists():
        raise ManifestError([Diagnostic(str(path), 0, 0, "no such file or directory")])
    found = roots.find(Path(path))
    if found.partial:
        return load(path, env)
    return config.read_root(found, os.environ if env is None else env)


def json_schema() -> dict:
    """The manifest JSON Schema (draft 2020-12), for editors and YAML language servers."""
    from reconciler.manifest.schema import json_schema as manifest_schema

    return manifest_schema()
