"""The cache of validated manifest documents: a file read, parsed and validated without a single diagnostic need
not be again while nothing it was read with has changed. Reading 10,000 manifests is parsing and validating them;
finding them unchanged is reading and hashing their bytes.

An entry is keyed by the sha256 of the file's text and holds each document's line, facts (what the checks
across documents read), validated model and built resource (with what else building it read), with what else
validation read: the ${VAR}s the text interpolated (name -> value, None when unset), checked on every use.
What the whole file depends on is its header: the code that validated (every module of this package, by size and
modification time, and the versions of Python and pydantic) and reconciler.yaml's scope defaults. A file with any
diagnostic (error, warning, unset variable), or holding a credential's current value, is never taken from the cache:
its messages come from a real read every time. Checks across documents, examples and training files are not
cached: they run on every load, and a resource that trains on examples or files is built every time.

The cache is a pickle, kept where and as `reconciler.pickles` says (outside the repository, trusted only when it is
this user's alone; RECONCILER_CACHE=off turns it off): one file per manifest root.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import pickles

if TYPE_CHECKING:
    from reconciler.desired import DesiredResource
    from reconciler.manifest.schema import TunedModel

FORMAT = 1
KEEP = 32  # roots whose caches are kept
KIND = pickles.Kind("manifests-", KEEP)

Reads = tuple[tuple[str, str | None], ...]  # the ${VAR}s a text interpolated: (name, value; None: unset)


@dataclass(frozen=True)  # no slots: a dataclass with slots unpickles through a Python __setstate__, 3x slower
class Facts:
    """What the checks across documents and the loader read of every manifest, whatever else it holds: kept
    beside a cached document's model, so that loading 10,000 cached manifests unpickles none of their models."""

    name: str
    platform: str
    upstream: str | None  # the manifest it continues (fromManifest)
    base_model: str | None
    labels: tuple[str, ...]  # the keys of metadata.labels
    has_labels: bool  # live resources of its platform carry labels
    trains_on_examples: bool
    local_files: bool  # training files in the repository

    @classmethod
    def of(cls, model: TunedModel) -> Facts:
        spec = model.spec
        source = getattr(spec, spec.upstream_field)
        return cls(model.metadata.name, spec.platform, source.fromManifest if source else None,
                   getattr(spec, "baseModel", None), tuple(model.metadata.labels), spec.has_labels,
                   spec.trains_on_examples, not spec.trains_on_examples and bool(spec.training.local_files))


@dataclass
class CachedDocument:
    """A document validated clean: where it starts, its facts, its model (pickled on its own: unpickled only
    when something reads more than the facts), and the resource built from it with the inputs that building
    read besides the model (loader._build: upstream digest, reconciler.yaml's labels, identity and staging, the
    source shown)."""

    line: int
    facts: Facts
    pickled: bytes
    built: tuple[tuple, DesiredResource] | None = None

    @classmethod
    def of(cls, line: int, model: TunedModel) -> CachedDocument:
        return cls(line, Facts.of(model), pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))

    def model(self) -> TunedModel:
        return pickle.loads(self.pickled)


Cached = tuple[CachedDocument, ...]


class DocumentCache:
    """The cached documents of one manifest root; `get` on every file read, `put` on every clean miss, `save`
    once at the end of a load without errors."""

    def __init__(self, file: Path, header: tuple, entries: dict[str, tuple[Reads, Cached]]):
        self.file, self.header = file, header
        self.entries = entries
        self.used: dict[str, tuple[Reads, Cached]] = {}
        self.missed = False

    @classmethod
    def open(cls, root: Path, defaults: tuple, environ: Mapping[str, str] = os.environ) -> DocumentCache | None:
        """The cache of `root` (empty when there is none yet, or it cannot be trusted); None when turned off."""
        file = KIND.file(os.path.realpath(root), environ)
        if file is None:
            return None
        header = (FORMAT, pickles.code(), tuple(defaults))
        stored = pickles.load(file)
        entries = stored[1] if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == header else {}
        return cls(file, header, entries if isinstance(entries, dict) else {})

    def get(self, text: str, env: Mapping[str, str], secrets: tuple[tuple[str, str], ...]) -> Cached | None:
        """The documents of `text` when it was validated clean with the same ${VAR} values; None: read it."""
        key = _key(text)
        found = self.entries.get(key)
        if found is None or any(secret in text for _, secret in secrets):
            return None
        reads, documents = found
        if any(env.get(name) != value for name, value in reads):
            return None
        self.used[key] = found
        return documents

    def put(self, text: str, reads: Mapping[str, str | None], documents: Cached) -> None:
        self.used[_key(text)] = (tuple(sorted(reads.items())), documents)
        self.missed = True

    def save(self) -> None:
        """Keep what this load used (no more: a file edited away is dropped), when it differs from what was read."""
        if not self.missed and self.used.keys() == self.entries.keys():
            pickles.touch(self.file)  # used: the last to be pruned
        else:
            KIND.store(self.file, (self.header, self.used))


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
