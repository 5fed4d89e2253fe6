"""The desired state: what the manifests ask for, as frozen values that survive a JSON round trip.

`manifest.load` builds it from YAML; the planner and the executor read it. `Policy` is both a manifest field
(validated by pydantic, part of the JSON Schema) and a value here: it is never part of the digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler import ownership
from reconciler.errors import Diagnostic

DIGEST_ALGORITHM = "sha256/v1"


class Policy(BaseModel):
    """What the reconciler may do to the live resource; never part of the digest."""

    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=lambda name, _: name)

    protect: bool = Field(False, description="true: never cancel, retire or delete this resource")
    onDelete: Literal["delete", "orphan"] = Field(
        "delete", description="what removing the manifest does: delete the live resource, or forget it")
    whileRunning: Literal["restart", "wait"] = Field(
        "restart", description="what a spec edit does to a running job: cancel and restart, or wait")
    previousVersion: Literal["retire", "keep"] = Field(
        "retire", description="the old model after a successful retrain: retire (delete) it, or keep it")


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
class Config:
    root: Path
    lock_path: Path  # the local backend's file (for this workspace)
    defaults: Defaults = field(default_factory=Defaults)
    state: StateSettings = field(default_factory=StateSettings)
    stack: str | None = None  # this repository's identity (reconciler.yaml `stack:`)
    workspace: str = DEFAULT_WORKSPACE  # --workspace / RECONCILER_WORKSPACE
    quota_project: str | None = None  # reconciler.yaml `quotaProject`: billed for OAuth calls (x-goog-user-project)

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
        return {**identity, "name": self.name, "platform": self.platform, "project": self.project,
                "location": self.location, "digest": self.digest, "digestAlgorithm": DIGEST_ALGORITHM,
                "immutable": self.immutable, "mutable": self.mutable, "policy": self.policy.model_dump(),
                "dependsOn": self.depends_on, "source": self.source, "examples": list(self.examples)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DesiredResource:
        return cls(name=data["name"], platform=data["platform"], project=data["project"],
                   location=data["location"], digest=data["digest"], immutable=data["immutable"],
                   mutable=data["mutable"], policy=Policy(**data["policy"]), depends_on=data["dependsOn"],
                   source=data["source"], examples=tuple(data["examples"]), identity=data.get("identity"))


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
        canonical: list = [[r.name, r.digest, r.mutable, r.policy.model_dump()] for r in self.resources.values()]
        if self.config.identity:  # what creates carry; absent without a stack, so older fingerprints still hold
            canonical.append(["identity", self.config.identity])
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()
