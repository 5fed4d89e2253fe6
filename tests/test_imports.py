"""`reconciler import`'s decisions as tables: a live spec against a manifest (what differs, what cannot be
compared, what an accepted import records), what the platforms read from the APIs' shapes, and the lock's
records of imports and releases (format, scope, planning)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler import imports
from reconciler.desired import DIGEST_ALGORITHM, Config, DesiredResource, DesiredState, Policy
from reconciler.observed import Generation, ObservedState
from reconciler.plan import planner
from reconciler.platforms.base import LiveSpec
from reconciler.platforms.gemini_import import spec_of as gemini_spec
from reconciler.platforms.vertex_import import spec_of as vertex_spec
from reconciler.state import codec, scope
from reconciler.state.model import FORMAT_VERSION, AppliedSpec, Imported, Lock, LockEntry

SCOPE = "projects/acme/locations/us-central1"
JOB = f"{SCOPE}/tuningJobs/1"
IMMUTABLE = {"baseModel": "gemini-2.5-flash", "training": {"dataset": "gs://bkt/train.jsonl"},
             "hyperParameters": {"epochCount": 3, "adapterSize": "ADAPTER_SIZE_FOUR"}}
MUTABLE = {"displayName": "Bot", "labels": {"team": "a"}}


def desired(immutable: dict = IMMUTABLE, mutable: dict = MUTABLE, depends_on: str | None = None) -> DesiredResource:
    return DesiredResource(name="bot", platform="vertex", project="acme", location="us-central1", digest="d" * 64,
                           immutable=immutable, mutable=mutable, policy=Policy(), depends_on=depends_on,
                           source="bot.yaml")


def live(immutable: dict = IMMUTABLE, mutable: dict = MUTABLE, **options) -> LiveSpec:
    generation = Generation(platform="vertex", owner="", digest="", phase="succeeded", job=JOB,
                            model=f"{SCOPE}/models/7@1", live=dict(mutable))
    return LiveSpec(key=JOB, generation=generation, project="acme", location="us-central1", immutable=immutable,
                    mutable=mutable, **{"defaults": {"exportLastCheckpointOnly": False},
                                        "upstream": ("preTunedModel", "tunedModelName"), **options})


def _with(base: dict, path: str, value) -> dict:
    data = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    place = data
    for part in parents:
        place = place.setdefault(part, {})
    if value is None:
        place.pop(last, None)
    else:
        place[last] = value
    return data


# ------------------------------------------------------------------------------------------- compare

# (what the live resource has, what the manifest says) -> the differences (field, live, manifest, mutable)
CASES = [
    ("in sync", live(), desired(), []),
    ("int64 as a number and a float multiplier", live(_with(IMMUTABLE, "hyperParameters.learningRateMultiplier", 1)),
     desired(_with(IMMUTABLE, "hyperParameters.learningRateMultiplier", 1.0)), []),
    ("an immutable field", live(_with(IMMUTABLE, "hyperParameters.epochCount", 4)), desired(),
     [("hyperParameters.epochCount", 4, 3, False)]),
    ("the training data", live(_with(IMMUTABLE, "training.dataset", "gs://bkt/other.jsonl")), desired(),
     [("training.dataset", "gs://bkt/other.jsonl", "gs://bkt/train.jsonl", False)]),
    ("a field only the live resource sets", live(_with(IMMUTABLE, "serviceAccount", "sa@acme.iam")), desired(),
     [("serviceAccount", "sa@acme.iam", None, False)]),
    ("a field only the manifest sets", live(), desired(_with(IMMUTABLE, "training.validationDataset", "gs://v/v")),
     [("training.validationDataset", None, "gs://v/v", False)]),
    ("a documented default, written on one side", live(_with(IMMUTABLE, "exportLastCheckpointOnly", False)),
     desired(), []),
    ("a documented default, against its opposite", live(),
     desired(_with(IMMUTABLE, "exportLastCheckpointOnly", True)), [("exportLastCheckpointOnly", False, True, False)]),
    ("a mutable field", live(mutable={**MUTABLE, "displayName": "Old"}), desired(),
     [("displayName", "Old", "Bot", True)]),
    ("a label; one the manifest does not set is not compared (a system label, someone else's)",
     live(mutable={**MUTABLE, "labels": {"team": "b", "x": "y", "tune-type": "sft"}}), desired(),
     [("labels.team", "b", "a", True)]),
    ("a mutable field the manifest leaves alone", live(mutable={**MUTABLE, "description": "hand-written"}),
     desired(), []),
    ("both kinds", live(_with(IMMUTABLE, "baseModel", "gemini-2.0-flash"), mutable={**MUTABLE, "displayName": "Old"}),
     desired(), [("baseModel", "gemini-2.0-flash", "gemini-2.5-flash", False), ("displayName", "Old", "Bot", True)]),
]


@pytest.mark.parametrize(("live_spec", "wanted", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compare(live_spec, wanted, expected):
    comparison = imports.compare(wanted, live_spec)
    assert [(d.field, d.live, d.manifest, d.mutable) for d in comparison.differences] == expected
    assert comparison.immutable_differs == any(not mutable for *_, mutable in expected)


def test_fields_the_api_does_not_return_are_listed_and_taken_from_the_manifest():
    wanted = desired({"baseModel": "models/b", "training": {"exampleCount": 2, "examplesSha256": "ab"},
                      "hyperParameters": {"epochCount": 2}})
    seen = live({"baseModel": "models/b", "hyperParameters": {"epochCount": 2, "batchSize": 4, "learningRate": 0.001}},
                not_comparable={"training": "never returned"}, server_filled=("hyperParameters",))
    comparison = imports.compare(wanted, seen)
    assert comparison.differences == ()
    assert comparison.not_comparable == {
        "training": "never returned",
        "hyperParameters.batchSize": "the service filled in 4; the manifest leaves it to the service default",
        "hyperParameters.learningRate": "the service filled in 0.001; the manifest leaves it to the service default"}
    assert comparison.live_immutable == wanted.immutable


def test_a_service_filled_field_the_manifest_writes_is_compared():
    seen = live({"hyperParameters": {"epochCount": 5}}, server_filled=("hyperParameters",))
    comparison = imports.compare(desired({"hyperParameters": {"epochCount": 2}}), seen)
    assert [(d.field, d.live, d.manifest) for d in comparison.differences] == [("hyperParameters.epochCount", 5, 2)]


@pytest.mark.parametrize(("upstream", "live_model", "differences", "not_comparable"), [
    ("projects/123/locations/us-central1/models/7@1", f"{SCOPE}/models/7@1", [], []),
    ("projects/acme/locations/us-central1/models/7@1", f"{SCOPE}/models/7", [], []),
    (f"{SCOPE}/models/8@1", f"{SCOPE}/models/7@1",
     [("preTunedModel.tunedModelName", f"{SCOPE}/models/7@1", f"{SCOPE}/models/8@1")], []),
    (None, f"{SCOPE}/models/7@1", [], ["preTunedModel.fromManifest"]),
], ids=["same-model-project-number", "version-on-one-side", "another-model", "upstream-not-in-state"])
def test_from_manifest_compares_with_the_model_recorded_for_the_upstream(upstream, live_model, differences,
                                                                         not_comparable):
    spec = {"preTunedModel": {"fromManifest": "base-bot"}, "training": {"dataset": "gs://bkt/t.jsonl"}}
    seen = live({"preTunedModel": {"tunedModelName": live_model}, "training": {"dataset": "gs://bkt/t.jsonl"}})
    comparison = imports.compare(desired(spec, depends_on="base-bot"), seen, upstream)
    assert [(d.field, d.live, d.manifest) for d in comparison.differences] == differences
    assert list(comparison.not_comparable) == not_comparable
    if not differences:
        assert comparison.live_immutable == spec


def test_an_accepted_immutable_difference_records_the_live_spec_under_a_digest_no_manifest_has():
    comparison = imports.compare(desired(), live(_with(IMMUTABLE, "hyperParameters.epochCount", 4)))
    assert comparison.live_immutable == _with(IMMUTABLE, "hyperParameters.epochCount", 4)
    digest = imports.live_digest(comparison)
    assert len(digest) == 64 and digest != desired().digest
    assert digest == imports.live_digest(comparison)  # stable


# ------------------------------------------------------------------------------------------- what the next plan does

def _plan_after_import(live_spec: LiveSpec) -> list[str]:
    """Record `live_spec` as an accepted import would and plan it with the same resource live."""
    wanted = desired()
    comparison = imports.compare(wanted, live_spec)
    digest = imports.live_digest(comparison) if comparison.immutable_differs else wanted.digest
    generation = replace(live_spec.generation, owner="bot", digest=digest)
    entry = LockEntry.new(wanted).with_current(
        generation, digest=digest, imported=Imported(JOB, "2026-01-01T00:00:00Z"),
        spec=AppliedSpec(comparison.live_immutable if comparison.immutable_differs else wanted.immutable,
                         None, wanted.policy.to_json()))
    lock = Lock.empty(DIGEST_ALGORITHM).with_entry(entry)
    state = DesiredState(resources={"bot": wanted}, config=Config.default(Path(".")))
    plan = planner.plan(state, ObservedState((generation,)), lock, planner.Options(digest_algorithm=DIGEST_ALGORITHM))
    return [c.action for c in plan.changes]


@pytest.mark.parametrize(("live_spec", "actions"), [
    (live(), ["noop"]),
    (live(mutable={**MUTABLE, "displayName": "Old"}), ["update"]),
    (live(_with(IMMUTABLE, "hyperParameters.epochCount", 4)), ["retrain", "retire"]),
    (live(_with(IMMUTABLE, "hyperParameters.epochCount", 4), mutable={**MUTABLE, "displayName": "Old"}), ["retrain", "retire"]),
], ids=["in-sync", "mutable", "immutable", "both"])
def test_what_an_import_records_makes_the_next_plan_update_or_retrain(live_spec, actions):
    assert _plan_after_import(live_spec) == actions


# ------------------------------------------------------------------------------------------- reading the APIs' shapes

def test_a_vertex_tuning_job_reads_as_the_canonical_spec():
    job = {"name": JOB, "baseModel": "gemini-2.5-flash", "serviceAccount": "sa@acme.iam",
           "encryptionSpec": {"kmsKeyName": "projects/acme/locations/us-central1/keyRings/k/cryptoKeys/c"},
           "supervisedTuningSpec": {"trainingDatasetUri": "gs://bkt/t.jsonl", "validationDatasetUri": "gs://bkt/v.jsonl",
                                    "exportLastCheckpointOnly": True,
                                    "hyperParameters": {"epochCount": "4", "adapterSize": 2,
                                                        "learningRateMultiplier": 1}}}
    assert vertex_spec(job) == {
        "baseModel": "gemini-2.5-flash", "serviceAccount": "sa@acme.iam", "exportLastCheckpointOnly": True,
        "encryption": {"kmsKeyName": "projects/acme/locations/us-central1/keyRings/k/cryptoKeys/c"},
        "training": {"dataset": "gs://bkt/t.jsonl", "validationDataset": "gs://bkt/v.jsonl"},
        "hyperParameters": {"epochCount": 4, "adapterSize": "ADAPTER_SIZE_FOUR", "learningRateMultiplier": 1}}


def test_a_gemini_tuned_model_reads_as_the_canonical_spec_without_its_training_data():
    model = {"name": "tunedModels/x", "tunedModelSource": {"tunedModel": "tunedModels/up", "baseModel": "models/b"},
             "tuningTask": {"hyperparameters": {"epochCount": 5, "batchSize": 4, "learningRate": 0.001}}}
    assert gemini_spec(model) == {"tunedModelSource": {"tunedModel": "tunedModels/up"},
                                  "hyperParameters": {"epochCount": 5, "batchSize": 4, "learningRate": 0.001}}


# ------------------------------------------------------------------------------------------- the lock's records

def _gemini_import_lock() -> Lock:
    generation = Generation(platform="gemini-api", owner="gem", digest="e" * 64, phase="succeeded",
                            model="tunedModels/hand-made")
    entry = LockEntry(name="gem", platform="gemini-api", project=None, location=None, digest="e" * 64,
                      spec=AppliedSpec(), current=generation,
                      imported=Imported("tunedModels/hand-made", "2026-01-01T00:00:00Z", ("displayName",)))
    return Lock(version=FORMAT_VERSION, lineage="l", serial=3, digest_algorithm=DIGEST_ALGORITHM,
                entries={"gem": entry}, released={f"{SCOPE}/tuningJobs/9": "bot"})


def test_imports_and_releases_round_trip_and_are_optional_in_the_format():
    lock = _gemini_import_lock()
    data = codec.to_json(lock)
    assert data["released"] == {f"{SCOPE}/tuningJobs/9": "bot"}
    assert data["entries"]["gem"]["imported"] == {"key": "tunedModels/hand-made", "at": "2026-01-01T00:00:00Z",
                                                  "accepted": ["displayName"]}
    assert codec.from_json(json.loads(codec.Encoder().dumps(lock))) == lock
    plain = replace(lock, released={}, entries={"gem": replace(lock.entries["gem"], imported=None)})
    assert "released" not in codec.to_json(plain) and "imported" not in codec.to_json(plain)["entries"]["gem"]
    with pytest.raises(codec.InvalidLock, match="released"):
        codec.from_json({**data, "released": {"k": 1}})


def test_an_imported_gemini_model_may_have_any_id_but_only_the_imported_one():
    lock = _gemini_import_lock()
    scope.check(lock)
    other = replace(lock.entries["gem"].current, model="tunedModels/someone-elses")
    with pytest.raises(scope.OutOfScope, match="does not carry the entry's name"):
        scope.check(lock.with_entry(replace(lock.entries["gem"], current=other)))


def test_releasing_an_entry_and_reclaiming_a_key():
    lock = _gemini_import_lock()
    released = lock.releasing("gem")
    assert "gem" not in released.entries
    assert released.released == {f"{SCOPE}/tuningJobs/9": "bot", "tunedModels/hand-made": "gem"}
    assert released.reclaiming("projects/42/locations/us-central1/tuningJobs/9").released == {
        "tunedModels/hand-made": "gem"}  # the same job, its project spelled as a number
