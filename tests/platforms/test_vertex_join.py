"""The listing join keeps only what a Generation is made of (`Job`, `Model`, `Endpoint`): the generations it makes are
those of the whole resources read one by one, and a hostile listed item is still refused where it was listed."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import fields

import pytest

from reconciler import ownership
from reconciler.clients.http import Session
from reconciler.errors import BadResponse
from reconciler.observed import GENERATION_KEYS, VOLATILE_FIELDS, Generation
from reconciler.platforms import vertex_read

P = "projects/p/locations/us-central1"
LABELS = {"managed-by": "reconciler", "reconciler-name": "bot", "reconciler-digest": "0123456789ab", "team": "ml"}
JOB = {"name": f"{P}/tuningJobs/1", "state": "JOB_STATE_RUNNING", "labels": LABELS, "createTime": "2026-01-01T00:00:00Z",
       "tuningDataStats": {"supervisedTuningDataStats": {"tuningStepCount": "40", "tuningDatasetExampleCount": 9}},
       "tunedModel": {"model": f"{P}/models/7@2", "endpoint": f"{P}/endpoints/1",
                      "checkpoints": [{"step": "10", "endpoint": f"{P}/endpoints/2"}, {"step": 30}]}}
MODEL = {"name": f"{P}/models/7", "versionId": "2", "displayName": "Bot", "labels": LABELS,
         "deployedModels": [{"endpoint": f"{P}/endpoints/3"}]}
ENDPOINT = {"name": f"{P}/endpoints/4", "deployedModels": [{"id": "1", "model": f"{P}/models/7@2"},
                                                           {"id": "2", "model": f"{P}/models/7", "modelVersionId": "1"}]}


class Listed:
    def __init__(self, jobs=(), models=(), endpoints=()):
        self.jobs, self.models, self.endpoints = jobs, models, endpoints

    def url(self, name: str) -> str:
        return f"https://vertex.test/v1/{name}"

    def list_tuning_jobs(self, parent, filter=None, *, read, memo=False):
        return self._read(f"{parent}/tuningJobs", read, self.jobs)

    def list_models(self, parent, filter=None, *, read, memo=False):
        return self._read(f"{parent}/models", read, self.models)

    def list_endpoints(self, parent, filter=None, *, read, memo=False):
        return self._read(f"{parent}/endpoints", read, self.endpoints)

    def _read(self, collection, read, items):  # as Session.pages reads each item of a page
        return (Session.read_at(self.url(collection), read, item) for item in items)


def now(fn, *args) -> Future:
    future: Future = Future()
    future.set_result(fn(*args))
    return future


def test_a_joined_generation_holds_exactly_its_fields_as_its_constructor_would_make_them():
    """The join makes generations without Generation.__init__ (frozen.made): a field added to Generation and
    not to the join must fail here, not as an AttributeError in somebody's plan."""
    [listed] = vertex_read.read(Listed([JOB], [MODEL], [ENDPOINT]), [P], [], ownership.Claims(), now)()
    assert set(vars(listed)) == {f.name for f in fields(Generation)}
    made = Generation(**vars(listed))
    assert listed == made and repr(listed) == repr(made)


def test_a_listed_job_is_the_generation_of_the_job_model_and_endpoint_read_whole():
    client = Listed([JOB], [MODEL], [ENDPOINT])
    [listed] = vertex_read.read(client, [P], [], ownership.Claims(), now)()
    assert listed == vertex_read.generation(JOB, MODEL, serving={f"{P}/endpoints/4"})
    assert listed.endpoints == tuple(f"{P}/endpoints/{n}" for n in (1, 2, 3, 4))
    assert (listed.progress, listed.data_stats) == (75.0, {"examples": 9, "steps": 40})
    assert listed.live == {"displayName": "Bot", "labels": {"team": "ml"}}


def test_a_hostile_listed_item_is_refused_naming_the_listing():
    client = Listed([{**JOB, "tuningDataStats": {"supervisedTuningDataStats": {"tuningStepCount": "4e1"}}}])
    with pytest.raises(BadResponse) as refused:
        vertex_read.read(client, [P], [], ownership.Claims(), now)()
    assert refused.value.url == f"https://vertex.test/v1/{P}/tuningJobs"
    assert "`tuningStepCount` is a string; expected an int64" in str(refused.value)


def test_stable_json_is_to_json_without_what_moves_while_a_job_trains():
    generation = Generation(platform="vertex", owner="bot", digest="d", phase="running", job="j", endpoints=("e",),
                            progress=5.0, loss=0.5, state="JOB_STATE_RUNNING", loss_history=((1, 0.5),),
                            data_stats={"steps": 4}, start_time="t", live={"labels": {}})
    full = generation.to_json()
    assert list(full) == list(GENERATION_KEYS.values())
    assert (full["endpoints"], full["lossHistory"]) == (["e"], [(1, 0.5)])
    volatile = {GENERATION_KEYS[name] for name in VOLATILE_FIELDS}
    assert generation.stable_json() == {k: v for k, v in full.items() if k not in volatile}


@pytest.mark.parametrize("name, version", [
    (f"{P}/models/7@2", "2"), (f"{P}/models/7", ""), ("projects/p@q/locations/l/models/7@3", "3"),
    ("projects/p@q/locations/l/models/7", ""), ("", ""),
])
def test_a_model_version_is_read_from_the_last_segment_of_its_name(name, version):
    assert vertex_read.model_version(name) == version
