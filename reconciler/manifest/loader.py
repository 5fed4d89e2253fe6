"""Loading manifests: files and directories of YAML into a validated `DesiredState`.

Every problem is collected as a located `Diagnostic` and reported together in one `ManifestError`.
The stages: read reconciler.yaml (config) and the manifest files into YAML documents (files, yaml_nodes), validate
each document against the models (schema, explain), check the documents against each other (checks),
read training examples (examples), and build the `DesiredResource` values (canonical).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from reconciler.desired import Config, Defaults, DesiredResource, DesiredState, LocalData
from reconciler.errors import Diagnostic, ManifestError
from reconciler.manifest import config as config_file
from reconciler.manifest import roots
from reconciler.manifest.cache import CachedDocument, DocumentCache, Facts
from reconciler.manifest.checks import check_all
from reconciler.manifest.files import CONFIG_FILE, MAX_MANIFEST_BYTES, manifest_files, read_text
from reconciler.manifest.diagnostics import Diagnostics
from reconciler.manifest.document import Document

# The models (schema: pydantic), their error messages (explain) and the canonical form (canonical) are imported
# where a document is validated or built, and YAML (yaml_nodes), examples and training files where a file is read
# or a manifest trains on them: a load whose every manifest comes from the cache imports neither pydantic nor YAML.


def load(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> DesiredState:
    """Load, validate and canonicalise every manifest of the root `path` belongs to (roots.find), selecting
    those under `path` when it is part of the root (a sub-directory or a file)."""
    return _Loader(Path(path), os.environ if env is None else env).run()


class _Loader:
    def __init__(self, path: Path, env: Mapping[str, str]):
        self.path = path
        self.workspace, self.env, self.diagnostics = config_file.setting(env)

    def run(self) -> DesiredState:
        return self._manifests(self._config())

    def _manifests(self, config: Config) -> DesiredState:
        # a broken default is reported in every manifest that inherits it: no cache then
        cache = None if self.broken else DocumentCache.open(self.root, (config.defaults.project, config.defaults.location))
        documents = [doc for file, shown, plain in self._files()
                     for doc in self._documents(file, shown, plain, config, cache)]
        valid = [doc for doc in documents if doc.facts is not None]
        check_all(valid, config, self.diagnostics)
        rows = _examples([doc for doc in valid if doc.facts.trains_on_examples], self.root, self.diagnostics)
        files = _data_files([doc for doc in valid if doc.facts.local_files], self.root, config, self.diagnostics)
        selected = self._selected(documents, valid)
        self._warn_of_strays(config)
        if self.diagnostics.errors or self.diagnostics.unset:
            raise ManifestError(self._cause_first(config), ordered=True)
        built = _build(valid, rows, files, config)
        if cache is not None:
            cache.save(self.diagnostics.secrets)
        return DesiredState(built, config, self.diagnostics.warnings, selected)

    def _config(self) -> Config:
        """The root `path` belongs to (`found`) and its reconciler.yaml; its problems are reported."""
        if not self.path.exists():
            raise ManifestError([Diagnostic(str(self.path), 0, 0, "no such file or directory")])
        self.found = roots.find(self.path)
        self.root = self.found.directory
        config, self.broken = config_file.read(self.root, self.env, self.diagnostics, self.workspace)
        return config

    def _files(self) -> Iterator[tuple[str, str, bool]]:
        """Every manifest of the root (names are unique across it and `fromManifest` may point anywhere in it),
        and the file given even if it is no *.yaml; each with whether it is `plain` (`manifest_files`)."""
        given, walked = self.found.path, False
        a_file = given.is_file()
        for file, shown, plain in manifest_files(self.found.read, self.root, self.diagnostics):
            walked = walked or (a_file and os.path.samefile(file, given))
            yield file, shown, plain
        if a_file and not walked:
            yield str(given), str(given), False

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
        return config_file.causes_first(self.diagnostics, config, self.broken)

    def _documents(self, file: str, shown: str, plain: bool, config: Config,
                   cache: DocumentCache | None) -> list[Document]:
        """The file's documents, each validated (`facts` and `model` set when valid): from the cache when it was read clean
        before with the same inputs, else read, and cached when not a single diagnostic came of it."""
        secrets, signature = self.diagnostics.secrets, None
        if plain and cache is not None:  # unchanged since it was read clean, by its status: not even read
            cached, signature = cache.recall(file, self.env, secrets)
            if cached is not None:
                return [Document(shown, file, None, line=entry.line, text=None, index=index, cached=entry)
                        for index, entry in enumerate(cached)]
        text = read_text(file, shown, MAX_MANIFEST_BYTES, self.root, self.diagnostics, plain=plain)
        if text is None:
            return []
        cached = cache.get(text, self.env, secrets, file, signature) if cache is not None else None
        if cached is not None:
            return [Document(shown, file, None, line=entry.line, text=text, index=index, cached=entry)
                    for index, entry in enumerate(cached)]
        before, reads, documents = self.diagnostics.count, {}, []
        from reconciler.manifest.yaml_nodes import compose, to_data

        for node in compose(text, shown, self.diagnostics):
            data, flagged = to_data(node, shown, self.env, self.diagnostics, reads)
            if data is not None:
                documents.append(Document(shown, file, node, data, flagged))
        for doc in documents:
            self._validate(doc, config)
        if cache is not None and self.diagnostics.count == before:
            for doc in documents:
                doc.cached = CachedDocument.of(doc.line, doc.model)
            cache.put(text, reads, tuple(doc.cached for doc in documents), file, signature)
        return documents

    def _validate(self, doc: Document, config: Config) -> None:
        """Set the document's model and facts when it is valid; report why when it is not."""
        from pydantic import ValidationError

        from reconciler.manifest.explain import report
        from reconciler.manifest.schema import MANIFEST_ADAPTER, TunedModel

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
        from reconciler.manifest.schema import spec_type

        spec = data.get("spec")
        spec_model = spec_type(spec.get("platform")) if isinstance(spec, dict) else None
        if spec_model is None or not spec_model.scoped:
            return frozenset()
        inherited = frozenset(name for name in self.broken if name not in spec)
        where = doc.locate(("spec",))
        mark = (where.key or where.node).start_mark
        for name in inherited:
            self.broken[name].heirs.append((doc.path, mark.line + 1, mark.column + 1))
        return inherited


def _with_scope_defaults(data: dict, defaults: Defaults) -> dict:
    """A scoped platform's spec with reconciler.yaml's project and location where it has none (before
    validation, so that a missing scope is reported as such)."""
    from reconciler.manifest.schema import spec_type

    spec = data.get("spec")
    spec_model = spec_type(spec.get("platform")) if isinstance(spec, dict) else None
    if spec_model is None or not spec_model.scoped:
        return data
    filled = {"project": defaults.project, "location": defaults.location}
    scope = {k: v for k, v in filled.items() if v is not None and k not in spec}
    return {**data, "spec": {**spec, **scope}}


def _examples(docs: list[Document], root: Path, diagnostics: Diagnostics) -> dict[str, tuple[dict, ...]]:
    """The rows of each manifest that trains on examples (read on every load: they are not cached)."""
    if not docs:
        return {}
    from reconciler.manifest.examples import read_examples

    return {doc.facts.name: read_examples(doc, root, diagnostics) for doc in docs}


def _data_files(docs: list[Document], root: Path, config: Config,
                diagnostics: Diagnostics) -> dict[str, tuple[LocalData, ...]]:
    """The training files in the repository of each manifest that has some (read on every load)."""
    if not docs:
        return {}
    from reconciler.manifest.data_files import read_data_files

    return {doc.facts.name: read_data_files(doc, root, config, diagnostics) for doc in docs}


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
        from reconciler.manifest.canonical import canonical_immutable, canonical_mutable, spec_digest

        model, spec = doc.model, doc.model.spec
        project, location = (spec.project, spec.location) if spec.scoped else (None, None)
        immutable = canonical_immutable(spec, rows, files)
        labels = {**config.defaults.labels, **model.metadata.labels}
        built[name] = DesiredResource(
            name=name, platform=spec.platform, project=project, location=location,
            digest=spec_digest(spec.platform, project, location, immutable, upstream_digest, scoped=spec.scoped),
            immutable=immutable, mutable=canonical_mutable(spec, labels), policy=spec.policy.value(),
            depends_on=target, source=doc.source, examples=rows, identity=config.identity, data=files,
            staging=config.staging if files else None)
        if doc.cached is not None and not rows and not files:  # examples and files are read every time
            doc.cached.built = (inputs, built[name])
    return built
