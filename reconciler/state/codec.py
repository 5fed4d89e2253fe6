"""The lock's JSON: stable, sorted, two-space text meant to be committed and reviewed, and a strict decoder
whose every complaint names its place (`entries.bot.current.phase: unknown phase 'done'`)."""

from __future__ import annotations

import hashlib
from itertools import compress
from operator import is_not
from typing import Any

from reconciler.observed import GENERATION_KEYS, OLD_PHASES, TELEMETRY_FIELDS, VOLATILE_FIELDS, DataVersion, Generation
from reconciler.platforms import PLATFORMS
from reconciler.state import fast_decode, pretty
from reconciler.state.fast_decode import GENERATION_KINDS, PHASES, REQUIRED
from reconciler.state.model import FORMAT_VERSION, AppliedSpec, Authorization, Imported, Intent, Lock, LockEntry


class InvalidLock(ValueError):
    """The data is not a lock of a known format; `detail` names the first problem and where."""

    def __init__(self, where: str, problem: str):
        self.detail = f"{where}: {problem}" if where else problem
        super().__init__(f"invalid lock data ({self.detail})")


class NewerFormat(ValueError):
    def __init__(self, version: int):
        self.version = version
        super().__init__(f"lock format {version} is newer than this reconciler reads ({FORMAT_VERSION})")


# --- encoding ------------------------------------------------------------------------------------------


def to_json(lock: Lock) -> dict:
    return {**_head(lock), "entries": {name: entry_to_json(entry) for name, entry in lock.entries.items()}}


class Encoder:
    """The exact file text: equal to `json.dumps(to_json(lock), sort_keys=True, indent=2)` plus a newline.

    An apply writes the lock after every side effect; re-encoding a thousand unchanged entries with the
    (pure-Python) indenting encoder each time made writes grow with the size of the lock. So an encoder keeps
    each entry's encoded bytes (its key and the separator before it included) from its previous call and
    reuses them while the entry is the same object (entries are immutable values). While the names are those of
    the previous call (an apply's every write but the first), the entries that changed are found by identity in
    one C loop (map, compress): a write of a 1,000-entry lock with a few changes costs the encoding of those
    few, not a Python step per entry nor an encoding of 2 MB of text; a local write hands the pieces to the
    kernel as they are (`pieces`), without even joining them.
    """

    def __init__(self) -> None:
        self._names: list[str] = []  # the previous call's entry names, sorted
        self._entries: list[LockEntry] = []  # and its entries (kept alive: `is` holds)
        self._blocks: list[bytes] = []  # and their bytes: b",\n" + the entry, indented as inside "entries"

    def encode(self, lock: Lock) -> bytes:
        """The file's bytes (UTF-8)."""
        return b"".join(self.pieces(lock))

    def dumps(self, lock: Lock) -> str:
        """The file's text."""
        return self.encode(lock).decode()

    def pieces(self, lock: Lock) -> list[bytes]:
        """The file's bytes in order, in pieces: what a local write hands to the kernel as they are (writev),
        without joining 2 MB first."""
        head = _text(_head(lock))
        entries = lock.entries
        names = sorted(entries)  # as the Lock keeps them (then this is one pass), and as json.dumps sorts keys
        values = list(map(entries.__getitem__, names))
        if names == self._names:
            blocks = self._blocks
            for index in compress(range(len(names)), map(is_not, self._entries, values)):
                blocks[index] = _entry_block(names[index], values[index])
        else:  # entries were added or removed
            known = dict(zip(self._names, zip(self._entries, self._blocks)))
            blocks = [_cached_block(known.get(name), name, entry) for name, entry in zip(names, values)]
        self._names, self._entries, self._blocks = names, values, blocks
        if not names:
            return [(head + "\n").encode()]
        before, _, after = head.partition('"entries": {}')
        # the first entry has no separator before it
        return [(before + '"entries": {\n').encode(), blocks[0][2:], *blocks[1:], ("\n  }" + after + "\n").encode()]


def _cached_block(known: tuple[LockEntry, bytes] | None, name: str, entry: LockEntry) -> bytes:
    return known[1] if known is not None and known[0] is entry else _entry_block(name, entry)


def _entry_block(name: str, entry: LockEntry) -> bytes:
    """`entry` as one item of the "entries" object, indented to its place, after the separator before it."""
    text = f",\n    {_text(name)}: " + _text(entry_to_json(entry)).replace("\n", "\n    ")
    return text.encode()


def stored_digest(stored: bytes) -> str:
    """The digest of a lock's stored text (Lock.stored_digest; plan.binding.state_digest)."""
    return hashlib.sha256(stored).hexdigest()


def _head(lock: Lock) -> dict:
    return {"version": lock.version, "lineage": lock.lineage, "serial": lock.serial,
            "digestAlgorithm": lock.digest_algorithm, "entries": {},
            **({"released": dict(lock.released)} if lock.released else {}),  # optional: absent when empty
            **({"authorized": [_authorization_to_json(a) for a in lock.authorized]} if lock.authorized else {}),
            **({"appliedPlans": list(lock.applied_plans)} if lock.applied_plans else {})}


def _authorization_to_json(a: Authorization) -> dict:
    return {"plan": a.plan, "name": a.name, "action": a.action, "digest": a.digest, "targets": list(a.targets)}


def _text(value: Any) -> str:
    return pretty.dumps(value)  # json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def entry_to_json(entry: LockEntry) -> dict:
    return {
        "platform": entry.platform,
        "project": entry.project,
        "location": entry.location,
        "digest": entry.digest,
        "spec": _spec_to_json(entry.spec),
        "current": None if entry.current is None else _generation_to_json(entry.current),
        "superseded": [_generation_to_json(g) for g in entry.superseded],
        "pending": None if entry.pending is None else _intent_to_json(entry.pending),
        "protect": entry.protect,
        **({"movedFrom": [{"project": p, "location": loc} for p, loc in entry.moved_from]} if entry.moved_from
           else {}),
        **({"imported": _imported_to_json(entry.imported)} if entry.imported else {}),
        **({"trainedOn": [v.to_json() for v in entry.trained_on]} if entry.trained_on else {}),
        **({"estimate": dict(entry.estimate)} if entry.estimate else {}),
    }


def _generation_to_json(generation: Generation) -> dict:
    """A generation as committed: without what moves while a job trains (progress, loss, the API's raw state) nor
    its telemetry (loss curve, data stats), which only people watching read, so that a poll cannot make a lock
    diff. Locks written before still carry progress, loss and state: they are read, and dropped at the next write."""
    return {k: v for k, v in generation.to_json().items() if k not in _TELEMETRY_KEYS}


_TELEMETRY_KEYS = frozenset(GENERATION_KEYS[name] for name in VOLATILE_FIELDS)  # telemetry and the other volatiles


def _imported_to_json(imported: Imported) -> dict:
    return {"key": imported.key, "at": imported.at, "accepted": list(imported.accepted)}


def _spec_to_json(spec: AppliedSpec) -> dict:
    parts = {"immutable": spec.immutable, "mutable": spec.mutable, "policy": spec.policy}
    found: dict = {key: dict(value) for key, value in parts.items() if value is not None}
    if spec.managed_labels is not None:
        found["managedLabels"] = list(spec.managed_labels)
    return found


def _intent_to_json(intent: Intent) -> dict:
    return {"id": intent.id, "action": intent.action, "digest": intent.digest, "createdAt": intent.created_at}


# --- decoding ------------------------------------------------------------------------------------------


def from_json(data: Any) -> Lock:
    """Validate and decode; raises InvalidLock naming the first problem found, NewerFormat for a newer lock."""
    if not isinstance(data, dict):
        raise InvalidLock("", f"the top level is {_kind(data)}, expected an object")
    top = _Fields(data, "")
    version = top.take("version", int)
    if version < 1:
        raise InvalidLock("version", f"expected a positive integer, got {version}")
    if version > FORMAT_VERSION:
        raise NewerFormat(version)
    lineage = top.take("lineage", str)
    serial = top.take("serial", int)
    if serial < 0:
        raise InvalidLock("serial", f"expected a non-negative integer, got {serial}")
    digest_algorithm = top.take("digestAlgorithm", str)
    entries = top.take("entries", dict)
    if "" in entries:
        raise InvalidLock("entries", "an entry has an empty name")
    decoded: dict[str, LockEntry] = {}
    for name, data in entries.items():
        try:
            decoded[name] = fast_decode.entry(name, data)
        except fast_decode.Irregular:  # not as the Encoder writes it: the full decoder decodes it or says why
            decoded[name] = _entry_from_json(name, data, f"entries.{name}")
    released = _released_from_json(top.optional("released", dict, default={}), top.at("released"))
    authorized = tuple(_authorization_from_json(item, f"authorized[{i}]")
                       for i, item in enumerate(top.optional("authorized", list, default=[])))
    applied_plans = top.strings("appliedPlans") if top.has("appliedPlans") else ()
    top.finish()
    return Lock(version=version, lineage=lineage, serial=serial, digest_algorithm=digest_algorithm, entries=decoded,
                released=released, authorized=authorized,
                applied_plans=applied_plans)


def _authorization_from_json(data: Any, where: str) -> Authorization:
    fields = _Fields(data, where)
    found = Authorization(plan=fields.take("plan", str), name=fields.take("name", str),
                          action=fields.take("action", str), digest=fields.take("digest", str),
                          targets=fields.strings("targets"))
    fields.finish()
    if found.action not in ("train", "retrain", "retire"):
        raise InvalidLock(fields.at("action"), f"not a follow-up action: {found.action!r}")
    return found


def _released_from_json(data: dict, where: str) -> dict[str, str]:
    for key, name in data.items():
        if not key or not isinstance(name, str) or not name:
            raise InvalidLock(f"{where}.{key}", f"expected the name of the entry it was released from, got "
                                                f"{_kind(name) if not isinstance(name, str) else 'an empty string'}")
    return dict(data)


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
            raise InvalidLock(where, f"expected an object, got {_kind(data)}")
        self.data, self.where, self.taken = data, where, set()

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str, *kinds: type | None) -> Any:
        if key not in self.data:
            raise InvalidLock(self.where, f"missing key '{key}'")
        self.taken.add(key)
        value = self.data[key]
        types = [type(None) if kind is None else kind for kind in kinds]
        if not any(_is(value, kind) for kind in types):
            expected = " or ".join(_KIND_NAMES[kind] for kind in types)
            raise InvalidLock(self.at(key), f"expected {expected}, got {_kind(value)}")
        return value

    def optional(self, key: str, *kinds: type | None, default: Any = None) -> Any:
        return self.take(key, *kinds) if key in self.data else default

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.take(key, list)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidLock(f"{self.at(key)}[{i}]", f"expected a string, got {_kind(value)}")
        return tuple(values)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            raise InvalidLock(self.where, f"unknown key '{unknown[0]}'")




def _generation_from_json(data: Any, where: str) -> Generation:
    fields = _Fields(data, where)
    values: dict[str, Any] = {}
    for name, key in GENERATION_KEYS.items():
        if name in TELEMETRY_FIELDS or (name not in REQUIRED and not fields.has(key)):
            continue
        values[name] = fields.strings(key) if name == "endpoints" else fields.take(key, *GENERATION_KINDS[name])
    _known_platform(fields, values["platform"])
    values["phase"] = OLD_PHASES.get(values["phase"], values["phase"])  # a lock written before "queued"
    if values["phase"] not in PHASES:
        raise InvalidLock(fields.at("phase"), f"unknown phase '{values['phase']}' (one of {', '.join(sorted(PHASES))})")
    fields.finish()
    return Generation(**values)


def _known_platform(fields: _Fields, platform: str) -> str:
    if platform not in PLATFORMS:
        raise InvalidLock(fields.at("platform"), f"unknown platform '{platform}' (one of {', '.join(PLATFORMS)})")
    return platform


def _intent_from_json(data: Any, where: str) -> Intent:
    fields = _Fields(data, where)
    intent = Intent(id=fields.take("id", str), action=fields.take("action", str),
                    digest=fields.take("digest", str), created_at=fields.take("createdAt", str))
    fields.finish()
    return intent


def _spec_from_json(data: Any, where: str) -> AppliedSpec:
    fields = _Fields(data, where)
    managed = tuple(sorted(fields.strings("managedLabels"))) if fields.has("managedLabels") else None
    spec = AppliedSpec(immutable=fields.optional("immutable", dict), mutable=fields.optional("mutable", dict),
                       policy=fields.optional("policy", dict), managed_labels=managed)
    fields.finish()
    return spec


def _entry_from_json(name: str, data: Any, where: str) -> LockEntry:
    fields = _Fields(data, where)
    current = fields.take("current", dict, None)
    superseded = fields.optional("superseded", list, default=[])
    pending = fields.optional("pending", dict, None)
    entry = LockEntry(
        name=name,
        platform=_known_platform(fields, fields.take("platform", str)),
        project=fields.take("project", str, None),
        location=fields.take("location", str, None),
        digest=fields.take("digest", str),
        spec=_spec_from_json(fields.take("spec", dict), fields.at("spec")),
        current=None if current is None else _generation_from_json(current, fields.at("current")),
        superseded=tuple(_generation_from_json(g, f"{fields.at('superseded')}[{i}]")
                         for i, g in enumerate(superseded)),
        pending=None if pending is None else _intent_from_json(pending, fields.at("pending")),
        protect=fields.optional("protect", bool, default=False),
        moved_from=tuple(_scope_from_json(s, f"{fields.at('movedFrom')}[{i}]")
                         for i, s in enumerate(fields.optional("movedFrom", list, default=[]))),
        imported=_imported_from_json(fields.optional("imported", dict, None), fields.at("imported")),
        trained_on=tuple(_data_version_from_json(v, f"{fields.at('trainedOn')}[{i}]")
                         for i, v in enumerate(fields.optional("trainedOn", list, default=[]))),
        estimate=fields.optional("estimate", dict, default={}),
    )
    fields.finish()
    return entry


def _data_version_from_json(data: Any, where: str) -> DataVersion:
    fields = _Fields(data, where)
    version = DataVersion(uri=fields.take("uri", str), generation=fields.take("generation", str),
                          crc32c=fields.optional("crc32c", str, default=""), md5=fields.optional("md5", str, default=""),
                          size=fields.optional("size", int, default=0), created=fields.optional("created", str, default=""),
                          problem=fields.optional("problem", str, default=""))
    fields.finish()
    return version


def _imported_from_json(data: Any, where: str) -> Imported | None:
    if data is None:
        return None
    fields = _Fields(data, where)
    imported = Imported(key=fields.take("key", str), at=fields.take("at", str), accepted=fields.strings("accepted"))
    fields.finish()
    return imported


def _scope_from_json(data: Any, where: str) -> tuple[str | None, str | None]:
    fields = _Fields(data, where)
    scope = (fields.take("project", str, None), fields.take("location", str, None))
    fields.finish()
    return scope
