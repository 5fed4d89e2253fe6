"""The label keys a lock entry owns (`spec.managedLabels`, optional): what the planner compares and a patch may
remove. Absent (every lock written before it existed, and most entries), the owned keys are those of the applied
spec's labels; it is written only when more keys than those may still be live."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reconciler.desired import DesiredResource, Policy
from reconciler.errors import LockfileError
from reconciler.state import codec
from reconciler.state.model import FORMAT_VERSION, AppliedSpec, Lock, LockEntry


def desired(labels: dict[str, str]) -> DesiredResource:
    mutable = {"displayName": "Bot", **({"labels": labels} if labels else {})}
    return DesiredResource(name="bot", platform="vertex", project="p", location="us-central1", digest="d" * 64,
                           immutable={"baseModel": "gemini-2.5-flash"}, mutable=mutable, policy=Policy(),
                           depends_on=None, source="manifests/bot.yaml:1")


def lock_with(spec: AppliedSpec) -> dict:
    entry = LockEntry(name="bot", platform="vertex", project="p", location="us-central1", digest="d1", spec=spec,
                      current=None)
    lock = Lock(version=FORMAT_VERSION, lineage="6f1c2a7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f", serial=0,
                digest_algorithm="sha256-v1").with_entry(entry)
    return codec.to_json(lock)


def test_an_old_lock_without_the_field_owns_the_applied_labels():
    data = lock_with(AppliedSpec(immutable={}, mutable={"labels": {"team": "a", "tier": "b"}}))
    assert "managedLabels" not in data["entries"]["bot"]["spec"]
    spec = codec.from_json(json.loads(json.dumps(data))).entries["bot"].spec
    assert spec.managed_labels is None and spec.owned_labels == {"team", "tier"}
    assert AppliedSpec().owned_labels == frozenset()      # an adopted orphan records nothing: owns no label


def test_managed_labels_round_trip_sorted():
    data = lock_with(AppliedSpec(immutable={}, mutable={"labels": {"team": "a"}}, managed_labels=("team", "old")))
    assert data["entries"]["bot"]["spec"]["managedLabels"] == ["team", "old"]
    spec = codec.from_json(json.loads(json.dumps(data))).entries["bot"].spec
    assert spec.managed_labels == ("old", "team") and spec.owned_labels == {"old", "team"}


def test_a_malformed_list_is_a_lock_error():
    data = lock_with(AppliedSpec(immutable={}, managed_labels=("team",)))
    data["entries"]["bot"]["spec"]["managedLabels"] = ["team", 3]
    with pytest.raises((codec.InvalidLock, LockfileError)):
        codec.from_json(data)


def test_applying_replaces_the_owned_keys_unless_the_live_labels_were_not_rewritten():
    before = AppliedSpec.of(desired({"team": "a", "tier": "gold"}))
    assert before.managed_labels is None and before.owned_labels == {"team", "tier"}
    # a create or a labels patch: exactly the manifest's keys are live and owned
    assert AppliedSpec.of(desired({"team": "b"})).owned_labels == {"team"}
    # an adoption records the spec without touching the live labels: "tier" may still be live, still owned
    adopted = AppliedSpec.of(desired({"team": "b"}), before)
    assert adopted.managed_labels == ("team", "tier")
    assert dataclasses.replace(adopted, managed_labels=None).owned_labels == {"team"}
