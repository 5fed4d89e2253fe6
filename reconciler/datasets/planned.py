"""The data a plan would pay to train on, checked before anything is paid for: a gs:// dataset that does not
exist is a plan error (the job would fail hours later, or at once, but after the review), never a change."""

from __future__ import annotations

from reconciler.desired import DesiredState
from reconciler.errors import UserError
from reconciler.observed import ObservedState
from reconciler.plan.model import Plan


class MissingData(UserError):
    """A train or retrain names a gs:// dataset that does not exist."""


def check(plan: Plan, desired: DesiredState, observed: ObservedState) -> None:
    missing = []
    for change in plan.changes:
        resource = desired.resources.get(change.name)
        if not change.costly or resource is None:
            continue
        for uri in resource.remote_data.values():
            found = observed.data.get(uri)
            if found is not None and found.missing:
                missing.append(f"  - {change.name} ({resource.source}): {uri} does not exist (HTTP 404)")
    if missing:
        raise MissingData("training data this plan would train on does not exist; nothing was planned, nothing "
                          "is paid for:\n" + "\n".join(missing) +
                          "\nupload the data, or correct spec.training.dataset / validationDataset")
