"""A workspace: one manifest root with its lock file and its connection to the APIs.

This is the wiring every API-facing command shares: load the manifests, read the lock, connect to the
platforms they need, read the live state, and plan. The CLI renders; the workspace does not print.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reconciler import lockfile, manifests, planner, refresh
from reconciler.clients import Clients, connect
from reconciler.errors import StalePlanError, UserError
from reconciler.lockfile import Lock
from reconciler.observed import ObservedState
from reconciler.plan import Plan
from reconciler.resources import DIGEST_ALGORITHM, DesiredState


@dataclass
class Workspace:
    root: str
    desired: DesiredState
    lock: Lock | None
    clients: Clients | None = None
    observed: ObservedState = field(default_factory=ObservedState)

    @property
    def lock_path(self) -> Path:
        return self.desired.config.lock_path

    def scopes(self) -> list[tuple[str, str | None, str | None]]:
        scopes = {r.scope if r.platform == "vertex" else ("gemini-api", None, None)
                  for r in self.desired.resources.values()}
        for entry in (self.lock.entries.values() if self.lock else ()):
            scopes.add((entry.platform, entry.project, entry.location) if entry.platform == "vertex"
                       else ("gemini-api", None, None))
        return sorted(scopes, key=lambda s: tuple(x or "" for x in s))

    def platforms(self) -> set[str]:
        return {platform for platform, _, _ in self.scopes()}

    observed_at: float = 0.0  # time.monotonic() when the live state was listed

    def refresh(self) -> ObservedState:
        self.observed_at = time.monotonic()
        entries = self.lock.entries.values() if self.lock else ()
        records = [g for e in entries for g in (e.current, *e.superseded) if g]
        self.observed = refresh.refresh(
            self.scopes(),
            known_names=set(self.desired.resources) | {e.name for e in entries},
            lock_keys={g.key for g in records},
            vertex=self.clients.vertex if self.clients else None,
            gemini=self.clients.gemini if self.clients else None,
            operations={g.model: g.operation for g in records if g.operation and g.model},
        )
        return self.observed

    def plan(self, targets: frozenset[str] = frozenset(), replace: frozenset[str] = frozenset()) -> Plan:
        self._check_names("--target", targets, allow_lock=True)
        self._check_names("--replace", replace, allow_lock=False)
        options = planner.Options(targets=targets, replace=replace, digest_algorithm=DIGEST_ALGORITHM,
                                  root=self.root, created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return planner.plan(self.desired, self.observed, self.lock, options)

    def check_fresh(self, saved: Plan) -> None:
        """Refuse a saved plan when anything it was computed from has moved since."""
        lineage = self.lock.lineage if self.lock else ""
        serial = self.lock.serial if self.lock else 0
        if (saved.lock_lineage, saved.lock_serial) != (lineage, serial):
            raise StalePlanError(f"the saved plan is stale: the lock moved from serial {saved.lock_serial} to "
                                 f"{serial} since it was made (another apply ran); run `reconciler plan` again")
        if saved.desired_fingerprint != planner.desired_fingerprint(self.desired):
            raise StalePlanError("the saved plan is stale: the manifests changed since it was made; "
                                 "run `reconciler plan` again")
        if saved.observed_fingerprint != self.observed.fingerprint():
            raise StalePlanError("the saved plan is stale: live resources changed since it was made "
                                 "(a job finished, or something was edited out of band); run `reconciler plan` again")

    def _check_names(self, flag: str, names: frozenset[str], *, allow_lock: bool) -> None:
        known = set(self.desired.resources) | (set(self.lock.entries) if allow_lock and self.lock else set())
        unknown = sorted(names - known)
        if unknown:
            raise UserError(f"{flag} {', '.join(unknown)}: no manifest of that name under {self.root} "
                            f"(known: {', '.join(sorted(known)) or 'none'})")


@contextmanager
def open_workspace(path: str, *, api_endpoint: str | None = None, emulator: bool = False,
                   connect_apis: bool = True, limiter=None) -> Iterator[Workspace]:
    desired = manifests.load(path)
    workspace = Workspace(root=str(Path(path).resolve()), desired=desired, lock=lockfile.read(desired.config.lock_path))
    if not connect_apis:
        yield workspace
        return
    with connect(workspace.platforms(), api_endpoint=api_endpoint, emulator=emulator, limiter=limiter) as clients:
        workspace.clients = clients
        yield workspace


def saved_plan(path: str) -> Plan | None:
    """The plan saved at `path` by `plan --out`, or None when `path` is not one (manifests, a directory).

    Known by content, whatever the file is called: a JSON object with `formatVersion`. Its keys are sorted,
    so that key may come after a long list of changes: the whole file is parsed, not a head of it.
    """
    candidate = Path(path)
    if not candidate.is_file():
        return None
    try:
        data = json.loads(candidate.read_bytes())
    except (OSError, ValueError):
        return None  # YAML (or unreadable): the manifest loader reports it
    if not isinstance(data, dict) or "formatVersion" not in data:
        return None
    try:
        return Plan.from_json(data)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a saved plan this reconciler can apply ({err}); "
                        "run `reconciler plan --out FILE` again") from None
