"""The lock decoder's fast path (codec.from_json), and the types a generation's keys hold, for both decoders.

A lock of 10,000 entries is 20 MB of JSON. Decoding each key through `_Fields` (a Python call per key, each
ready to say where it is) took over a second, longer than the plan itself. But nearly every entry is one the
Encoder wrote: known keys, each holding a value of the expected type. Those are checked here a whole object at
a time, with exact types; anything else (a hand edit, an unknown key, a wrong type, a value of a subclass) goes
to the full decoder (codec), which decodes it or says exactly what is wrong. So this path needs no messages,
only exactness: it accepts nothing the full decoder refuses, and makes the same values
(tests/state/test_lock_fast_decode.py holds the two to that over a table of damaged entries).
"""

from __future__ import annotations

from operator import contains
from typing import Any

from reconciler.frozen import defaults, made
from reconciler.observed import ACTIVE_PHASES, GENERATION_KEYS, OLD_PHASES, TERMINAL_PHASES, DataVersion, Generation
from reconciler.platforms import PLATFORMS
from reconciler.state.model import AppliedSpec, Imported, Intent, LockEntry

GENERATION_KINDS: dict[str, tuple[type | None, ...]] = {
    "platform": (str,), "owner": (str,), "digest": (str,), "phase": (str,), "job": (str, None),
    "model": (str, None), "model_exists": (bool,), "endpoints": (list,), "live": (dict,), "intent": (str,),
    "operation": (str,), "progress": (float, None), "loss": (float, None), "error": (str,), "state": (str,),
    "create_time": (str,),
}
REQUIRED = ("platform", "owner", "digest", "phase")  # the rest have defaults
PHASES = ACTIVE_PHASES | TERMINAL_PHASES


class Irregular(Exception):
    """Not an entry of the common shape: the full decoder decides."""


_NULL = type(None)


def _exact(kinds: tuple[type | None, ...]) -> tuple[type, ...]:
    """The types `_is` accepts for `kinds`, as exact types (a bool is never an int; a number may be an int)."""
    exact = tuple(_NULL if kind is None else kind for kind in kinds)
    return exact + (int,) if float in exact else exact


def _plain(data: Any, kinds: dict[str, tuple[type, ...]], required: frozenset[str]) -> None:
    """Raise _Irregular unless `data` is an object holding the `required` keys and no key `kinds` does not name,
    each value of one of its key's exact types (the types of the values, paired with their keys' kinds in C
    loops: a Python step per key was most of the fast path's time)."""
    try:
        plain = type(data) is dict and all(map(contains, map(kinds.__getitem__, data), map(type, data.values()))) \
            and data.keys() >= required
    except KeyError:  # a key `kinds` does not name
        plain = False
    if not plain:
        raise Irregular


def _strings(values: list) -> tuple[str, ...]:
    if not all(type(value) is str for value in values):
        raise Irregular
    return tuple(values)


_ENTRY_KINDS = {"platform": (str,), "project": (str, _NULL), "location": (str, _NULL), "digest": (str,),
                "spec": (dict,), "current": (dict, _NULL), "superseded": (list,), "pending": (dict, _NULL),
                "protect": (bool,), "movedFrom": (list,), "imported": (dict, _NULL), "trainedOn": (list,),
                "estimate": (dict,)}
_ENTRY_REQUIRED = frozenset({"platform", "project", "location", "digest", "spec", "current"})


def entry(name: str, data: Any) -> LockEntry:
    _plain(data, _ENTRY_KINDS, _ENTRY_REQUIRED)
    if data["platform"] not in PLATFORMS:
        raise Irregular
    current, pending, imported = data["current"], data.get("pending"), data.get("imported")
    return made(LockEntry, {
        "name": name, "platform": data["platform"], "project": data["project"], "location": data["location"],
        "digest": data["digest"], "spec": _spec_fast(data["spec"]),
        "current": None if current is None else _generation_fast(current),
        "superseded": tuple(map(_generation_fast, data.get("superseded", ()))),
        "pending": None if pending is None else _intent_fast(pending),
        "protect": data.get("protect", False),
        "moved_from": tuple(map(_scope_fast, data.get("movedFrom", ()))),
        "imported": None if imported is None else _imported_fast(imported),
        "trained_on": tuple(map(_data_version_fast, data.get("trainedOn", ()))),
        "estimate": data.get("estimate", {}),
    })


# the lock's keys of a generation (never its telemetry: a lock holding that is refused) -> their exact types
_GENERATION_EXACT = {GENERATION_KEYS[name]: _exact(kinds) for name, kinds in GENERATION_KINDS.items()}
_GENERATION_REQUIRED = frozenset(GENERATION_KEYS[name] for name in REQUIRED)
_GENERATION_DEFAULTS = defaults(Generation)
_RESPELLED = [(key, name) for name, key in GENERATION_KEYS.items() if key != name and name in GENERATION_KINDS]


def _generation_fast(data: Any) -> Generation:
    _plain(data, _GENERATION_EXACT, _GENERATION_REQUIRED)
    fields = {**_GENERATION_DEFAULTS, "live": {}, "data_stats": {}, **data}  # (a dict of its own for each)
    for key, name in _RESPELLED:  # `modelExists` -> `model_exists`, ...
        if key in fields:
            fields[name] = fields.pop(key)
    fields["phase"] = OLD_PHASES.get(fields["phase"], fields["phase"])
    if fields["platform"] not in PLATFORMS or fields["phase"] not in PHASES:
        raise Irregular
    fields["endpoints"] = _strings(fields["endpoints"]) if fields["endpoints"] else ()
    return made(Generation, fields)


_SPEC_KINDS = {"immutable": (dict,), "mutable": (dict,), "policy": (dict,), "managedLabels": (list,)}
_NOTHING: frozenset[str] = frozenset()


def _spec_fast(data: Any) -> AppliedSpec:
    _plain(data, _SPEC_KINDS, _NOTHING)
    labels = data.get("managedLabels")
    return made(AppliedSpec, {"immutable": data.get("immutable"), "mutable": data.get("mutable"),
                               "policy": data.get("policy"),
                               "managed_labels": None if labels is None else tuple(sorted(_strings(labels)))})


# its keys are DataVersion's attribute names
_DATA_VERSION_KINDS = {"uri": (str,), "generation": (str,), "crc32c": (str,), "md5": (str,), "size": (int,),
                       "created": (str,), "problem": (str,)}
_DATA_VERSION_REQUIRED = frozenset({"uri", "generation"})
_DATA_VERSION_DEFAULTS = defaults(DataVersion)


def _data_version_fast(data: Any) -> DataVersion:
    _plain(data, _DATA_VERSION_KINDS, _DATA_VERSION_REQUIRED)
    return made(DataVersion, {**_DATA_VERSION_DEFAULTS, **data})


# rarer, made the ordinary way; every key required

_INTENT_KINDS = {"id": (str,), "action": (str,), "digest": (str,), "createdAt": (str,)}


def _intent_fast(data: Any) -> Intent:
    _plain(data, _INTENT_KINDS, frozenset(_INTENT_KINDS))
    return Intent(id=data["id"], action=data["action"], digest=data["digest"], created_at=data["createdAt"])


_SCOPE_KINDS = {"project": (str, _NULL), "location": (str, _NULL)}


def _scope_fast(data: Any) -> tuple[str | None, str | None]:
    _plain(data, _SCOPE_KINDS, frozenset(_SCOPE_KINDS))
    return data["project"], data["location"]


_IMPORTED_KINDS = {"key": (str,), "at": (str,), "accepted": (list,)}


def _imported_fast(data: Any) -> Imported:
    _plain(data, _IMPORTED_KINDS, frozenset(_IMPORTED_KINDS))
    return Imported(key=data["key"], at=data["at"], accepted=_strings(data["accepted"]))
