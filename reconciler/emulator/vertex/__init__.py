"""Vertex AI (aiplatform v1 / v1beta1): tuningJobs, models, endpoints and operations over one store.

State is stored as plain JSON-able records; a job's state is computed lazily from its createTime and the
virtual clock, and `settle()` materialises what a finished job leaves behind (model, endpoints). Each resource
is one class that gets the store and the resources it builds on explicitly; their HTTP routes are in `app.py`.
Layers: operations <- endpoints <- models <- versions <- jobs.
"""

from __future__ import annotations

from typing import Any

from ..clock import rfc3339
from ..store import Store
from .endpoints import Endpoints
from .jobs import TuningJobs
from .models import Models
from .operations import Operations
from .versions import ModelVersions


class Vertex:
    def __init__(self, store: Store, job_duration: float, operation_duration: float = 0.0) -> None:
        self.store = store
        self.operations = Operations(store, operation_duration)
        self.endpoints = Endpoints(store, self.operations)
        self.models = Models(store, self.operations, self.endpoints)
        self.versions = ModelVersions(store, self.operations, self.endpoints, self.models)
        self.jobs = TuningJobs(store, job_duration, self.versions)

    # ------------------------------------------------------------------ virtual time (callers hold store.lock)
    def settle(self, now: float) -> None:
        self.jobs.settle(now)
        self.operations.settle(now)

    def due_times(self) -> list[float]:
        return self.jobs.due_times() + self.operations.due_times()

    # ------------------------------------------------------------------ out-of-band (admin) mutations
    def admin_fail(self, name: str, error: dict[str, Any], now: float) -> None:
        self.jobs.admin_fail(name, error, now)

    def admin_ignore_cancel(self, name: str) -> None:
        self.jobs.admin_ignore_cancel(name)

    def admin_delete(self, name: str) -> bool:
        """Delete a model (version) or endpoint; False when `name` is neither."""
        if "/models/" in name:
            self.models.admin_delete(name)
        elif "/endpoints/" in name:
            self.endpoints.admin_delete(name)
        else:
            return False
        self.store.changed()
        return True

    def admin_patch(self, name: str, fields: dict[str, Any], now: float) -> bool:
        """Edit a tuning job, model (model@N: version labels) or endpoint; False when `name` is none of them."""
        stamp = rfc3339(now)
        if "/tuningJobs/" in name:
            self.jobs.admin_patch(name, fields)
        elif "/models/" in name:
            self.models.admin_patch(name, fields, stamp)
        elif "/endpoints/" in name:
            self.endpoints.admin_patch(name, fields, stamp)
        else:
            return False
        self.store.changed()
        return True
