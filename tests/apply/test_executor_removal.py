"""Removing one version of a shared Vertex model touches only that version.

Manifests cannot ask for a shared model any more (validate refuses a continuation without its own
displayName), but a model can still hold versions the executor did not make: removal must never undeploy or
delete what serves another version. Here the isolation comes from refresh (endpoints matched per version) and
from the version's own deployedModels; the per-version check inside `platforms.vertex._undeploy` additionally covers
one endpoint serving several versions, which tuning jobs (and so the emulator) never create.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from reconciler.apply.executor import Executor
from reconciler.desired import Config, DesiredState
from reconciler.emulator import Emulator
from reconciler.ownership import Claims
from reconciler.plan.model import Change, Plan
from reconciler.platforms.connect import connect
from reconciler.refresh import refresh
from reconciler.state.journal import Journal
from reconciler.state.local import LocalBackend
from reconciler.state.model import Lock

PARENT = "projects/acme/locations/us-central1"


def job(name: str, digest: str, **source) -> dict:
    return {**(source or {"baseModel": "gemini-2.5-flash"}), "tunedModelDisplayName": "shared",
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://acme/train.jsonl", "exportLastCheckpointOnly": True},
            "labels": {"managed-by": "reconciler", "reconciler-name": name, "reconciler-digest": digest}}


def test_deleting_a_continuation_version_leaves_the_upstream_version_and_its_endpoint_serving(tmp_path: Path):
    with Emulator(job_duration=10) as emu, connect({"vertex"}, api_endpoint=emu.base_url, emulator=True,
                                                   env={}) as clients:
        first = clients["vertex"].create_tuning_job(PARENT, job("base", "aaaaaaaaaaaa"))
        emu.advance(60)
        v1 = clients["vertex"].get_tuning_job(first["name"])["tunedModel"]
        second = clients["vertex"].create_tuning_job(PARENT, job("child", "bbbbbbbbbbbb",
                                                              preTunedModel={"tunedModelName": v1["model"]}))
        emu.advance(60)
        v2 = clients["vertex"].get_tuning_job(second["name"])["tunedModel"]
        assert v1["model"].split("@")[0] == v2["model"].split("@")[0] and v2["model"].endswith("@2")

        observed = refresh([("vertex", "acme", "us-central1")], Claims(), clients)
        journal = Journal(LocalBackend(tmp_path / "reconciler.lock"), Lock.empty("sha256/v1"))
        desired = DesiredState(resources={}, config=Config.default(tmp_path))
        plan = Plan(changes=(Change("child", "delete", "manifest removed", "vertex", targets=(second["name"],)),))
        outcomes = Executor(desired, observed, journal, clients).run(plan)
        assert [o.status for o in outcomes] == ["done"], outcomes

        http = httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"})
        assert http.get(f"/v1/{v1['model']}").status_code == 200
        assert http.get(f"/v1/{v2['model']}").status_code == 404
        served = http.get(f"/v1/{v1['endpoint']}").json()["deployedModels"]
        assert [d["model"].split("/")[-1] for d in served] == [v1["model"].split("/")[-1]]
        assert http.get(f"/v1/{v2['endpoint']}").status_code == 404  # the continuation's own endpoint is gone
