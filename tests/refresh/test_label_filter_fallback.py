"""Issue 11: a service whose tuningJobs.list refuses `labels.` filters (emulator --reject-job-label-filter).
The reconciler lists unfiltered, compares the labels itself, and remembers that for the scope and the run."""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from reconciler import operations
from reconciler.emulator import Emulator
from tests.testing.manifests import write_manifests

PROJECT, LOCATION = "filter-project", "us-central1"


def _api(emulator: Emulator) -> list[dict]:
    return [e for e in emulator.requests() if not e["path"].startswith("/__emulator__/")]


def _job_lists(log: list[dict]) -> list[tuple[int, bool]]:
    """(status, filtered by labels) of every tuningJobs listing."""
    return [(e["status"], "labels" in e["query"]) for e in log
            if e["method"] == "GET" and e["path"].endswith("/tuningJobs")]


def test_the_emulator_refuses_label_filters_on_tuning_jobs_only_when_asked():
    with Emulator(reject_job_label_filter=True) as emu, httpx.Client(base_url=emu.base_url,
                                                                     headers={"Authorization": "Bearer t"}) as http:
        path = f"/v1/projects/{PROJECT}/locations/{LOCATION}"
        refused = http.get(f"{path}/tuningJobs", params={"filter": 'labels.managed-by="reconciler"'})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["status"] == "INVALID_ARGUMENT" and "labels" in error["message"]
        assert http.get(f"{path}/tuningJobs", params={"filter": 'state="JOB_STATE_RUNNING"'}).status_code == 200
        assert http.get(f"{path}/models", params={"filter": 'labels.managed-by="reconciler"'}).status_code == 200
    with Emulator() as kind, httpx.Client(base_url=kind.base_url, headers={"Authorization": "Bearer t"}) as http:
        assert http.get(f"{path}/tuningJobs", params={"filter": 'labels.a="b"'}).status_code == 200


def test_apply_plan_status_and_wait_work_when_job_label_filters_are_refused(tmp_path):
    root = tmp_path / "m"
    names, _ = write_manifests(root, 6, project=PROJECT, location=LOCATION)
    with Emulator(job_duration=60, reject_job_label_filter=True) as emulator:
        # a stranger's job in the same scope, labelled like ours but for another manifest name: never adopted
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": "Bearer t"}) as http:
            http.post(f"/v1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs", json={
                "baseModel": "gemini-2.5-flash", "supervisedTuningSpec": {"trainingDatasetUri": "gs://x/y.jsonl"},
                "labels": {"managed-by": "reconciler", "reconciler-name": "someone-else",
                           "reconciler-digest": "0" * 12}}).raise_for_status()
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            result = operations.apply(workspace, None, operations.ApplyOptions(), operations.Silent(),
                                      threading.Event())
            assert not result.failed and result.plan.counts() == {"train": 6}
            applied = _job_lists(_api(emulator))
        # one refusal for the scope, then unfiltered listings for the rest of the run (refresh and lookups)
        assert applied[0] == (400, True) and set(applied[1:]) == {(200, False)}, applied
        emulator.advance(3600)
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            emulator.clear_requests()
            workspace.refresh()
            assert not workspace.plan().has_changes
            first = _job_lists(_api(emulator))
            emulator.clear_requests()
            workspace.refresh()                     # the same run: the scope is remembered, no second refusal
            again = _job_lists(_api(emulator))
            assert {g.phase for g in operations.status(workspace).values()} == {"succeeded"}
        assert first == [(400, True), (200, False)] and again == [(200, False)]
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": "Bearer t"}) as http:
            jobs = http.get(f"/v1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs").json()["tuningJobs"]
    assert Counter(j["labels"]["reconciler-name"] for j in jobs) == Counter({**{n: 1 for n in names},
                                                                             "someone-else": 1})
