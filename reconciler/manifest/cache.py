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

The cache is a pickle, so it lives outside the repository, where a pull request cannot plant one:
$RECONCILER_CACHE_DIR, else $XDG_CACHE_HOME/reconciler, else ~/.cache/reconciler; one file per manifest root. It
is read only when it and its directory belong to this user and nobody else may write them. Failing to read or
write it is never an error (a read-only home, a full disk, a race with another run): the run reads everything.
RECONCILER_CACHE=off turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.desired import DesiredResource
    from reconciler.manifest.schema import TunedModel

FORMAT = 1
SWITCH = "RECONCILER_CACHE"  # "off": no cache
DIRECTORY = "RECONCILER_CACHE_DIR"
KEEP = 32  # roots whose caches are kept

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
        if environ.get(SWITCH, "").lower() in ("off", "0", "false", "no"):
            return None
        directory = _directory(environ)
        if directory is None:
            return None
        file = directory / f"manifests-{hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:32]}.pickle"
        header = (FORMAT, _code(), tuple(defaults))
        stored = _load(file)
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
            with contextlib.suppress(OSError):
                os.utime(self.file)  # used: the last to be pruned
            return
        try:
            self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.file.parent, prefix=".tmp-")  # mode 0600
        except OSError:
            return
        try:
            with os.fdopen(descriptor, "wb") as out:
                pickle.dump((self.header, self.used), out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.file)  # atomic: a concurrent run reads the old cache or this one, whole
        except (OSError, pickle.PicklingError, RecursionError):
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return
        _prune(self.file.parent)


def _prune(directory: Path) -> None:
    """The caches of the KEEP roots used last: a root in a temporary directory must not leave its cache behind
    for ever (the modification time is the last write; a cache only read is old but rebuilt when next missed)."""
    with contextlib.suppress(OSError):
        entries = [(entry.name, entry.stat(follow_symlinks=False).st_mtime, entry.path) for entry in os.scandir(directory)]
        caches = sorted((mtime, path) for name, mtime, path in entries if name.startswith("manifests-"))
        abandoned = [path for name, mtime, path in entries  # the temporary file of a run killed while writing
                     if name.startswith(".tmp-") and mtime < time.time() - 3600]
        for path in [path for _, path in caches[:-KEEP]] + abandoned:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _directory(environ: Mapping[str, str]) -> Path | None:
    if environ.get(DIRECTORY):
        return Path(environ[DIRECTORY])
    base = environ.get("XDG_CACHE_HOME") or (os.path.join(environ["HOME"], ".cache") if environ.get("HOME") else "")
    return Path(base, "reconciler") if os.path.isabs(base) else None


def _load(file: Path) -> Any:
    """The pickled (header, entries) of `file`, when it and its directory are this user's own and nobody else
    may write them (unpickling what another user could write would run their code); None otherwise."""
    try:
        if not _private(os.stat(file.parent, follow_symlinks=False)):
            return None
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb") as source:
            if not (_private(os.fstat(source.fileno())) and stat.S_ISREG(os.fstat(source.fileno()).st_mode)):
                return None
            return pickle.load(source)
    except Exception:  # a truncated or foreign file: no cache, whatever unpickling raised
        return None


def _private(status: os.stat_result) -> bool:
    owner = getattr(os, "getuid", lambda: status.st_uid)()
    return status.st_uid == owner and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


_CODE: str | None = None


def _code() -> str:
    """What validated: this package's modules (path, size, modification time), Python's and pydantic's versions."""
    global _CODE
    if _CODE is None:
        import pydantic

        package = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256(f"{sys.version}|{pydantic.VERSION}|{package}".encode())
        for directory, subdirs, files in os.walk(package):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                status = os.stat(os.path.join(directory, name))
                digest.update(f"{directory}/{name}:{status.st_size}:{status.st_mtime_ns}\n".encode())
        _CODE = digest.hexdigest()
    return _CODE
