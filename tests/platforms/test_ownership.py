"""Ownership with a repository identity (`stack:`, and the workspace), as tables of decisions: labels x identity
x what the lock records -> ours or not (Vertex AI), ids x identity x wanted specs x lock -> whose (Gemini API),
and the decode paths that turn a resource into a generation with the right owner and digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler import ownership
from reconciler.desired import Config, DesiredResource, DesiredState, Policy
from reconciler.observed import Generation
from reconciler.ownership import Claims, Recorded
from reconciler.platforms import bodies
from reconciler.platforms.gemini import generation as gemini_generation
from reconciler.platforms.vertex_read import generation as vertex_generation
from reconciler.refresh import claims as claims_of
from reconciler.state.model import Intent, Lock, LockEntry

MANAGED = {"managed-by": "reconciler", "reconciler-name": "bot", "reconciler-digest": "0123456789ab"}
OF_A = {**MANAGED, "reconciler-stack": "a"}
OF_B = {**MANAGED, "reconciler-stack": "b"}
OF_A_STAGING = {**MANAGED, "reconciler-stack": "a_staging"}
DIGEST = "0123456789ab" + "c" * 52


@pytest.mark.parametrize(("labels", "identity", "recorded", "ours"), [
    # without a stack: what carries no stack label, exactly as before stacks existed
    (MANAGED, None, None, True),
    (OF_A, None, None, False),                      # another repository's, even under our manifest name
    (OF_A, None, "bot", False),                     # ... even when our lock names it: the label says otherwise
    ({"reconciler-name": "bot"}, None, None, False),  # not managed by this tool
    ({**MANAGED, "managed-by": "someone"}, None, None, False),
    ({"managed-by": "reconciler"}, None, None, False),  # no manifest name
    # with a stack: only what carries it, or what our lock records from before the stack
    (OF_A, "a", None, True),
    (OF_B, "a", None, False),
    (OF_B, "a", "bot", False),
    (OF_A_STAGING, "a", None, False),               # the staging workspace's
    (OF_A, "a_staging", None, False),               # the default workspace's, seen from staging
    (MANAGED, "a", None, False),                    # a stackless root's: never adopted by a stack
    (MANAGED, "a", "bot", True),                    # ours from before the stack was set: the lock is the record
    (MANAGED, "a", "other-bot", False),             # recorded for another entry than its name label says
    ({}, "a", "bot", True),                         # no labels at all, recorded (an import): ours
    ({}, None, "bot", True),
    ({}, None, None, False),
    ({"team": "x"}, "a", None, False),
], ids=lambda value: repr(value))
def test_vertex_ownership_by_labels_identity_and_lock(labels, identity, recorded, ours):
    assert ownership.owns(labels, identity, recorded) is ours


@pytest.mark.parametrize(("labels", "identity", "allowed"), [
    (MANAGED, None, True),
    (MANAGED, "a", True),        # made before the stack was set: the plan got here through the lock
    (OF_A, "a", True),
    (OF_A, None, False),
    (OF_B, "a", False),
    (OF_A_STAGING, "a", False),
    ({**OF_A, "reconciler-name": "other"}, "a", False),
    ({"reconciler-name": "bot"}, None, False),  # no managed-by
    ({}, "a", False),            # nothing says it is this tool's: the delete is refused, never guessed
], ids=lambda value: repr(value))
def test_the_last_check_before_a_vertex_delete(labels, identity, allowed):
    assert ownership.may_delete(labels, "bot", identity) is allowed


def test_a_stack_adds_one_label_and_one_filter_clause():
    assert ownership.labels("bot", DIGEST, "i-1") == {**MANAGED, "reconciler-intent": "i-1"}
    assert ownership.labels("bot", DIGEST, "i-1", "a_staging") == {**MANAGED, "reconciler-intent": "i-1",
                                                                   "reconciler-stack": "a_staging"}
    assert ownership.listing_filter(None) == 'labels.managed-by="reconciler"'
    assert ownership.listing_filter("a") == 'labels.managed-by="reconciler" AND labels.reconciler-stack="a"'
    assert ownership.label_filter("bot", DIGEST, "a") == (
        'labels.managed-by="reconciler" AND labels.reconciler-stack="a" AND labels.reconciler-name="bot" '
        'AND labels.reconciler-digest="0123456789ab"')
    assert "reconciler-stack" in ownership.OWNERSHIP_LABELS  # users cannot set it; the label budget counts it


def test_deterministic_ids_with_and_without_an_identity():
    assert ownership.deterministic_id("bot", DIGEST) == "bot-01234567"  # unchanged for stackless roots
    mixed = hashlib.sha256(f"a\n{DIGEST}".encode()).hexdigest()[:8]
    assert ownership.deterministic_id("bot", DIGEST, "a") == f"bot-{mixed}"
    ids = {ownership.deterministic_id("bot", DIGEST, identity) for identity in (None, "a", "b", "a_staging")}
    assert len(ids) == 4  # one spec, one name: a different id per identity
    for made in ids:  # both forms parse alike (the lock's scope check relies on the name part)
        assert ownership.parse_id(made)[0] == "bot"


OLD = ownership.deterministic_id("bot", DIGEST)           # made before the stack was set
MINE = ownership.deterministic_id("bot", DIGEST, "a")
THEIRS = ownership.deterministic_id("bot", DIGEST, "b")
STAGING = ownership.deterministic_id("bot", DIGEST, "a_staging")
WANTED = {"bot": frozenset({DIGEST})}


@pytest.mark.parametrize(("model_id", "identity", "recorded", "owner"), [
    (OLD, None, {}, Recorded("bot", DIGEST[:8])),          # a stackless root's own spec
    (MINE, None, {}, None),                                # a stack's id is not a stackless root's
    (THEIRS, None, {}, None),
    (MINE, "a", {}, Recorded("bot", DIGEST[:8])),          # the id proves the spec: its digest is the wanted one
    (THEIRS, "a", {}, None),                               # the same spec under another stack
    (STAGING, "a", {}, None),                              # ... or another workspace
    (OLD, "a", {}, None),                                  # a stackless root's, not recorded: not ours
    (OLD, "a", {f"tunedModels/{OLD}": Recorded("bot", DIGEST[:8])}, Recorded("bot", DIGEST[:8])),  # upgrade
    (THEIRS, "a", {f"tunedModels/{THEIRS}": Recorded("bot", "")}, Recorded("bot", "")),  # the lock is the record
    (OLD, "a", {f"tunedModels/{OLD}": Recorded("other-bot", "")}, None),  # its id names another entry
    ("bot-99999999", None, {}, None),                      # an older spec of ours after a lost lock: not claimed
    ("stranger-01234567", None, {}, None),                 # no manifest of that name
    ("hand-made", "a", {"tunedModels/hand-made": Recorded("bot", DIGEST)}, Recorded("bot", DIGEST)),  # import
], ids=lambda value: repr(value))
def test_gemini_ownership_by_id_identity_and_lock(model_id, identity, recorded, owner):
    claims = Claims(identity=identity, recorded=recorded, wanted=WANTED)
    assert claims.by_id(f"tunedModels/{model_id}", model_id) == owner


def test_a_vertex_job_without_labels_takes_owner_and_digest_from_the_lock():
    job = {"name": "projects/p/locations/l/tuningJobs/1", "state": "JOB_STATE_SUCCEEDED",
           "tunedModel": {"model": "projects/p/locations/l/models/7@1"}}
    recorded = Recorded("bot", DIGEST)
    assert (vertex_generation(job, recorded=recorded).owner, vertex_generation(job, recorded=recorded).digest) == \
        ("bot", DIGEST)
    labelled = vertex_generation({**job, "labels": OF_A}, recorded=Recorded("bot", "ffff"))
    assert (labelled.owner, labelled.digest) == ("bot", "0123456789ab")  # the labels win where they speak
    assert (vertex_generation(job).owner, vertex_generation(job).digest) == ("", "")


def test_a_gemini_model_takes_owner_and_digest_from_whoever_claimed_it():
    model = {"name": f"tunedModels/{MINE}", "state": "ACTIVE"}
    claimed = gemini_generation(model, owner=Recorded("bot", DIGEST[:8]))
    assert (claimed.owner, claimed.digest) == ("bot", DIGEST[:8])
    parsed = gemini_generation({"name": f"tunedModels/{OLD}", "state": "ACTIVE"})
    assert (parsed.owner, parsed.digest) == ("bot", DIGEST[:8])  # a stackless id says both itself


def resource(name: str, platform: str, identity: str | None) -> DesiredResource:
    scoped = platform == "vertex"
    return DesiredResource(
        name=name, platform=platform, project="p" if scoped else None, location="l" if scoped else None,
        digest=DIGEST, immutable={"baseModel": "gemini-2.5-flash", "training": {"dataset": "gs://b/t.jsonl"}},
        mutable={"labels": {"team": "x"}}, policy=Policy(), depends_on=None, source=f"{name}.yaml",
        identity=identity)


@pytest.mark.parametrize("identity", [None, "a", "a_staging"])
def test_creates_carry_the_identity(identity):
    body = bodies.tuning_job(resource("bot", "vertex", identity), "i-1")
    assert body["labels"].get("reconciler-stack") == identity
    assert body["labels"]["team"] == "x"
    gemini = resource("bot", "gemini-api", identity)
    assert gemini.tuned_model_id == ownership.deterministic_id("bot", DIGEST, identity)


def test_refresh_claims_come_from_the_manifests_and_the_lock(tmp_path: Path):
    config = Config(root=tmp_path, lock_path=tmp_path / "reconciler.lock", stack="a", workspace="staging")
    desired = DesiredState(resources={"bot": resource("bot", "vertex", config.identity)}, config=config)
    current = Generation(platform="vertex", owner="bot", digest="", phase="succeeded", job="projects/p/j/1")
    older = Generation(platform="vertex", owner="bot", digest="0011", phase="succeeded", job="projects/p/j/0")
    entry = LockEntry.new(desired.resources["bot"]).with_current(older).with_current(current, digest="ab" * 32)
    gone = LockEntry(name="gone", platform="vertex", project="p", location="l", digest="", spec=entry.spec,
                     current=None, pending=Intent.new("train", "cd" * 32))
    lock = Lock.empty("sha256/v1").with_entry(entry).with_entry(gone)
    claims = claims_of(desired, lock)
    assert claims.identity == "a_staging"
    assert claims.recorded == {"projects/p/j/1": Recorded("bot", "ab" * 32),  # current without one: the entry's
                               "projects/p/j/0": Recorded("bot", "0011")}
    assert claims.wanted == {"bot": frozenset({DIGEST}), "gone": frozenset({"cd" * 32})}
