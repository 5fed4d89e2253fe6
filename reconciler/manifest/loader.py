"""Loading manifests: files and directories of YAML into a validated `DesiredState`.

Every problem is collected as a located `Diagnostic` and reported together in one `ManifestError`.
The stages: read reconciler.yaml and the manifest files into YAML documents (files, yaml_nodes), validate
each document against the models (schema, explain), check the documents against each other (checks),
read training examples (examples), and build the `DesiredResource` values (canonical).
"""

from __future__ import annotations

import os
import re
from collections import ChainMap
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import ValidationError
from yaml.nodes import Node

from reconciler.desired import (DEFAULT_WORKSPACE, Config, CostSettings, Defaults, DesiredResource, DesiredState,
                                LocalData, StateSettings)
from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest import roots
from reconciler.manifest.cache import CachedDocument, DocumentCache, Facts
from reconciler.manifest.canonical import canonical_immutable, canonical_mutable, spec_digest
from reconciler.manifest.causes import BrokenDefault, cause_first
from reconciler.manifest.checks import check_all
from reconciler.manifest.data_files import read_data_files
from reconciler.manifest.diagnostics import Diagnostics, credentials
from reconciler.manifest.examples import read_examples
from reconciler.manifest.explain import report
from reconciler.manifest.fields import MAX_LABELS
from reconciler.manifest.files import CONFIG_FILE, MAX_MANIFEST_BYTES, lock_file_problem, manifest_files, read_text
from reconciler.manifest.schema import CONFIG_ADAPTER, MANIFEST_ADAPTER, ConfigFile, TunedModel, spec_type
from reconciler.manifest.yaml_nodes import Document, compose, locate, to_data


WORKSPACE_VARIABLE = "RECONCILER_WORKSPACE"
WORKSPACE_PATTERN = re.compile(r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?")


def load(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> DesiredState:
    """Load, validate and canonicalise every manifest of the root `path` belongs to (roots.find), selecting
    those under `path` when it is part of the root (a sub-directory or a file)."""
    return _Loader(Path(path), os.environ if env is None else env).run()


def load_config(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> DesiredState:
    """What `status` and `wait` need of the root `path` belongs to: its reconciler.yaml (lock, state, identity),
    as a DesiredState with no resources. No manifest is read, so a broken one does not stop them (as Terraform's
    `state list` works without configuration); on part of a root the manifests are loaded (`load`), since what
    the path selects is the names of the manifests under it."""
    loader = _Loader(Path(path), os.environ if env is None else env)
    return loader.recorded_only()


class _Loader:
    def __init__(self, path: Path, env: Mapping[str, str]):
        self.path = path
        # ${RECONCILER_WORKSPACE} always interpolates: the workspace selected, or "default"
        self.workspace = env.get(WORKSPACE_VARIABLE) or DEFAULT_WORKSPACE
        self.env = ChainMap({WORKSPACE_VARIABLE: self.workspace}, env)
        # the credentials reconciler would call the APIs with, and those of the environment manifests read
        secrets = credentials(os.environ) + tuple(p for p in credentials(env) if p not in credentials(os.environ))
        self.diagnostics = Diagnostics(secrets=secrets)

    def run(self) -> DesiredState:
        return self._manifests(self._config())

    def _manifests(self, config: Config) -> DesiredState:
        # a broken default is reported in every manifest that inherits it: no cache then
        cache = None if self.broken else DocumentCache.open(self.root, (config.defaults.project, config.defaults.location))
        documents = [doc for file, shown in self._files() for doc in self._documents(file, shown, config, cache)]
        valid = [doc for doc in documents if doc.facts is not None]
        check_all(valid, config, self.diagnostics)
        rows = {doc.facts.name: read_examples(doc, self.root, self.diagnostics) for doc in valid
                if doc.facts.trains_on_examples}
        files = {doc.facts.name: read_data_files(doc, self.root, config, self.diagnostics) for doc in valid
                 if doc.facts.local_files}
        selected = self._selected(documents, valid)
        self._warn_of_strays(config)
        if self.diagnostics.errors or self.diagnostics.unset:
            raise ManifestError(self._cause_first(config), ordered=True)
        built = _build(valid, rows, files, config)
        if cache is not None:
            cache.save()
        return DesiredState(built, config, self.diagnostics.warnings, selected)

    def _config(self) -> Config:
        """The root `path` belongs to (`found`) and its reconciler.yaml; its problems are reported."""
        if not self.path.exists():
            raise ManifestError([Diagnostic(str(self.path), 0, 0, "no such file or directory")])
        self.found = roots.find(self.path)
        self.root = self.found.directory
        config, self.broken = _read_config(self.root, self.env, self.diagnostics, self.workspace)
        return config

    def recorded_only(self) -> DesiredState:
        """No manifest read when the path is the root: reconciler.yaml alone (its lock, state and identity)."""
        config = self._config()
        if self.found.partial:
            return self._manifests(config)  # what it selects is the names of the manifests under it
        if self.diagnostics.errors or self.diagnostics.unset:
            raise ManifestError(self._cause_first(config), ordered=True)
        return DesiredState({}, config, self.diagnostics.warnings)

    def _files(self) -> Iterator[tuple[Path, str]]:
        """Every manifest of the root (names are unique across it and `fromManifest` may point anywhere in it),
        and the file given even if it is no *.yaml."""
        given, walked = self.found.path, False
        a_file = given.is_file()
        for file, shown in manifest_files(self.found.read, self.root, self.diagnostics):
            walked = walked or (a_file and os.path.samefile(file, given))
            yield file, shown
        if a_file and not walked:
            yield given, str(given)

    def _selected(self, documents: list[Document], valid: list[Document]) -> frozenset[str] | None:
        """The names under the path given, when it is part of the root; None: the whole root."""
        if not self.found.partial:
            return None
        if not any(self.found.covers(doc.file) for doc in documents):
            self.diagnostics.add(str(self.found.path), 0, 0, f"no manifests (*.yaml, *.yml) found under this path "
                                 f"(its root is {self.root})", "warning")
        return frozenset(doc.facts.name for doc in valid if self.found.covers(doc.file))

    def _warn_of_strays(self, config: Config) -> None:
        """A lock below the root that is not its lock: a run on that directory as a root of its own wrote it."""
        state = (str(config.lock_path) if config.state.backend == "local"
                 else f"gs://{config.state.bucket}/{config.state.prefix}")
        for stray in self.found.strays:
            if not os.path.abspath(stray).startswith(os.path.abspath(config.lock_path)):  # nor its sidecars
                self.diagnostics.add(str(stray), 0, 0, f"not used: this root's state is {state} "
                                     f"({self.root / CONFIG_FILE}); this lock was written by a run that took "
                                     f"{stray.parent} for a root of its own, and what it records may be live: "
                                     f"compare it with `reconciler status {self.root}`, then delete it", "warning")

    def _cause_first(self, config: Config) -> list[Diagnostic]:
        config_path = str(self.root / CONFIG_FILE)
        causes = frozenset({config_path, str(config.lock_path), WORKSPACE_VARIABLE})
        return cause_first(self.diagnostics.items, self.diagnostics.unset, config_path, self.broken.values(),
                           causes)

    def _documents(self, file: Path, shown: str, config: Config, cache: DocumentCache | None) -> list[Document]:
        """The file's documents, each validated (`facts` and `model` set when valid): from the cache when it was read clean
        before with the same inputs, else read, and cached when not a single diagnostic came of it."""
        text = read_text(file, shown, MAX_MANIFEST_BYTES, self.root, self.diagnostics)
        if text is None:
            return []
        cached = cache.get(text, self.env, self.diagnostics.secrets) if cache is not None else None
        if cached is not None:
            return [Document(shown, file, None, line=entry.line, text=text, index=index, cached=entry)
                    for index, entry in enumerate(cached)]
        before, reads, documents = self.diagnostics.count, {}, []
        for node in compose(text, shown, self.diagnostics):
            data, flagged = to_data(node, shown, self.env, self.diagnostics, reads)
            if data is not None:
                documents.append(Document(shown, file, node, data, flagged))
        for doc in documents:
            self._validate(doc, config)
        if cache is not None and self.diagnostics.count == before:
            for doc in documents:
                doc.cached = CachedDocument.of(doc.line, doc.model)
            cache.put(text, reads, tuple(doc.cached for doc in documents))
        return documents

    def _validate(self, doc: Document, config: Config) -> None:
        """Set the document's model and facts when it is valid; report why when it is not."""
        if not isinstance(doc.data, dict):
            self.diagnostics.at(doc.path, doc.node, "a manifest must be a mapping with apiVersion, kind, "
                                "metadata and spec")
            return
        data = _with_scope_defaults(doc.data, config.defaults)
        inherited = self._inherits_broken(doc, data)
        try:
            doc.model = MANIFEST_ADAPTER.validate_python(data)
        except ValidationError as err:
            report(self.diagnostics, err, TunedModel, doc.path, doc.node, doc.flagged, inherited)
            return
        doc.facts = Facts.of(doc.model)

    def _inherits_broken(self, doc: Document, data: dict) -> frozenset[str]:
        """The scope fields this manifest leaves to a reconciler.yaml default that is broken (recorded as its
        heir: the error is the default's, reported once)."""
        spec = data.get("spec")
        spec_model = spec_type(spec.get("platform")) if isinstance(spec, dict) else None
        if spec_model is None or not spec_model.scoped:
            return frozenset()
        inherited = frozenset(name for name in self.broken if name not in spec)
        where = locate(doc.node, ("spec",))
        mark = (where.key or where.node).start_mark
        for name in inherited:
            self.broken[name].heirs.append((doc.path, mark.line + 1, mark.column + 1))
        return inherited


def read_config(root: Path, env: Mapping[str, str], diagnostics: Diagnostics,
                workspace: str = DEFAULT_WORKSPACE) -> Config:
    """reconciler.yaml at `root`; its problems are reported and the defaults used instead."""
    return _read_config(root, env, diagnostics, workspace)[0]


def _read_config(root: Path, env: Mapping[str, str], diagnostics: Diagnostics,
                 workspace: str) -> tuple[Config, dict[str, BrokenDefault]]:
    """reconciler.yaml, and its scope defaults that are broken (reported): the rest of the file still applies,
    so that a bad default or an unknown field is one error, not one more in every manifest."""
    file = root / CONFIG_FILE
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
    nodes = list(compose(text, shown, diagnostics)) if text is not None else []
    if len(nodes) > 1:
        diagnostics.at(shown, nodes[1], "reconciler.yaml must hold a single document")
    data, flagged = to_data(nodes[0], shown, env, diagnostics) if nodes else ({}, frozenset())
    if not isinstance(data, dict):
        if data is not None:
            diagnostics.at(shown, nodes[0], "reconciler.yaml must be a mapping")
        return Config.default(root), {}
    broken: dict[str, BrokenDefault] = {}
    try:
        parsed: ConfigFile = CONFIG_ADAPTER.validate_python(data)
    except ValidationError as err:
        report(diagnostics, err, ConfigFile, shown, nodes[0], flagged)
        broken = _broken_defaults(err, nodes[0])
        salvaged = _salvaged(data, err)
        if salvaged is None:
            return Config.default(root), broken
        parsed = salvaged
    if len(parsed.defaults.labels) > MAX_LABELS:
        diagnostics.at(shown, locate(nodes[0], ("defaults", "labels")).key,
                       f"too many labels ({len(parsed.defaults.labels)}; at most {MAX_LABELS})")
    problem = lock_file_problem(root, parsed.lockFile)
    if workspace != DEFAULT_WORKSPACE and parsed.stack is None:
        diagnostics.at(shown, nodes[0], f"workspace {workspace!r} needs a `stack:` in {CONFIG_FILE}: a workspace "
                       "is part of the identity resources carry, and so is the stack")
    lock_file = workspace_lock_file(parsed.lockFile, workspace)
    problem = problem or (lock_file_problem(root, lock_file) if lock_file != parsed.lockFile else "")
    if problem and nodes:  # reported; the rest of the file still applies, so that its other problems show too
        diagnostics.at(shown, locate(nodes[0], ("lockFile",)).node, f"lockFile: {problem}")
    elif problem:  # an unreadable reconciler.yaml (reported): the default lock
        diagnostics.add(str(root / lock_file), 0, 0, problem)
    defaults = Defaults(parsed.defaults.project, parsed.defaults.location, dict(parsed.defaults.labels))
    lock_path = Config.default(root).lock_path if problem else root / lock_file
    state = StateSettings(parsed.state.backend, parsed.state.bucket, parsed.state.prefix)
    cost = CostSettings(parsed.cost.charsPerToken, dict(parsed.cost.prices))
    return Config(root=root, lock_path=lock_path, defaults=defaults, state=state, stack=parsed.stack,
                  workspace=workspace, quota_project=parsed.quotaProject, staging=parsed.staging, cost=cost), broken


SCOPE_DEFAULTS = ("project", "location")


def _broken_defaults(err: ValidationError, node: Node) -> dict[str, BrokenDefault]:
    """The scope defaults that failed validation, with the lines they span in reconciler.yaml."""
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


def _with_scope_defaults(data: dict, defaults: Defaults) -> dict:
    """A scoped platform's spec with reconciler.yaml's project and location where it has none (before
    validation, so that a missing scope is reported as such)."""
    spec = data.get("spec")
    spec_model = spec_type(spec.get("platform")) if isinstance(spec, dict) else None
    if spec_model is None or not spec_model.scoped:
        return data
    filled = {"project": defaults.project, "location": defaults.location}
    scope = {k: v for k, v in filled.items() if v is not None and k not in spec}
    return {**data, "spec": {**spec, **scope}}


def _dependency_order(docs: list[Document]) -> list[Document]:
    by_name = {doc.facts.name: doc for doc in docs}
    ordered: list[Document] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        placed.add(name)
        target = by_name[name].facts.upstream
        if target is not None:
            place(target)
        ordered.append(by_name[name])

    for name in sorted(by_name):
        place(name)
    return ordered


def _build(docs: list[Document], rows_by_name: dict[str, tuple[dict, ...]],
           files_by_name: dict[str, tuple[LocalData, ...]], config: Config) -> dict[str, DesiredResource]:
    built: dict[str, DesiredResource] = {}
    settings = (tuple(config.defaults.labels.items()), config.identity, config.staging)  # read by every build
    for doc in _dependency_order(docs):
        name, target = doc.facts.name, doc.facts.upstream
        rows, files = rows_by_name.get(name, ()), files_by_name.get(name, ())
        upstream_digest = built[target].digest if target else None
        # what building reads besides the model: a cached document built with the same is built already
        inputs = (upstream_digest, *settings, doc.source)
        if doc.cached is not None and doc.cached.built is not None and doc.cached.built[0] == inputs:
            built[name] = doc.cached.built[1]
            continue
        model, spec = doc.model, doc.model.spec
        project, location = (spec.project, spec.location) if spec.scoped else (None, None)
        immutable = canonical_immutable(spec, rows, files)
        labels = {**config.defaults.labels, **model.metadata.labels}
        built[name] = DesiredResource(
            name=name, platform=spec.platform, project=project, location=location,
            digest=spec_digest(spec.platform, project, location, immutable, upstream_digest, scoped=spec.scoped),
            immutable=immutable, mutable=canonical_mutable(spec, labels), policy=spec.policy,
            depends_on=target, source=doc.source, examples=rows, identity=config.identity, data=files,
            staging=config.staging if files else None)
        if doc.cached is not None and not rows and not files:  # examples and files are read every time
            doc.cached.built = (inputs, built[name])
    return built
