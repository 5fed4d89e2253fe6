"""Everything the planner knows about one manifest name: its manifest, its lock entry and its live generations,
with the derived facts each decision reads (which generation is current, which are superseded)."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.desired import DesiredResource
from reconciler.frozen import once
from reconciler.observed import DataVersion, Generation
from reconciler.plan.model import FieldDiff
from reconciler.state.model import LockEntry


@dataclass(frozen=True)
class Situation:
    """Everything known about one manifest name."""

    name: str
    desired: DesiredResource | None
    entry: LockEntry | None
    live: tuple[Generation, ...]
    replace: bool = False
    compare_specs: bool = False  # digest algorithm changed since the lock was written: compare specs instead
    adopted: tuple[Generation, ...] = field(default=())
    data: tuple[DataVersion, ...] = ()  # the gs:// datasets of the manifest as read now (those that were read)

    @property
    def platform(self) -> str:
        return self.desired.platform if self.desired else self.entry.platform if self.entry else self.live[0].platform

    @property
    def recorded_keys(self) -> frozenset[str]:
        return self.entry.recorded_keys if self.entry else frozenset()

    def live_of(self, key: str) -> Generation | None:
        return next((g for g in self.live if g.key == key), None)

    @once  # asked by most decisions, and by `older`: a frozen value, so computed once
    def current(self) -> Generation | None:
        """The live generation the lock (or an adoption in this plan) calls current."""
        if self.adopted:
            return self.adopted[-1]
        if self.entry and self.entry.current:
            return self.live_of(self.entry.current.key)
        return None

    @property
    def superseded(self) -> tuple[Generation, ...]:
        """Older generations still live: recorded as superseded, or pushed aside by an adoption."""
        return tuple(g for g in self.older if g.model and g.model_exists)

    @property
    def older(self) -> tuple[Generation, ...]:
        """Every older generation still live in any phase (a superseded job may still be cancelling)."""
        if not self.adopted and not (self.entry and self.entry.superseded):
            return ()  # most names: nothing older recorded, nothing adopted
        keys = [r.key for r in self.entry.superseded] if self.entry else []
        if self.adopted and self.entry and self.entry.current:
            keys.append(self.entry.current.key)
        keys += [g.key for g in self.adopted[:-1]]
        current = self.current
        return tuple(g for g in (self.live_of(k) for k in keys) if g and g is not current)

    @property
    def data_changes(self) -> tuple[tuple[DataVersion, DataVersion], ...]:
        """(trained on, now) for each gs:// dataset rewritten since the current generation was created on it."""
        if not self.entry or self.adopted or not self.data or not self.entry.trained_on:
            return ()
        now = {v.uri: v for v in self.data}
        return tuple((old, now[old.uri]) for old in self.entry.trained_on
                     if old.uri in now and now[old.uri].read and not old.same_bytes(now[old.uri]))

    @property
    def data_reason(self) -> str:
        """"training data changed at gs://…: generation A → B" for each rewritten dataset; "" for none."""
        changes = self.data_changes
        return "; ".join(f"training data changed at {new.uri}: generation {old.generation} → {new.generation}"
                         for old, new in changes) if changes else ""

    @property
    def data_diffs(self) -> tuple[FieldDiff, ...]:
        """Each rewritten dataset as a diff of its field's generation (`training.dataset.generation`)."""
        field_of = {uri: name for name, uri in (self.desired.remote_data if self.desired else {}).items()}
        return tuple(FieldDiff(path=f"training.{field_of.get(new.uri, 'dataset')}.generation",
                               before=old.generation, after=new.generation) for old, new in self.data_changes)

    @property
    def applied_digest(self) -> str:
        if self.adopted:
            return self.adopted[-1].digest
        return self.entry.digest if self.entry else ""
