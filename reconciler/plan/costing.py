"""Every paid change of a plan priced: the estimate a reviewer reads next to each train and retrain.

What the tool can read decides what it says: the characters of local examples and files (and of gs:// data
read with --remote), the epochs the manifest sets (or the platform's default, marked as assumed), and the
price of the base model the chain of `fromManifest` starts from. Pure: the plan in, the plan priced out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler import cost
from reconciler.desired import DesiredResource, DesiredState
from reconciler.errors import UserError
from reconciler.plan.model import Change, Plan


def priced(plan: Plan, desired: DesiredState, characters: Mapping[str, int] | None = None) -> Plan:
    """`plan` with an estimate on every train and retrain. `characters`: gs:// URI -> characters of its text
    (the datasets read with --remote); a dataset not in it is data not read."""
    if not any(c.costly for c in plan.changes):
        return plan
    settings = desired.config.cost
    prices = cost.PriceTable.packaged(settings.prices)
    changes = tuple(replace(c, estimate=_estimate(desired.resources[c.name], desired.resources, prices,
                                                  settings.chars_per_token, characters or {}).to_json())
                    if c.costly else c for c in plan.changes)
    return replace(plan, changes=changes)


def estimate_of(change: Change) -> cost.Estimate:
    """A change's estimate; "not estimated" (unknown) for a paid change priced by nobody."""
    return cost.Estimate.from_json(change.estimate) if change.estimate else cost.Estimate(
        None, None, None, None, unknown="not estimated")


def estimates(plan: Plan) -> dict[str, cost.Estimate]:
    """The estimate of every paid change, by manifest name: what the totals add up and --max-cost compares (a
    paid change without one is unknown, so that no total looks complete when it is not); {} when the plan holds
    no estimate at all."""
    paid = [c for c in plan.changes if c.costly]
    return {c.name: estimate_of(c) for c in paid} if any(c.estimate for c in paid) else {}


class CostLimitExceeded(UserError):
    """--max-cost or a manifest's policy.maxCost refuses the plan: nothing was done."""


def check_limits(plan: Plan, desired: DesiredState, max_cost: float | None) -> None:
    """Refuse, before anything starts, a plan whose estimate exceeds `--max-cost` or a manifest's policy.maxCost
    (an unknown estimate is refused too: a pipeline must not launch a bill nobody could see)."""
    priced = estimates(plan)
    refusals = [cost.over_limit(priced, max_cost)] if max_cost is not None else []
    for name, estimate in sorted(priced.items()):
        resource = desired.resources.get(name)
        limit = resource.policy.maxCost if resource else None
        if limit is not None:
            refusals.append(cost.over_limit({name: estimate}, limit, limit=f"{name}: policy.maxCost"))
    found = [r for r in refusals if r]
    if found:
        raise CostLimitExceeded("apply refused, nothing was done: " + "\n".join(found))


def _estimate(resource: DesiredResource, resources: Mapping[str, DesiredResource], prices: cost.PriceTable,
              chars_per_token: float, read: Mapping[str, int]) -> cost.Estimate:
    characters = resource.training_characters
    dataset = resource.remote_data.get("dataset")
    if characters is None and dataset in read:
        characters = read[dataset]
    epochs = (resource.immutable.get("hyperParameters") or {}).get("epochCount")
    return cost.estimate(platform=resource.platform, base_model=base_model(resource, resources),
                         characters=characters, epochs=epochs, prices=prices, chars_per_token=chars_per_token)


def base_model(resource: DesiredResource, resources: Mapping[str, DesiredResource]) -> str | None:
    """The base model a tune starts from, following `fromManifest` upstreams; None when it continues a tuned
    model named directly (its base is not written anywhere this tool reads)."""
    seen: set[str] = set()
    while resource is not None and resource.name not in seen:
        seen.add(resource.name)
        if resource.immutable.get("baseModel"):
            return resource.immutable["baseModel"]
        resource = resources.get(resource.depends_on) if resource.depends_on else None
    return None
