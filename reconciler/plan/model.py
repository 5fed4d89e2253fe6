"""The plan: a frozen, JSON-round-trippable list of changes, each with an action, a reason and field diffs.

The action vocabulary is closed (DESIGN §1). A plan records what it was computed from (lock lineage and
serial, fingerprints of the live state and of the manifests) so that a saved plan can be refused as stale.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

FORMAT_VERSION = 2  # 2: content-bound (id, state digest, per-name inputs), root relative

Action = Literal["train", "update", "retrain", "cancel", "delete", "retire", "adopt", "forget", "noop"]

SYMBOLS: dict[str, str] = {
    "train": "+", "update": "~", "retrain": "-/+", "cancel": "!", "delete": "-",
    "retire": "-", "adopt": "<", "forget": "x", "noop": "=",
}
COSTLY: frozenset[str] = frozenset({"train", "retrain"})  # starts a paid tuning job
DESTRUCTIVE: frozenset[str] = frozenset({"cancel", "delete", "retire"})
# Order of the summary line and of the tables: what costs money first, then what destroys.
SUMMARY_ORDER: tuple[str, ...] = ("train", "retrain", "update", "cancel", "delete", "retire", "adopt", "forget")


@dataclass(frozen=True)
class FieldDiff:
    path: str  # e.g. "displayName", "hyperParameters.epochCount", "labels.team"
    before: Any = None
    after: Any = None
    kind: Literal["changed", "added", "removed"] = "changed"


@dataclass(frozen=True)
class Change:
    name: str  # manifest name
    action: Action
    reason: str  # a sentence a reviewer can read
    platform: str
    diffs: tuple[FieldDiff, ...] = ()
    targets: tuple[str, ...] = ()  # live resources the action touches (job / model names)
    digest: str = ""  # the desired spec digest (train, retrain, update, adopt)
    after: str = ""  # a dependency that must have succeeded first (fromManifest)
    attention: str = ""  # a fact the reviewer should know even if nothing changes (failed job, deleted model)
    spec: dict = field(default_factory=dict)  # train/retrain: the full planned spec (DesiredResource.to_json)
    moved_from: str = ""  # train/retrain into another project/location: the scope the old generation lives in
    reviewed_in: str = ""  # a follow-up a reviewed plan authorized (its id), carried out by a later apply
    estimate: dict = field(default_factory=dict)  # train/retrain: the cost estimate (cost.Estimate.to_json())

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.action]

    @property
    def costly(self) -> bool:
        return self.action in COSTLY

    @property
    def is_change(self) -> bool:
        return self.action != "noop"


class Deferred:
    """A digest worked out when first read, once: the fingerprints of 10,000 live models and manifests are a third
    of a plan's own time, and only a saved plan (its JSON, its id) reads them. Equal to the text it stands for."""

    __slots__ = ("_compute", "_text")

    def __init__(self, compute: Callable[[], str]):
        self._compute, self._text = compute, None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._compute()
        return self._text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (str, Deferred)) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    lock_lineage: str = ""
    lock_serial: int = 0
    state_digest: str = ""  # the whole state's content when the plan was made
    inputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # binding.inputs of what it acts on
    observed_fingerprint: str | Deferred = ""  # the planner's are Deferred: worked out only if the plan is saved
    desired_fingerprint: str | Deferred = ""
    digest_algorithm: str = ""
    root: str = ""  # the manifest path, relative to the directory plan ran in (a saved plan applies from any checkout)
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    @property
    def attention(self) -> tuple[Change, ...]:
        """Facts a reviewer (or a drift check) must see even when nothing changes: they come first everywhere."""
        return tuple(c for c in self.changes if c.attention)

    @property
    def reviewed_follow_ups(self) -> tuple[Change, ...]:
        """Changes an earlier reviewed plan authorized (`reviewed in plan X`): carried out without a new review."""
        return tuple(c for c in self.changes if c.reviewed_in and c.is_change)

    @property
    def id(self) -> str:
        """A digest of the whole plan: what `apply` names it by, and what an edit to a saved plan breaks."""
        return content_id(self.to_json(with_id=False))

    def counts(self) -> Counter:
        return Counter(c.action for c in self.changes if c.is_change)

    def to_json(self, *, with_id: bool = True) -> dict:
        data = {
            "formatVersion": self.format_version,
            "createdAt": self.created_at,
            "root": self.root,
            "digestAlgorithm": self.digest_algorithm,
            "lock": {"lineage": self.lock_lineage, "serial": self.lock_serial, "digest": self.state_digest},
            "inputs": {name: dict(parts) for name, parts in sorted(self.inputs.items())},
            "observedFingerprint": str(self.observed_fingerprint),
            "desiredFingerprint": str(self.desired_fingerprint),
            "targets": list(self.targets),
            "replace": list(self.replace),
            "summary": {action: self.counts().get(action, 0) for action in SUMMARY_ORDER},
            "hasChanges": self.has_changes,
            "changes": [_change_to_json(c) for c in self.changes],
        }
        return {"id": content_id(data), **data} if with_id else data

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        version = data.get("formatVersion")
        if version != FORMAT_VERSION:
            raise ValueError(f"plan format {version!r} is not supported (expected {FORMAT_VERSION})")
        plan = cls(
            changes=tuple(_change_from_json(c) for c in data["changes"]),
            lock_lineage=data["lock"]["lineage"],
            lock_serial=data["lock"]["serial"],
            state_digest=data["lock"]["digest"],
            inputs={name: dict(parts) for name, parts in data["inputs"].items()},
            observed_fingerprint=data["observedFingerprint"],
            desired_fingerprint=data["desiredFingerprint"],
            digest_algorithm=data["digestAlgorithm"],
            root=data["root"],
            targets=tuple(data.get("targets", ())),
            replace=tuple(data.get("replace", ())),
            created_at=data.get("createdAt", ""),
        )
        if data.get("id") != plan.id:
            raise AlteredPlan(f"its content does not match its id {str(data.get('id'))[:12]!r}: it was edited "
                              "after `reconciler plan` wrote it")
        return plan


class AlteredPlan(ValueError):
    """A saved plan whose content no longer matches the id it was written with."""


def content_id(data: dict) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _change_to_json(change: Change) -> dict:
    """The change's fields as they are (asdict deep-copied every planned spec: most of a plan's id): the values
    are plain JSON data that nothing edits, and only this dict gets keys added."""
    data = _fields(change)
    data["symbol"] = change.symbol
    data["costly"] = change.costly
    data["targets"] = list(change.targets)
    data["diffs"] = [_fields(d) for d in change.diffs]
    return data


def _fields(value: Change | FieldDiff) -> dict:
    return {f.name: getattr(value, f.name) for f in fields(value)}


def _change_from_json(data: dict) -> Change:
    fields = {k: v for k, v in data.items() if k not in ("symbol", "costly")}
    fields["diffs"] = tuple(FieldDiff(**d) for d in data.get("diffs", ()))
    fields["targets"] = tuple(data.get("targets", ()))
    return Change(**fields)
