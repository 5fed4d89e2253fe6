"""What the APIs said, as frozen values: the planner's view of the live world.

`refresh` builds an `ObservedState` from API reads; the planner reads it and never talks to an API.
Everything here survives a JSON round trip (`to_json` / `from_json`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Phase = Literal["pending", "running", "cancelling", "succeeded", "failed", "cancelled", "expired"]
ACTIVE_PHASES: frozenset[str] = frozenset({"pending", "running", "cancelling"})
TERMINAL_PHASES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "expired"})

VERTEX_PHASES: dict[str, Phase] = {
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_PAUSED": "running",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
VOLATILE_FIELDS = frozenset({"progress", "loss", "state"})
GEMINI_PHASES: dict[str, Phase] = {"CREATING": "running", "ACTIVE": "succeeded", "FAILED": "failed"}


def digest_matches(full: str, recorded: str) -> bool:
    """Whether a recorded digest names the same spec as `full`: Vertex labels carry a 12-character prefix,
    Gemini ids an 8-character one, the lock the whole digest (either side may be the shorter)."""
    return bool(full and recorded) and (full.startswith(recorded) or recorded.startswith(full))


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
    job: str | None = None  # Vertex tuningJob name; None on the Gemini API
    model: str | None = None  # Vertex "projects/../models/X@N" or Gemini "tunedModels/id"; None if not (yet) created
    model_exists: bool = True  # False: the job says it made a model, but the model is gone (deleted out of band)
    endpoints: tuple[str, ...] = ()  # every endpoint serving this model or one of its checkpoints
    live: dict = field(default_factory=dict)  # mutable fields as live now (displayName, description, labels, ...)
    intent: str = ""  # intent id carried by the resource, if any
    operation: str = ""  # Gemini API: the create operation (progress and the server's error live there)
    progress: float | None = None  # percent complete while training, when the API reports it
    loss: float | None = None  # latest mean training loss, when the API reports it (Gemini API snapshots)
    error: str = ""  # server's error message for failed / cancelled / expired
    state: str = ""  # the API's raw state name, for display
    create_time: str = ""

    @property
    def key(self) -> str:
        """The identity used to match lock entries: the job on Vertex, the model on the Gemini API."""
        return self.job or self.model or ""

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES


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
        stable = [{k: v for k, v in g.items() if k not in VOLATILE_FIELDS} for g in self.to_json()["generations"]]
        canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> dict:
        ordered = sorted(self.generations, key=lambda g: (g.owner, g.create_time, g.key))
        return {"scopes": sorted(self.scopes), "generations": [asdict(g) for g in ordered]}

    @classmethod
    def from_json(cls, data: dict) -> ObservedState:
        generations = tuple(
            Generation(**{**g, "endpoints": tuple(g.get("endpoints", ()))}) for g in data.get("generations", ())
        )
        return cls(generations=generations, scopes=tuple(data.get("scopes", ())))
