"""The desired state: what the manifests ask for, as frozen values that survive a JSON round trip.

`manifest.load` builds it from YAML; the planner and the executor read it. A resource's `Policy` (reconciler.policy)
is never part of the digest. Nothing here imports pydantic: the manifests' models are the loader's business.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import ownership
from reconciler.cost import DEFAULT_CHARS_PER_TOKEN
from reconciler.errors import Diagnostic
from reconciler.frozen import once
from reconciler.policy import Policy

DIGEST_ALGORITHM = "sha256/v1"


@dataclass(frozen=True)
class Defaults:
    project: str | None = None
    location: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True)
class StateSettings:
    """reconciler.yaml's `state:`: where the lock lives."""

    backend: str = "local"  # local | gcs
    bucket: str | None = None
    prefix: str = ""


@dataclass(frozen=True)
class CostSettings:
    """reconciler.yaml's `cost:`: how tokens are estimated from characters, and prices that override the table."""

    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN
    prices: Mapping[str, float] = field(default_factory=dict)  # base model -> USD per 1M training tokens


@dataclass(frozen=True)
class Config:
    root: Path
    lock_path: Path  # the local backend's file (for this workspace)
    defaults: Defaults = field(default_factory=Defaults)
    state: StateSettings = field(default_factory=StateSettings)
    stack: str | None = None  # this repository's identity (reconciler.yaml `stack:`)
    workspace: str = DEFAULT_WORKSPACE  # --workspace / RECONCILER_WORKSPACE
    quota_project: str | None = None  # reconciler.yaml `quotaProject`: billed for OAuth calls (x-goog-user-project)
    staging: str | None = None  # reconciler.yaml `staging`: gs://BUCKET/PREFIX where local datasets are uploaded
    cost: CostSettings = field(default_factory=CostSettings)

    @property
    def identity(self) -> str | None:
        """What live resources carry to say they are this stack's (and workspace's): None without a stack."""
        if self.stack is None:
            return None
        return self.stack if self.workspace == DEFAULT_WORKSPACE else f"{self.stack}_{self.workspace}"

    @classmethod
    def default(cls, root: Path) -> Config:
        return cls(root=root, lock_path=root / "reconciler.lock")


@dataclass(frozen=True)
class LocalData:
    """A training file kept in the repository (Vertex `training.file`/`validationFile`): uploaded to the staging
    location under its content digest before the job is created, so the same bytes are one object."""

    field: str  # the manifest field: "file" or "validationFile"
    path: str  # relative to the manifest root, "/"-separated
    sha256: str
    size: int
    rows: int
    characters: int  # of the text parts: what a token estimate is made from

    def uri(self, staging: str) -> str:
        return f"{staging.rstrip('/')}/sha256-{self.sha256}.jsonl"

    def to_json(self) -> dict:
        return {"field": self.field, "path": self.path, "sha256": self.sha256, "size": self.size,
                "rows": self.rows, "characters": self.characters}


@dataclass(frozen=True)
class DesiredResource:
    name: str
    platform: str
    project: str | None
    location: str | None
    digest: str
    immutable: dict
    mutable: dict
    policy: Policy
    depends_on: str | None
    source: str
    examples: tuple[dict, ...] = ()
    identity: str | None = None  # Config.identity: carried by what is created, never part of the digest
    data: tuple[LocalData, ...] = ()  # training files kept in the repository (their digests are in `immutable`)
    staging: str | None = None  # where `data` is uploaded (reconciler.yaml `staging`), never part of the digest

    @once  # refresh and the planner both ask, of every manifest
    def remote_data(self) -> dict[str, str]:
        """The gs:// datasets this spec trains on, by field (`dataset`, `validationDataset`): not the repository's
        files, not Vertex dataset resources. Read, never changed: the same dict is handed to every caller."""
        training = self.immutable.get("training") or {}
        return {k: v for k, v in sorted(training.items()) if isinstance(v, str) and v.startswith("gs://")}

    def staged(self, field: str) -> str | None:
        """The gs:// URI the local file of `field` is uploaded to (None: no such file, or no staging)."""
        found = next((d for d in self.data if d.field == field), None)
        return found.uri(self.staging) if found and self.staging else None

    @property
    def training_characters(self) -> int | None:
        """Characters of the training rows this tool can read (examples, a local file); None: data not read."""
        if self.examples:
            return sum(len(row["textInput"]) + len(row["output"]) for row in self.examples)
        found = next((d for d in self.data if d.field == "file"), None)
        return found.characters if found else None

    @property
    def short_digest(self) -> str:
        return self.digest[:ownership.SHORT_DIGEST]

    @property
    def tuned_model_id(self) -> str:
        return ownership.deterministic_id(self.name, self.digest, self.identity)

    @property
    def scope(self) -> tuple[str, str | None, str | None]:
        """(platform, project, location); an unscoped platform has neither."""
        return (self.platform, self.project, self.location)

    def to_json(self) -> dict:
        identity = {"identity": self.identity} if self.identity else {}
        data = {"data": [d.to_json() for d in self.data], "staging": self.staging} if self.data else {}
        return {**identity, **data, "name": self.name, "platform": self.platform, "project": self.project,
                "location": self.location, "digest": self.digest, "digestAlgorithm": DIGEST_ALGORITHM,
                "immutable": self.immutable, "mutable": self.mutable, "policy": self.policy.to_json(exclude_none=True),
                "dependsOn": self.depends_on, "source": self.source, "examples": list(self.examples)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DesiredResource:
        return cls(name=data["name"], platform=data["platform"], project=data["project"],
                   location=data["location"], digest=data["digest"], immutable=data["immutable"],
                   mutable=data["mutable"], policy=Policy(**data["policy"]), depends_on=data["dependsOn"],
                   source=data["source"], examples=tuple(data["examples"]), identity=data.get("identity"),
                   data=tuple(LocalData(**d) for d in data.get("data", ())), staging=data.get("staging"))


@dataclass(frozen=True)
class DesiredState:
    resources: dict[str, DesiredResource]
    config: Config
    warnings: tuple[Diagnostic, ...] = ()
    # the manifests a command on part of the root (a sub-directory or a file of it) acts on; None: all of them.
    # Never empty-means-all: an empty selection selects nothing
    selected: frozenset[str] | None = None

    def fingerprint(self) -> str:
        """A digest of everything apply acts on (specs, mutable fields, policies): a saved plan is stale
        when this changes."""
        canonical: list = [[r.name, r.digest, r.mutable, r.policy.to_json()] for r in self.resources.values()]
        if self.config.identity:  # what creates carry; absent without a stack, so older fingerprints still hold
            canonical.append(["identity", self.config.identity])
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()

