"""reconciler.yaml: read, validated, and made into the `Config` every command needs (`read`), and all that `status`
and `wait` read of a root (`read_root`).

Validating it takes YAML and pydantic, a quarter of a second of imports before anything else is done, and
`status` and `wait` need nothing else of either. So what the file says once it has validated clean (`Said`: plain
values) is kept as `reconciler.pickles` keeps values, one file per root, with the sha256 of the text, the
workspace and the ${VAR}s it read: while those are unchanged the file is neither parsed nor validated again, and
neither YAML nor pydantic is imported. What depends on more than the text (the lock file it names, checked on
disk) is worked out on every read; a file that gave any diagnostic, or holds a credential, is never kept.
"""

from __future__ import annotations

import os
import re
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import pickles
from reconciler.desired import DEFAULT_WORKSPACE, Config, CostSettings, Defaults, DesiredState, StateSettings
from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest import roots
from reconciler.manifest.cache import reads_hold, text_key
from reconciler.manifest.causes import BrokenDefault, cause_first
from reconciler.manifest.diagnostics import Diagnostics, credentials
from reconciler.manifest.files import CONFIG_FILE, MAX_MANIFEST_BYTES, lock_file_problem, read_text
from reconciler.ownership import MAX_LABELS

if TYPE_CHECKING:
    from pydantic import ValidationError
    from yaml.nodes import Node

    from reconciler.manifest.schema import ConfigFile

WORKSPACE_VARIABLE = "RECONCILER_WORKSPACE"
WORKSPACE_PATTERN = re.compile(r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?")
FORMAT = 1
KIND = pickles.Kind("config-", keep=32)  # roots whose reconciler.yaml is kept


def setting(env: Mapping[str, str]) -> tuple[str, Mapping[str, str], Diagnostics]:
    """(workspace, the environment ${VAR}s read from, the diagnostics to report in) of a read of a root."""
    # ${RECONCILER_WORKSPACE} always interpolates: the workspace selected, or "default"
    workspace = env.get(WORKSPACE_VARIABLE) or DEFAULT_WORKSPACE
    # the credentials reconciler would call the APIs with, and those of the environment manifests read
    secrets = credentials(os.environ) + tuple(p for p in credentials(env) if p not in credentials(os.environ))
    return workspace, ChainMap({WORKSPACE_VARIABLE: workspace}, env), Diagnostics(secrets=secrets)


def read_root(found: roots.Root, env: Mapping[str, str]) -> DesiredState:
    """What `status` and `wait` need of the root `found` (not part of it: manifest.load_config): its reconciler.yaml
    (lock, state, identity), as a DesiredState with no resources."""
    workspace, variables, diagnostics = setting(env)
    config, broken = read(found.directory, variables, diagnostics, workspace)
    if diagnostics.errors or diagnostics.unset:
        raise ManifestError(causes_first(diagnostics, config, broken), ordered=True)
    return DesiredState({}, config, diagnostics.warnings)


def causes_first(diagnostics: Diagnostics, config: Config, broken: Mapping[str, BrokenDefault]) -> list[Diagnostic]:
    config_path = str(config.root / CONFIG_FILE)
    causes = frozenset({config_path, str(config.lock_path), WORKSPACE_VARIABLE})
    return cause_first(diagnostics.items, diagnostics.unset, config_path, broken.values(), causes)


@dataclass(frozen=True)
class Said:
    """What reconciler.yaml says, validated: plain values (kept without pydantic)."""

    stack: str | None
    project: str | None
    location: str | None
    labels: dict[str, str]
    lock_file: str
    backend: str
    bucket: str | None
    prefix: str
    quota_project: str | None
    staging: str | None
    chars_per_token: float
    prices: dict[str, float]

    @classmethod
    def of(cls, parsed: ConfigFile) -> Said:
        return cls(parsed.stack, parsed.defaults.project, parsed.defaults.location, dict(parsed.defaults.labels),
                   parsed.lockFile, parsed.state.backend, parsed.state.bucket, parsed.state.prefix,
                   parsed.quotaProject, parsed.staging, parsed.cost.charsPerToken, dict(parsed.cost.prices))


def read(root: Path, env: Mapping[str, str], diagnostics: Diagnostics,
         workspace: str) -> tuple[Config, dict[str, BrokenDefault]]:
    """reconciler.yaml, and its scope defaults that are broken (reported): the rest of the file still applies,
    so that a bad default or an unknown field is one error, not one more in every manifest."""
    file, before = root / CONFIG_FILE, diagnostics.count
    if not WORKSPACE_PATTERN.fullmatch(workspace):
        diagnostics.add(WORKSPACE_VARIABLE, 0, 0, f"invalid workspace {workspace!r} (--workspace or "
                        f"{WORKSPACE_VARIABLE}): use 1 to 20 lowercase letters, digits and '-', starting with a letter")
        workspace = DEFAULT_WORKSPACE
    if not os.path.lexists(file):
        config = Config.default(root)
        if workspace != DEFAULT_WORKSPACE:
            diagnostics.add(str(file), 0, 0, f"workspace {workspace!r} needs a `stack:` in {CONFIG_FILE}: a "
                            "workspace is part of the identity resources carry, and so is the stack")
        problem = lock_file_problem(root, config.lock_path.name)  # the default lock and its sidecars, too
        if problem:
            diagnostics.add(str(config.lock_path), 0, 0, problem)
        return config, {}
    shown = str(file)
    text = read_text(file, shown, MAX_MANIFEST_BYTES, root, diagnostics)
    kept = _Kept(root, text, workspace, diagnostics.secrets) if text is not None else None
    said = kept.recall(env) if kept else None
    broken: dict[str, BrokenDefault] = {}
    node: Node | None = None
    reads, parsed = {}, said is None
    if said is None:
        said, node, broken = _parse(text, shown, env, diagnostics, reads)
        if said is None:
            return Config.default(root), broken
        if workspace != DEFAULT_WORKSPACE and said.stack is None:
            message = (f"workspace {workspace!r} needs a `stack:` in {CONFIG_FILE}: a workspace is part of the "
                       "identity resources carry, and so is the stack")
            diagnostics.at(shown, node, message) if node is not None else diagnostics.add(shown, 0, 0, message)
    problem = lock_file_problem(root, said.lock_file)  # on disk: checked on every read
    lock_file = workspace_lock_file(said.lock_file, workspace)
    problem = problem or (lock_file_problem(root, lock_file) if lock_file != said.lock_file else "")
    if problem and text is not None and node is None:  # kept: the document, to say where
        from reconciler.manifest.yaml_nodes import compose

        node = next(iter(compose(text, shown, Diagnostics())), None)
    if problem and node is not None:  # reported; the rest of the file still applies, so that its other problems show
        from reconciler.manifest.yaml_nodes import locate

        diagnostics.at(shown, locate(node, ("lockFile",)).node, f"lockFile: {problem}")
    elif problem:  # an unreadable or empty reconciler.yaml (reported): the default lock
        diagnostics.add(str(root / lock_file), 0, 0, problem)
    if parsed and kept and diagnostics.count == before:  # a read without a single diagnostic: nothing else writes
        kept.remember(reads, said)
    defaults = Defaults(said.project, said.location, dict(said.labels))
    lock_path = Config.default(root).lock_path if problem else root / lock_file
    state = StateSettings(said.backend, said.bucket, said.prefix)
    cost = CostSettings(said.chars_per_token, dict(said.prices))
    return Config(root=root, lock_path=lock_path, defaults=defaults, state=state, stack=said.stack,
                  workspace=workspace, quota_project=said.quota_project, staging=said.staging, cost=cost), broken


def _parse(text: str | None, shown: str, env: Mapping[str, str], diagnostics: Diagnostics, reads: dict[str, str | None]
           ) -> tuple[Said | None, Node | None, dict[str, BrokenDefault]]:
    """What the text says, validated (None when nothing can be salvaged; reported), its document (None for an empty
    or unreadable file, which says nothing: the defaults), and its broken scope defaults."""
    from pydantic import ValidationError

    from reconciler.manifest.explain import report
    from reconciler.manifest.schema import CONFIG_ADAPTER, ConfigFile
    from reconciler.manifest.yaml_nodes import compose, locate, to_data

    nodes = list(compose(text, shown, diagnostics)) if text is not None else []
    if len(nodes) > 1:
        diagnostics.at(shown, nodes[1], "reconciler.yaml must hold a single document")
    node = nodes[0] if nodes else None
    data, flagged = to_data(node, shown, env, diagnostics, reads) if node is not None else ({}, frozenset())
    if not isinstance(data, dict):
        if data is not None:
            diagnostics.at(shown, node, "reconciler.yaml must be a mapping")
        return None, node, {}
    broken: dict[str, BrokenDefault] = {}
    try:
        parsed: ConfigFile = CONFIG_ADAPTER.validate_python(data)
    except ValidationError as err:
        report(diagnostics, err, ConfigFile, shown, node, flagged)
        broken = _broken_defaults(err, node)
        salvaged = _salvaged(data, err)
        if salvaged is None:
            return None, node, broken
        parsed = salvaged
    if len(parsed.defaults.labels) > MAX_LABELS:
        diagnostics.at(shown, locate(node, ("defaults", "labels")).key,
                       f"too many labels ({len(parsed.defaults.labels)}; at most {MAX_LABELS})")
    return Said.of(parsed), node, broken


SCOPE_DEFAULTS = ("project", "location")


def _broken_defaults(err: ValidationError, node: Node) -> dict[str, BrokenDefault]:
    """The scope defaults that failed validation, with the lines they span in reconciler.yaml."""
    from reconciler.manifest.yaml_nodes import locate

    broken = {}
    for error in err.errors():
        loc = error["loc"]
        if loc[:1] == ("defaults",) and len(loc) > 1 and loc[1] in SCOPE_DEFAULTS and loc[1] not in broken:
            found = locate(node, ("defaults", loc[1]))
            start = (found.key or found.node).start_mark.line + 1
            broken[loc[1]] = BrokenDefault(loc[1], (start, max(start, found.node.end_mark.line + 1)))
    return broken


def _salvaged(data: dict, err: ValidationError) -> ConfigFile | None:
    """reconciler.yaml without the keys in error (reported already), or None if it is still not valid."""
    from pydantic import ValidationError

    from reconciler.manifest.schema import CONFIG_ADAPTER

    locs = [error["loc"] for error in err.errors()]
    cleaned = {k: v for k, v in data.items() if not any(loc[:1] == (k,) and (k != "defaults" or len(loc) == 1) for loc in locs)}
    if isinstance(cleaned.get("defaults"), dict):
        cleaned["defaults"] = {k: v for k, v in cleaned["defaults"].items()
                               if not any(loc[:2] == ("defaults", k) for loc in locs)}
    try:
        return CONFIG_ADAPTER.validate_python(cleaned)
    except ValidationError:
        return None


def workspace_lock_file(lock_file: str, workspace: str) -> str:
    """The local lock of a workspace: `reconciler.lock` for the default one, `reconciler.staging.lock` else."""
    if workspace == DEFAULT_WORKSPACE:
        return lock_file
    head, dot, tail = lock_file.rpartition(".")
    return f"{head}.{workspace}.{tail}" if dot and "/" not in tail else f"{lock_file}.{workspace}"


class _Kept:
    """The pickle of a root's reconciler.yaml: what its text said, validated clean, with what else it read."""

    def __init__(self, root: Path, text: str, workspace: str, secrets: tuple[tuple[str, str], ...]):
        # never on disk with a credential in it
        self.file = None if any(secret in text for _, secret in secrets) else KIND.file(os.path.realpath(root))
        self.key = (FORMAT, pickles.code(), text_key(text), workspace)

    def recall(self, env: Mapping[str, str]) -> Said | None:
        stored = pickles.load(self.file) if self.file else None
        if not (isinstance(stored, tuple) and len(stored) == 3 and stored[0] == self.key):
            return None
        _, reads, said = stored
        if not isinstance(said, Said) or not reads_hold(reads, env):
            return None
        pickles.touch(self.file)  # used: the last to be pruned
        return said

    def remember(self, reads: Mapping[str, str | None], said: Said) -> None:
        if self.file:
            KIND.store(self.file, (self.key, tuple(sorted(reads.items())), said))
