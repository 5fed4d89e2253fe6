"""Gemini API (generativelanguage v1beta; v1 has operations and generateContent): tunedModels, their operations
and permissions over one store.

A tuned model is CREATING from create until create + job duration (virtual seconds), then ACTIVE; the
create operation's CreateTunedModelMetadata reports steps, percent and snapshots as virtual time passes.
Each resource is one class that gets the store and the resources it builds on explicitly (the lifecycle is
pure functions over a record); their HTTP routes are in `app.py`.
"""

from __future__ import annotations

from typing import Any

from ..store import Store
from .generation import Generation
from .lifecycle import due_times, settle
from .models import TunedModels
from .operations import Operations
from .permissions import Permissions


class Gemini:
    def __init__(self, store: Store, job_duration: float, owner_email: str, catalogue: Any = None) -> None:
        self.store = store
        self.catalogue = catalogue
        self.operations = Operations(store)
        self.permissions = Permissions(store, owner_email)
        self.models = TunedModels(store, job_duration, self.operations, self.permissions, catalogue)
        self.generation = Generation(store)

    # ------------------------------------------------------------------ virtual time (callers hold store.lock)
    def settle(self, now: float) -> None:
        settle(self.store, now)

    def due_times(self) -> list[float]:
        return due_times(self.store)

    # ------------------------------------------------------------------ out-of-band (admin) mutations
    def admin_fail(self, name: str, error: dict[str, Any], now: float) -> None:
        self.models.admin_fail(name, error, now)

    def admin_delete(self, name: str, now: float) -> None:
        self.models.admin_delete(name, now)

    def admin_patch(self, name: str, fields: dict[str, Any], now: float) -> None:
        self.models.admin_patch(name, fields, now)
