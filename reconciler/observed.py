"""What the APIs said, as frozen values: the planner's view of the live world.

`refresh` builds an `ObservedState` from API reads (each platform turns its own resources into
`Generation`s); the planner reads it and never talks to an API. Everything here survives a JSON round trip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from operator import attrgetter
from collections.abc import Mapping
from typing import Literal

# The one set of state words, shared by plan, status and wait (the Vertex QUEUED and PENDING states are both
# "queued": neither has started training). Lock files written before the rename say "pending" (OLD_PHASES).
Phase = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled", "expired"]
ACTIVE_PHASES: frozenset[str] = frozenset({"queued", "running", "cancelling"})
TERMINAL_PHASES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "expired"})
ENDED_BADLY: frozenset[str] = frozenset({"failed", "cancelled", "expired"})
OLD_PHASES: dict[str, str] = {"pending": "queued"}  # a word once written to lock files -> today's
# What a job reports about its training, for people watching it (status, wait): volatile, and never committed
# to the lock (the codec leaves these out), so that a loss curve cannot make a lock diff.
TELEMETRY_FIELDS = frozenset({"loss_history", "data_stats", "start_time"})
VOLATILE_FIELDS = frozenset({"progress", "loss", "state"}) | TELEMETRY_FIELDS  # move on their own while a job trains
LOSS_POINTS = 120  # at most this many points of a loss history are kept, evenly spaced, first and last included


@dataclass(frozen=True)
class Generation:
    """One tuning run of one manifest, as the API reports it right now.

    Vertex: a tuningJob plus, once it succeeded, the model version and endpoints it created.
    Gemini API: a tunedModel (the tune and the model are one resource).
    """

    platform: str
    owner: str  # manifest name recovered from ownership labels / the deterministic id
    digest: str  # spec digest recovered from labels / the id ("" when unknown)
    phase: Phase
    job: str | None = None  # the tuning job, where the platform has one apart from the model
    model: str | None = None  # "projects/../models/X@N" or "tunedModels/id"; None if not (yet) created
    model_exists: bool = True  # False: the job says it made a model, but the model is gone (deleted out of band)
    endpoints: tuple[str, ...] = ()  # every endpoint serving this model or one of its checkpoints
    live: dict = field(default_factory=dict)  # mutable fields as live now (displayName, description, labels, ...)
    intent: str = ""  # intent id carried by the resource, if any
    operation: str = ""  # the create operation, where progress and the server's error live
    progress: float | None = None  # percent complete while training, when the API reports it
    loss: float | None = None  # latest mean training loss, when the API reports it
    error: str = ""  # server's error message for failed / cancelled / expired
    state: str = ""  # the API's raw state name, for display
    create_time: str = ""
    loss_history: tuple[tuple[int, float], ...] = ()  # (step, mean training loss), oldest first (Gemini API)
    data_stats: dict = field(default_factory=dict)  # the job's data: {examples, tokens, steps} as reported (Vertex)
    start_time: str = ""  # when training started (RFC 3339), when the API says

    @property
    def key(self) -> str:
        """The identity used to match lock entries: the job where there is one, else the model."""
        return self.job or self.model or ""

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    def describe(self) -> str:
        if self.job:
            return f"tuning job {self.job}" + (f" (model {self.model})" if self.model else "")
        return f"tuned model {self.model}"

    def to_json(self) -> dict:
        return _spelled(self, _JSON_KEYS, _json_values)

    def stable_json(self) -> dict:
        """`to_json` without the VOLATILE_FIELDS: what a plan decides on (fingerprints, a saved plan's inputs)."""
        return _spelled(self, _STABLE_KEYS, _stable_values)

    @classmethod
    def from_json(cls, data: dict) -> Generation:
        values = {name: data[key] for name, key in GENERATION_KEYS.items() if key in data}
        if values.get("phase") in OLD_PHASES:
            values["phase"] = OLD_PHASES[values["phase"]]
        return cls(**{**values, "endpoints": tuple(values.get("endpoints", ())),
                      "loss_history": loss_history(values.get("loss_history", ()))})


# The one spelling of a Generation in every file format (lock, plan fingerprint): declared, never derived
# from the attribute names, so that renaming an attribute cannot silently change a format. A test checks
# that every field is spelled here.
GENERATION_KEYS: dict[str, str] = {
    "platform": "platform", "owner": "owner", "digest": "digest", "phase": "phase", "job": "job",
    "model": "model", "model_exists": "modelExists", "endpoints": "endpoints", "live": "live",
    "intent": "intent", "operation": "operation", "progress": "progress", "loss": "loss", "error": "error",
    "state": "state", "create_time": "createTime", "loss_history": "lossHistory", "data_stats": "dataStats",
    "start_time": "startTime",
}
# to_json is a generation's hottest path (a plan of 10,000 models spells each one two or three times): the
# values are read in C, and only the tuple fields are made lists (JSON has no tuples)
_STABLE_FIELDS = tuple(name for name in GENERATION_KEYS if name not in VOLATILE_FIELDS)
_JSON_KEYS, _STABLE_KEYS = tuple(GENERATION_KEYS.values()), tuple(GENERATION_KEYS[n] for n in _STABLE_FIELDS)
_json_values, _stable_values = attrgetter(*GENERATION_KEYS), attrgetter(*_STABLE_FIELDS)
_TUPLE_KEYS = tuple(GENERATION_KEYS[f.name] for f in fields(Generation) if str(f.type).startswith("tuple"))


def _spelled(generation: Generation, keys: tuple[str, ...], values: attrgetter) -> dict:
    data = dict(zip(keys, values(generation)))
    for key in _TUPLE_KEYS:
        if key in data:
            data[key] = list(data[key])
    return data


@dataclass(frozen=True)
class DataVersion:
    """A gs:// dataset as Cloud Storage reports it: which bytes a job trains (or trained) on."""

    uri: str
    generation: str = ""  # the object generation (an int64, as the API spells it)
    crc32c: str = ""
    md5: str = ""
    size: int = 0
    created: str = ""  # when this generation was written (RFC 3339)
    problem: str = ""  # "" when read; "missing" (404), or why it could not be read

    @property
    def missing(self) -> bool:
        return self.problem == "missing"

    @property
    def read(self) -> bool:
        return not self.problem

    def same_bytes(self, other: DataVersion) -> bool:
        """The same object generation holding the same checksums (a rewrite makes a new generation)."""
        return (self.generation, self.crc32c or other.crc32c, self.md5 or other.md5) == \
            (other.generation, other.crc32c or self.crc32c, other.md5 or self.md5)

    def to_json(self) -> dict:
        return {"uri": self.uri, "generation": self.generation, "crc32c": self.crc32c, "md5": self.md5,
                "size": self.size, "created": self.created, **({"problem": self.problem} if self.problem else {})}

    @classmethod
    def from_json(cls, data: dict) -> DataVersion:
        return cls(**{k: data[k] for k in ("uri", "generation", "crc32c", "md5", "size", "created", "problem")
                      if k in data})


def loss_history(points) -> tuple[tuple[int, float], ...]:
    """(step, loss) pairs as a Generation holds them: at most LOSS_POINTS, evenly spaced, first and last kept."""
    pairs = [(int(step), float(loss)) for step, loss in points]
    if len(pairs) <= LOSS_POINTS:
        return tuple(pairs)
    last = len(pairs) - 1
    return tuple(pairs[round(i * last / (LOSS_POINTS - 1))] for i in range(LOSS_POINTS))


# The one set of words people read for a job's state, in plan reasons, `status`, `wait` and `apply --wait`
# (the phases above are the machine vocabulary of files; these are what a person sees).
STATE_WORDS: dict[str, str] = {
    "queued": "queued", "running": "training", "cancelling": "cancelling",
    "succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled", "expired": "expired",
}
GONE = "gone"


def state_word(generation: Generation | None) -> str:
    """What a person reads for a job's state: `queued`, `training`, `succeeded`, ..., or `gone` (the resource,
    or the model a succeeded job made, no longer exists)."""
    if generation is None or (generation.phase == "succeeded" and not generation.model_exists):
        return GONE
    return STATE_WORDS.get(generation.phase, generation.phase)


def needs_attention(generation: Generation | None) -> str:
    """Why a recorded generation needs a person ("" when it does not): it ended badly, or it is gone."""
    if generation is None:
        return "no longer exists (deleted out of band?)"
    if not generation.model_exists:
        return f"its model {generation.model} no longer exists (deleted out of band?)"
    if generation.phase in ENDED_BADLY:
        return f"{generation.phase}" + (f": {generation.error}" if generation.error else "")
    return ""


@dataclass(frozen=True)
class ObservedState:
    """All managed generations found in the scopes read, keyed by manifest name (oldest first)."""

    generations: tuple[Generation, ...] = ()
    scopes: tuple[str, ...] = ()  # scopes that were read, e.g. "vertex:my-project:us-central1", "gemini-api"
    data: Mapping[str, DataVersion] = field(default_factory=dict)  # gs:// datasets the manifests train on, by URI

    def of(self, owner: str) -> tuple[Generation, ...]:
        return self._by_owner.get(owner, ())

    def find(self, key: str) -> Generation | None:
        return self._by_key.get(key) if key else None

    # Indexes built on first use: the planner asks `of` and `find` once per manifest, and a scan each time made a
    # plan of 10,000 models quadratic (65 s). Not fields: equality and the JSON spelling stay the generations'.
    @cached_property
    def _by_owner(self) -> dict[str, tuple[Generation, ...]]:
        index: dict[str, list[Generation]] = {}
        for g in self.generations:
            index.setdefault(g.owner, []).append(g)
        return {owner: tuple(found) for owner, found in index.items()}

    @cached_property
    def _by_key(self) -> dict[str, Generation]:
        index: dict[str, Generation] = {}
        for g in self.generations:
            if g.key:
                index.setdefault(g.key, g)  # the first, as a scan would find it
        return index

    def fingerprint(self) -> str:
        """A digest of what a plan decides on: a saved plan is stale when this changes.

        Progress and the raw state name move on their own while a job trains; only phases count.
        """
        stable: list = [g.stable_json() for g in self._ordered]
        if self.data:  # absent when no dataset was read, so that earlier fingerprints still hold
            stable.append({uri: [v.generation, v.crc32c, v.problem] for uri, v in sorted(self.data.items())})
        canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> dict:
        found = {"data": [v.to_json() for _, v in sorted(self.data.items())]} if self.data else {}
        return {"scopes": sorted(self.scopes), "generations": [g.to_json() for g in self._ordered], **found}

    @property
    def _ordered(self) -> list[Generation]:
        return sorted(self.generations, key=lambda g: (g.owner, g.create_time, g.key))

    @classmethod
    def from_json(cls, data: dict) -> ObservedState:
        versions = (DataVersion.from_json(v) for v in data.get("data", ()))
        return cls(generations=tuple(Generation.from_json(g) for g in data.get("generations", ())),
                   scopes=tuple(data.get("scopes", ())), data={v.uri: v for v in versions})


def name_tail(name: str) -> str:
    """`projects/P/locations/L/...` -> `locations/L/...`: one resource, however the server spells P
    (project id or number). Names without a project are their own tail."""
    parts = name.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "projects" else name
