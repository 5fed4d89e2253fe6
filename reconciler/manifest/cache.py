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
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import pickles

if TYPE_CHECKING:
    from reconciler.desired import DesiredResource
    from reconciler.manifest.schema import TunedModel

FORMAT = 2
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


Signature = tuple[int, int, int, int, int]  # a file's device, inode, size, modification and change times (ns)
SETTLED_NS = 2_000_000_000  # a file's times this much older than the cache: no write since can leave them equal


class DocumentCache:
    """The cached documents of one manifest root; `recall` on every file the walk found as no link, `get` on
    every file read, `put` on every clean miss, `save` once at the end of a load without errors.

    A file is recalled without being read when its status is the one it had when it was last read clean, as git
    trusts its index: same device, inode, size, and modification and change times (the change time no program
    can set back), both older than the cache by more than a file system's timestamp granularity (a write in the
    same tick as the read could leave them equal: such a file is read and hashed), and the credentials it was
    checked against are today's (kept as a salted digest, never their values)."""

    def __init__(self, file: Path, header: tuple, entries: dict[str, tuple[Reads, Cached]],
                 stats: dict[str, tuple[Signature, str]] | None = None, written: int = 0, stamp: bytes = b"",
                 salt: bytes = b""):
        self.file, self.header = file, header
        self.entries = entries
        self.used: dict[str, tuple[Reads, Cached]] = {}
        self.missed = False
        self.stats = stats or {}  # path -> (signature when last read, key of its text), as of `written` (ns)
        self.seen: dict[str, tuple[Signature, str]] = {}
        self.written, self.stamp, self.salt = written, stamp, salt or os.urandom(16)
        self.stamps: dict[tuple[tuple[str, str], ...], bytes] = {}

    @classmethod
    def open(cls, root: Path, defaults: tuple, environ: Mapping[str, str] = os.environ) -> DocumentCache | None:
        """The cache of `root` (empty when there is none yet, or it cannot be trusted); None when turned off."""
        file = KIND.file(os.path.realpath(root), environ)
        if file is None:
            return None
        header = (FORMAT, pickles.code(), tuple(defaults))
        stored = pickles.load(file)
        if not (isinstance(stored, tuple) and len(stored) == 3 and stored[0] == header
                and isinstance(stored[1], dict) and isinstance(stored[2], tuple) and len(stored[2]) == 4):
            return cls(file, header, {})
        return cls(file, header, stored[1], *stored[2])

    def recall(self, file: str, env: Mapping[str, str], secrets: tuple[tuple[str, str], ...]
               ) -> tuple[Cached | None, Signature | None]:
        """The documents of `file` when its status says it is as it was read clean (see the class), with the same
        ${VAR} values; else None: read it. And its signature now (None when it is no regular file), for `get`
        and `put` to remember."""
        try:
            status = os.lstat(file)
        except OSError:
            return None, None
        if not stat.S_ISREG(status.st_mode):
            return None, None
        signature = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        found = self.stats.get(file)
        if (found is None or found[0] != signature or self._stamp(secrets) != self.stamp
                or status.st_mtime_ns >= self.written - SETTLED_NS or status.st_ctime_ns >= self.written - SETTLED_NS):
            return None, signature
        entry = self.entries.get(found[1])
        if entry is None or not reads_hold(entry[0], env):
            return None, signature
        self.used[found[1]] = entry
        self.seen[file] = found
        return entry[1], signature

    def get(self, text: str, env: Mapping[str, str], secrets: tuple[tuple[str, str], ...], file: str | None = None,
            signature: Signature | None = None) -> Cached | None:
        """The documents of `text` when it was validated clean with the same ${VAR} values; None: read it.
        `file` and its `signature` (from `recall`, taken before the text was read) are remembered with it."""
        key = text_key(text)
        found = self.entries.get(key)
        if found is None or any(secret in text for _, secret in secrets):
            return None
        reads, documents = found
        if not reads_hold(reads, env):
            return None
        self.used[key] = found
        self._saw(file, signature, key)
        return documents

    def put(self, text: str, reads: Mapping[str, str | None], documents: Cached, file: str | None = None,
            signature: Signature | None = None) -> None:
        key = text_key(text)
        self.used[key] = (tuple(sorted(reads.items())), documents)
        self.missed = True
        self._saw(file, signature, key)

    def save(self, secrets: tuple[tuple[str, str], ...] = ()) -> None:
        """Keep what this load used (no more: a file edited away is dropped), when it differs from what was read;
        the files' signatures with it, as of now."""
        stamp = self._stamp(secrets)
        if not self.missed and self.used.keys() == self.entries.keys() and self.seen == self.stats \
                and stamp == self.stamp:
            pickles.touch(self.file)  # used: the last to be pruned
        else:
            KIND.store(self.file, (self.header, self.used, (self.seen, time.time_ns(), stamp, self.salt)))

    def _saw(self, file: str | None, signature: Signature | None, key: str) -> None:
        if file is not None and signature is not None:
            self.seen[file] = (signature, key)

    def _stamp(self, secrets: tuple[tuple[str, str], ...]) -> bytes:
        """The credentials' values as a salted digest: whether they are the ones the files were checked against."""
        if secrets not in self.stamps:  # worked out once per load, not once per file
            said = repr(sorted(secrets)).encode("utf-8", "surrogatepass")
            self.stamps[secrets] = hashlib.sha256(self.salt + said).digest()
        return self.stamps[secrets]


def reads_hold(reads: Reads, env: Mapping[str, str]) -> bool:
    """Whether every ${VAR} a text interpolated when it was read still has the value it had (None: unset)."""
    return all(env.get(name) == value for name, value in reads)


def text_key(text: str) -> str:
    """What a text is kept by: the sha256 of its characters."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
