"""The lock file: what this repository owns on the live APIs, and the run lock that guards it.

`reconciler.lock` is stable, sorted JSON meant to be committed and reviewed: a format version, a lineage
(which history of the file this is), a serial (incremented on every write) and one entry per manifest
name. `write` replaces it atomically and keeps the previous version as `reconciler.lock.backup`, so a
crash at any moment leaves a complete file. `exclusive` is the run lock: an advisory `flock` on the
sibling file `reconciler.lock.lock`, which also records who holds it.
"""

from __future__ import annotations

import dataclasses
import functools
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import LockfileError, StateLockedError
from reconciler.observed import ACTIVE_PHASES, TERMINAL_PHASES, Generation

FORMAT_VERSION = 1

StrPath = str | os.PathLike[str]


def _utc_now() -> str:
    """The timestamp format used in the lock: `2026-11-21T09:00:00Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Intent:
    """A side effect about to be attempted, recorded before it starts so that a crash leaves a trace."""

    id: str  # carried by the resource it creates (a Vertex label value: lowercase hex, 32 characters)
    action: str
    digest: str
    created_at: str

    @classmethod
    def new(cls, action: str, digest: str) -> Intent:
        return cls(id=uuid.uuid4().hex, action=action, digest=digest, created_at=_utc_now())


@dataclass(frozen=True)
class LockEntry:
    """What one manifest owns: the applied spec and the generations it trained."""

    name: str
    platform: str
    project: str | None
    location: str | None
    digest: str  # spec digest of the last applied spec
    spec: dict  # the applied spec, opaque here
    current: Generation | None  # the generation for `digest` (may still be training)
    superseded: tuple[Generation, ...] = ()  # older generations still live, awaiting retirement
    pending: Intent | None = None
    protect: bool = False


@dataclass(frozen=True)
class Lock:
    """The whole lock file. Updates are pure; only `write` moves the serial."""

    version: int
    lineage: str
    serial: int
    digest_algorithm: str
    entries: Mapping[str, LockEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, entry in self.entries.items():
            if name != entry.name:
                raise ValueError(f"lock entry {entry.name!r} filed under {name!r}")
        object.__setattr__(self, "entries", dict(sorted(self.entries.items())))

    def with_entry(self, entry: LockEntry) -> Lock:
        return dataclasses.replace(self, entries={**self.entries, entry.name: entry})

    def without(self, name: str) -> Lock:
        return dataclasses.replace(self, entries={k: v for k, v in self.entries.items() if k != name})

    def to_json(self) -> dict:
        return {**self.to_json_head(),
                "entries": {name: _entry_to_json(entry) for name, entry in self.entries.items()}}

    def to_json_head(self) -> dict:
        """Everything but the entries (which are then empty)."""
        return {"version": self.version, "lineage": self.lineage, "serial": self.serial,
                "digestAlgorithm": self.digest_algorithm, "entries": {}}

    @classmethod
    def from_json(cls, data: Any) -> Lock:
        """Validate and decode; raises LockfileError naming the first problem found."""
        if not isinstance(data, dict):
            raise _Invalid("", f"the top level is {_kind(data)}, expected an object")
        top = _Fields(data, "")
        version = top.take("version", int)
        if version < 1:
            raise _Invalid("version", f"expected a positive integer, got {version}")
        if version > FORMAT_VERSION:
            raise _NewerFormat(version)
        lineage = top.take("lineage", str)
        serial = top.take("serial", int)
        if serial < 0:
            raise _Invalid("serial", f"expected a non-negative integer, got {serial}")
        digest_algorithm = top.take("digestAlgorithm", str)
        entries = _Fields(top.take("entries", dict), "entries")
        if "" in entries.keys():
            raise _Invalid("entries", "an entry has an empty name")
        decoded = {name: _entry_from_json(name, entries.take(name, dict), f"entries.{name}")
                   for name in entries.keys()}
        top.finish()
        return cls(version=version, lineage=lineage, serial=serial, digest_algorithm=digest_algorithm,
                   entries=decoded)


def empty(digest_algorithm: str) -> Lock:
    """A lock for a repository that owns nothing yet: a new lineage at serial 0."""
    return Lock(version=FORMAT_VERSION, lineage=str(uuid.uuid4()), serial=0,
                digest_algorithm=digest_algorithm, entries={})


def _dumps(lock: Lock) -> str:
    """The exact file text: sorted keys, two-space indent, trailing newline.

    Equal to `json.dumps(lock.to_json(), sort_keys=True, indent=2)`, but each entry's text is kept between
    writes: an apply writes the lock after every side effect, and re-encoding a thousand unchanged entries
    with the (pure-Python) indenting encoder each time made writes grow with the size of the lock.
    """
    text = _json(lock.to_json_head())
    if not lock.entries:
        return text + "\n"
    global _ENTRY_TEXT
    cache, _ENTRY_TEXT = _ENTRY_TEXT, {}
    blocks = []
    for name, entry in sorted(lock.entries.items()):
        cached = cache.get(id(entry))
        block = cached[1] if cached and cached[0] is entry else _json(_entry_to_json(entry)).replace("\n", "\n    ")
        _ENTRY_TEXT[id(entry)] = (entry, block)
        blocks.append(f"    {_json(name)}: {block}")
    return text.replace('"entries": {}', '"entries": {\n' + ",\n".join(blocks) + "\n  }", 1) + "\n"


_ENTRY_TEXT: dict[int, tuple[LockEntry, str]] = {}  # id(entry) -> (entry, its indented text); see _dumps


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def read(path: StrPath) -> Lock | None:
    """The lock at `path`, or None when there is none yet."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise LockfileError(f"cannot read {path}: {err.strerror}") from None
    return _load(path, raw)


def write(path: StrPath, lock: Lock) -> Lock:
    """Atomically replace the lock at `path` with `lock` at the next serial; returns the lock as written.

    Refuses to overwrite a lock that moved since `lock` was read (another lineage or serial), or one
    written by a newer reconciler. The previous file is kept as `<path>.backup`.
    """
    written = dataclasses.replace(lock, version=FORMAT_VERSION, serial=lock.serial + 1)
    text = _dumps(written).encode()
    path = Path(path)
    try:
        previous = path.read_bytes()
    except FileNotFoundError:
        previous = None
    except OSError as err:
        raise LockfileError(f"cannot read {path}: {err.strerror}") from None
    if previous is not None:
        _check_unchanged(path, previous, lock)
    try:
        mode = _mode_of(path)
        if previous is not None:
            _replace_atomically(_backup_path(path), previous, mode)
        _replace_atomically(path, text, mode)
    except OSError as err:
        raise LockfileError(f"cannot write {path}: {err.strerror or err}; the previous version is intact") from None
    try:
        _fsync_directory(path.parent)
    except OSError as err:
        raise LockfileError(f"wrote {path} but could not make it durable: {err.strerror or err}") from None
    return written


# --- decoding ------------------------------------------------------------------------------------------


class _Invalid(LockfileError):
    def __init__(self, where: str, problem: str):
        self.detail = f"{where}: {problem}" if where else problem
        super().__init__(f"invalid lock data ({self.detail})")


class _NewerFormat(LockfileError):
    def __init__(self, version: int):
        self.version = version
        super().__init__(f"lock format {version} is newer than this reconciler reads ({FORMAT_VERSION})")


_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               dict: "an object", list: "a list", type(None): "null"}


def _kind(value: Any) -> str:
    return next(name for t, name in _KIND_NAMES.items() if isinstance(value, t))


def _is(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


class _Fields:
    """One JSON object being decoded; every problem names its place, like `entries.bot.current.phase`."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise _Invalid(where, f"expected an object, got {_kind(data)}")
        self.data, self.where, self.taken = data, where, set()

    def keys(self) -> list[str]:
        return list(self.data)

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str, *kinds: type | None) -> Any:
        if key not in self.data:
            raise _Invalid(self.where, f"missing key '{key}'")
        self.taken.add(key)
        value = self.data[key]
        types = [type(None) if kind is None else kind for kind in kinds]
        if not any(_is(value, kind) for kind in types):
            expected = " or ".join(_KIND_NAMES[kind] for kind in types)
            raise _Invalid(self.at(key), f"expected {expected}, got {_kind(value)}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.take(key, list)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise _Invalid(f"{self.at(key)}[{i}]", f"expected a string, got {_kind(value)}")
        return tuple(values)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            raise _Invalid(self.where, f"unknown key '{unknown[0]}'")


@functools.cache
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


_GENERATION_KINDS: dict[str, tuple[type | None, ...]] = {
    "platform": (str,), "owner": (str,), "digest": (str,), "phase": (str,), "job": (str, None),
    "model": (str, None), "model_exists": (bool,), "endpoints": (list,), "live": (dict,), "intent": (str,), "operation": (str,),
    "progress": (float, None), "loss": (float, None), "error": (str,), "state": (str,), "create_time": (str,),
}
_PHASES = ACTIVE_PHASES | TERMINAL_PHASES


def _generation_to_json(generation: Generation) -> dict:
    return {_camel(f.name): (list(value) if isinstance(value := getattr(generation, f.name), tuple) else value)
            for f in dataclasses.fields(Generation)}


def _generation_from_json(data: Any, where: str) -> Generation:
    fields = _Fields(data, where)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Generation):
        key = _camel(f.name)
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if has_default and not fields.has(key):
            continue
        if f.name == "endpoints":
            values[f.name] = fields.strings(key)
        else:
            values[f.name] = fields.take(key, *_GENERATION_KINDS[f.name])
    if values["phase"] not in _PHASES:
        raise _Invalid(fields.at("phase"), f"unknown phase '{values['phase']}' (one of {', '.join(sorted(_PHASES))})")
    fields.finish()
    return Generation(**values)


def _intent_to_json(intent: Intent) -> dict:
    return {"id": intent.id, "action": intent.action, "digest": intent.digest, "createdAt": intent.created_at}


def _intent_from_json(data: Any, where: str) -> Intent:
    fields = _Fields(data, where)
    intent = Intent(id=fields.take("id", str), action=fields.take("action", str),
                    digest=fields.take("digest", str), created_at=fields.take("createdAt", str))
    fields.finish()
    return intent


def _entry_to_json(entry: LockEntry) -> dict:
    return {
        "platform": entry.platform,
        "project": entry.project,
        "location": entry.location,
        "digest": entry.digest,
        "spec": entry.spec,
        "current": None if entry.current is None else _generation_to_json(entry.current),
        "superseded": [_generation_to_json(g) for g in entry.superseded],
        "pending": None if entry.pending is None else _intent_to_json(entry.pending),
        "protect": entry.protect,
    }


def _entry_from_json(name: str, data: Any, where: str) -> LockEntry:
    fields = _Fields(data, where)
    current = fields.take("current", dict, None)
    superseded = fields.take("superseded", list) if fields.has("superseded") else []
    pending = fields.take("pending", dict, None) if fields.has("pending") else None
    entry = LockEntry(
        name=name,
        platform=fields.take("platform", str),
        project=fields.take("project", str, None),
        location=fields.take("location", str, None),
        digest=fields.take("digest", str),
        spec=fields.take("spec", dict),
        current=None if current is None else _generation_from_json(current, fields.at("current")),
        superseded=tuple(_generation_from_json(g, f"{fields.at('superseded')}[{i}]")
                         for i, g in enumerate(superseded)),
        pending=None if pending is None else _intent_from_json(pending, fields.at("pending")),
        protect=fields.take("protect", bool) if fields.has("protect") else False,
    )
    fields.finish()
    return entry


def _recovery_advice(path: StrPath) -> str:
    backup = _backup_path(Path(path))
    rebuild = "to rebuild ownership from live resources"
    if backup.exists():
        return f"restore {path}.backup or delete it {rebuild}"
    return f"delete it {rebuild} (there is no {path}.backup)"


class _CorruptFile(LockfileError):
    """Unreadable as a lock of a format we know: safe to overwrite (the backup keeps the bytes)."""


def _load(path: StrPath, raw: bytes) -> Lock:
    def corrupt(detail: str) -> _CorruptFile:
        return _CorruptFile(f"{path} is corrupt ({detail}); {_recovery_advice(path)}")

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise corrupt(f"not UTF-8 text at byte {err.start}") from None
    if not text.strip():
        raise corrupt("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise corrupt(f"line {err.lineno}: {err.msg}") from None
    try:
        return Lock.from_json(data)
    except _NewerFormat as err:
        raise LockfileError(f"{path} was written by a newer reconciler (format {err.version}; this one reads "
                            f"format {FORMAT_VERSION}); upgrade reconciler") from None
    except _Invalid as err:
        raise corrupt(err.detail) from None


def _check_unchanged(path: Path, previous: bytes, lock: Lock) -> None:
    """Only the head is compared (a full decode per write would grow with the lock); corrupt files may go."""
    try:
        on_disk = json.loads(previous)
    except ValueError:
        return
    if not isinstance(on_disk, dict):
        return
    version = on_disk.get("version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise LockfileError(f"{path} was written by a newer reconciler (format {version}; this one reads "
                            f"format {FORMAT_VERSION}); upgrade reconciler")
    lineage, serial = on_disk.get("lineage"), on_disk.get("serial")
    if (lineage, serial) != (lock.lineage, lock.serial):
        raise LockfileError(
            f"{path} changed since it was read (it is now serial {serial} of lineage {lineage}; "
            f"this run read serial {lock.serial} of lineage {lock.lineage}); another run or a checkout "
            f"replaced it: run the command again")


# --- atomic files --------------------------------------------------------------------------------------


def _backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


def _mode_of(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def _replace_atomically(target: Path, data: bytes, mode: int | None) -> None:
    """Write `data` to a hidden temp file beside `target`, fsync it, then rename it over `target`."""
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Temp files left by a run that died mid-write; only the holder of the run lock may call this."""
    prefixes = (f".{path.name}.", f".{_backup_path(path).name}.")
    try:
        for temp in path.parent.iterdir():
            if temp.name.startswith(prefixes) and temp.name.endswith(".tmp"):
                temp.unlink(missing_ok=True)
    except OSError:
        pass  # best effort: a leftover temp file is litter, never state


# --- the run lock --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the run lock."""

    pid: int
    host: str
    command: str
    started: str
    previous: Holder | None = None  # a holder that died without releasing the lock, taken over by this one

    def to_json(self) -> dict:
        return {"pid": self.pid, "host": self.host, "command": self.command, "started": self.started}

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        """The holder recorded in a lock file, or None when the record is missing or unreadable."""
        try:
            data = json.loads(text)
            holder = cls(pid=data["pid"], host=data["host"], command=data["command"], started=data["started"])
        except (ValueError, TypeError, KeyError):
            return None
        valid = (isinstance(holder.pid, int) and all(isinstance(v, str) for v in
                                                     (holder.host, holder.command, holder.started)))
        return holder if valid else None

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} ({self.command}, started {self.started})"


def _run_lock_path(path: StrPath) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextmanager
def exclusive(path: StrPath, command: str) -> Iterator[Holder]:
    """Hold the run lock of the lock file at `path` for the duration of the block.

    Raises StateLockedError naming the holder when another live process has it. A lock left behind by
    a process that died is taken over, and reported as `Holder.previous`.
    """
    lock_path = _run_lock_path(path)
    fd, previous = _acquire(lock_path)
    try:
        holder = Holder(pid=os.getpid(), host=socket.gethostname(), command=command, started=_utc_now(),
                        previous=previous)
        try:
            _record(fd, holder)
        except OSError as err:
            raise LockfileError(f"cannot record this run in {lock_path}: {err.strerror}") from None
        _remove_stale_temps(Path(path))
        yield holder
    finally:
        _release(fd, lock_path)


def _acquire(lock_path: Path) -> tuple[int, Holder | None]:
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise LockfileError(f"cannot create {lock_path}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _wait_for_record(fd)
            os.close(fd)
            raise _locked(holder, lock_path) from None
        except OSError as err:
            os.close(fd)
            raise LockfileError(f"cannot lock {lock_path}: {err.strerror}") from None
        if _is_same_file(fd, lock_path):
            return fd, Holder.from_text(_contents(fd))
        os.close(fd)  # a releasing holder removed this file between our open and our flock: start over


def _locked(holder: Holder | None, lock_path: Path) -> StateLockedError:
    who = holder.describe() if holder else "another process (which has not recorded who it is yet)"
    err = StateLockedError(f"state is locked by {who}; wait for it to finish, or if that process is gone "
                           f"remove {lock_path}")
    err.holder = holder
    return err


def _wait_for_record(fd: int, attempts: int = 20) -> Holder | None:
    """A holder writes its record just after acquiring: give it a moment before reporting it unknown."""
    for _ in range(attempts):
        holder = Holder.from_text(_contents(fd))
        if holder:
            return holder
        time.sleep(0.025)
    return None


def _contents(fd: int) -> str:
    return os.pread(fd, 65536, 0).decode("utf-8", errors="replace")


def _record(fd: int, holder: Holder) -> None:
    data = (json.dumps(holder.to_json(), sort_keys=True) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _is_same_file(fd: int, path: Path) -> bool:
    try:
        on_path = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_path.st_dev, on_path.st_ino)


def _release(fd: int, lock_path: Path) -> None:
    """Remove the file while still holding it (waiters then retry on a fresh file), then unlock."""
    try:
        if _is_same_file(fd, lock_path):
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
