"""What the APIs said, as frozen values: the planner's view of the live world.

`refresh` builds an `ObservedState` from API reads (each platform turns its own resources into
`Generation`s); the planner reads it and never talks to an API. Everything here survives a JSON round trip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["pending", "running", "cancelling", "succeeded", "failed", "cancelled", "expired"]
ACTIVE_PHASES: frozenset[str] = frozenset({"pending", "running", "cancelling"})
TERMINAL_PHASES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "expired"})
ENDED_BADLY: frozenset[str] = frozenset({"failed", "cancelled", "expired"})
VOLATILE_FIELDS = frozenset({"progress", "loss", "state"})  # move on their own while a job trains


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
        return {key: _plain(getattr(self, name)) for name, key in GENERATION_KEYS.items()}

    @classmethod
    def from_json(cls, data: dict) -> Generation:
        values = {name: data[key] for name, key in GENERATION_KEYS.items() if key in data}
        return cls(**{**values, "endpoints": tuple(values.get("endpoints", ()))})


# The one spelling of a Generation in every file format (lock, plan fingerprint): declared, never derived
# from the attribute names, so that renaming an attribute cannot silently change a format. A test checks
# that every field is spelled here.
GENERATION_KEYS: dict[str, str] = {
    "platform": "platform", "owner": "owner", "digest": "digest", "phase": "phase", "job": "job",
    "model": "model", "model_exists": "modelExists", "endpoints": "endpoints", "live": "live",
    "intent": "intent", "operation": "operation", "progress": "progress", "loss": "loss", "error": "error",
    "state": "state", "create_time": "createTime",
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class ObservedState:
    """All managed generations found in the scopes read, keyed by manifest name (oldest first)."""

    generations: tuple[Generation, ...] = ()
    scopes: tuple[str, ...] = ()  # scopes that were read, e.g. "vertex:my-project:us-central1", "gemini-api"

    def of(self, owner: str) -> tuple[Generation, ...]:
        return tuple(g for g in self.generations if g.owner == owner)

    def find(self, key: str) -> Generation | None:
        return next((g for g in self.generations if key and g.key == key), None)

    def fingerprint(self) -> str:
        """A digest of what a plan decides on: a saved plan is stale when this changes.

        Progress and the raw state name move on their own while a job trains; only phases count.
        """
        volatile = {GENERATION_KEYS[name] for name in VOLATILE_FIELDS}
        stable = [{k: v for k, v in g.items() if k not in volatile} for g in self.to_json()["generations"]]
        canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> dict:
        ordered = sorted(self.generations, key=lambda g: (g.owner, g.create_time, g.key))
        return {"scopes": sorted(self.scopes), "generations": [g.to_json() for g in ordered]}

    @classmethod
    def from_json(cls, data: dict) -> ObservedState:
        return cls(generations=tuple(Generation.from_json(g) for g in data.get("generations", ())),
                   scopes=tuple(data.get("scopes", ())))


def name_tail(name: str) -> str:
    """`projects/P/locations/L/...` -> `locations/L/...`: one resource, however the server spells P
    (project id or number). Names without a project are their own tail."""
    parts = name.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "projects" else name
