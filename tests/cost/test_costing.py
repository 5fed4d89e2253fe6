"""Pricing a plan (plan.costing): the base model a tune is priced by is the one its `fromManifest` chain starts
from; a tune of a tuned model named directly has no known base, and says so rather than guessing."""

from __future__ import annotations

from pathlib import Path

from reconciler.cost import Estimate
from reconciler.desired import Config, DesiredResource, DesiredState, Policy
from reconciler.plan import costing
from reconciler.plan.model import Change, Plan


def resource(name: str, *, base: str | None = None, upstream: str | None = None, tuned: str | None = None,
             epochs: int = 2) -> DesiredResource:
    immutable: dict = {"hyperParameters": {"epochCount": epochs}}
    if base:
        immutable["baseModel"] = base
    if upstream:
        immutable["preTunedModel"] = {"fromManifest": upstream}
    if tuned:
        immutable["preTunedModel"] = {"tunedModelName": tuned}
    return DesiredResource(name=name, platform="vertex", project="p", location="l", digest="d", immutable=immutable,
                           mutable={}, policy=Policy(), depends_on=upstream, source=f"{name}.yaml:1",
                           examples=({"textInput": "x" * 400, "output": "y" * 400},))


def test_a_continuation_is_priced_by_the_base_model_its_chain_starts_from(tmp_path: Path):
    resources = {"a": resource("a", base="gemini-2.5-flash"), "b": resource("b", upstream="a"),
                 "c": resource("c", upstream="b"), "d": resource("d", tuned="projects/p/locations/l/models/9")}
    assert [costing.base_model(resources[n], resources) for n in "abcd"] == ["gemini-2.5-flash"] * 3 + [None]
    looped = {"x": resource("x", upstream="y"), "y": resource("y", upstream="x")}
    assert costing.base_model(looped["x"], looped) is None  # a cycle (refused by validate) ends, priced by nobody

    desired = DesiredState(resources=resources, config=Config.default(tmp_path))
    plan = Plan(changes=tuple(Change(name=n, action="train", reason="r", platform="vertex") for n in "cd"))
    priced = costing.estimates(costing.priced(plan, desired))
    assert priced["c"] == Estimate(tokens=200, epochs=2, usd=200 * 2 * 5.0 / 1e6, price=5.0)
    assert priced["d"].usd is None and "no base model" in priced["d"].unknown


def test_a_price_belongs_to_its_platform():
    from reconciler.cost import PriceTable

    table = PriceTable.from_json({"source": "s", "date": "d", "platforms": {
        "vertex": {"perMillionTrainingTokens": {"gemini-2.5-flash": 5}},
        "other": {"perMillionTrainingTokens": {"gemini-2.5-flash": 7}},
        "gemini-api": {"free": True}}})
    assert table.price("vertex", "gemini-2.5-flash-001") == 5.0 and table.price("other", "gemini-2.5-flash") == 7.0
    assert table.price("gemini-api", "models/gemini-1.5-flash-001-tuning") == 0.0
    assert table.price("unpriced", "gemini-2.5-flash") is None
