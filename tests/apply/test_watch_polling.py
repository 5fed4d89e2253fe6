"""Following jobs in flight by listing (issue 13): the requests of one poll do not grow with the number of jobs,
a job ending is seen within one interval, and the intervals back off for long waits."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest

from reconciler import operations
from reconciler.apply import watch
from reconciler.observed import Generation
from reconciler.platforms import vertex_read
from reconciler.platforms.connect import connect
from tests.testing.clock import FakeClock
from tests.testing.emulators import running
from tests.testing.manifests import write_manifests

PROJECT, LOCATION = "watch-project", "us-central1"


def _jobs(emulator, clients, count: int, location: str = LOCATION) -> dict[str, Generation]:
    """`count` labelled tuning jobs created straight through the client, as the lock would record them."""
    client = clients["vertex"]
    parent = f"projects/{PROJECT}/locations/{location}"
    recorded = {}
    for index in range(count):
        name = f"bot-{location}-{index:03d}"
        body = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": name,
                "supervisedTuningSpec": {"trainingDatasetUri": f"gs://b/{name}.jsonl"},
                "labels": {"managed-by": "reconciler", "reconciler-name": name, "reconciler-digest": "d" * 12}}
        recorded[name] = vertex_read.generation(client.create_tuning_job(parent, body))
    return recorded


def _api(emulator) -> list[dict]:
    return [e for e in emulator.requests() if not e["path"].startswith("/__emulator__/")]


@pytest.mark.parametrize("count", [5, 20, 60])
def test_one_poll_costs_the_listing_pages_whatever_the_number_of_jobs(count):
    with running(job_duration=3600) as emulator, connect(["vertex"], api_endpoint=emulator.base_url,
                                                         emulator=True) as clients:
        clients["vertex"].page_size = 10  # small pages, so that the page count shows
        recorded = _jobs(emulator, clients, count)
        emulator.clear_requests()
        now = watch.observe(recorded, clients)
        log = _api(emulator)
    assert {name: g.phase for name, g in now.items()} == {name: "queued" for name in recorded}
    assert len(log) == math.ceil(count / 10)  # the pages of one tuningJobs listing, nothing per job
    assert {e["path"].split("/", 4)[4] for e in log} == {f"locations/{LOCATION}/tuningJobs"}


def test_succeeded_jobs_add_one_model_and_one_endpoint_listing_per_scope_and_a_gone_job_is_none():
    with running(job_duration=60) as emulator, connect(["vertex"], api_endpoint=emulator.base_url,
                                                       emulator=True) as clients:
        recorded = {**_jobs(emulator, clients, 6), **_jobs(emulator, clients, 5, "europe-west4")}
        gone = dataclasses.replace(next(iter(recorded.values())), job=f"projects/{PROJECT}/locations/{LOCATION}/"
                                                                       "tuningJobs/404", owner="gone")
        emulator.advance(3600)
        emulator.clear_requests()
        now = watch.observe({**recorded, "gone": gone}, clients)
        routes = sorted(e["path"].split("/")[-1] if "404" not in e["path"] else "GET job 404" for e in _api(emulator))
    assert now.pop("gone") is None
    assert {g.phase for g in now.values()} == {"succeeded"} and all(g.model_exists and g.endpoints
                                                                    for g in now.values())
    # per scope: the job listing, then the model and endpoint listings; one GET for the job no listing shows
    assert routes == ["GET job 404"] + ["endpoints"] * 2 + ["models"] * 2 + ["tuningJobs"] * 2


def test_a_few_jobs_are_fetched_not_listed():
    with running(job_duration=3600) as emulator, connect(["vertex"], api_endpoint=emulator.base_url,
                                                         emulator=True) as clients:
        recorded = _jobs(emulator, clients, vertex_read.FEW)
        emulator.clear_requests()
        watch.observe(recorded, clients)
        log = _api(emulator)
    assert len(log) == vertex_read.FEW and all("/tuningJobs/" in e["path"] for e in log)


def test_status_and_wait_read_through_the_listings(tmp_path):
    write_manifests(tmp_path / "m", 12, project=PROJECT, location=LOCATION)
    with running(job_duration=60) as emulator:
        with operations.open_workspace(str(tmp_path / "m"), api_endpoint=emulator.base_url,
                                       emulator=True) as workspace:
            operations.apply(workspace, None, operations.ApplyOptions(), operations.Silent(), threading.Event())
        with operations.open_workspace(str(tmp_path / "m"), api_endpoint=emulator.base_url,
                                       emulator=True) as workspace:
            emulator.clear_requests()
            assert {g.phase for g in operations.status(workspace).values()} == {"queued"}
            assert len(_api(emulator)) == 1  # 12 jobs, one page
            emulator.advance(3600)
            emulator.clear_requests()
            options = operations.ApplyOptions(timeout=30, poll_interval=0.01)
            assert operations.wait(workspace, workspace.lock, None, options, operations.Silent(), threading.Event())
            assert sorted(e["path"].rsplit("/", 1)[1] for e in _api(emulator)) == ["endpoints", "models",
                                                                                  "tuningJobs"]


# ------------------------------------------------------------------------------------------------ the schedule

@pytest.mark.parametrize("elapsed, base, expected", [
    (0, 5, 5), (60, 5, 5), (300, 5, 5), (600, 5, 10), (1800, 5, 30), (3600, 5, 60), (36_000, 5, 60),
    (0, 0.05, 0.05), (30, 0.05, 0.5), (120, 90, 90),
])
def test_poll_intervals_back_off_to_a_minute_for_hour_long_waits(elapsed, base, expected):
    assert watch.interval(elapsed, base) == pytest.approx(expected)


@pytest.mark.parametrize("ends_at", [3.0, 401.0, 1799.0, 5400.5])
def test_a_job_ending_is_seen_within_one_interval(ends_at):
    clock = FakeClock()
    running_ = Generation(platform="vertex", owner="bot", digest="d", phase="running", job="j")
    polls: list[float] = []

    def observe(active, clients):
        polls.append(clock.now)
        done = clock.now >= ends_at
        return {name: dataclasses.replace(g, phase="succeeded" if done else "running") for name, g in active.items()}

    final = watch.watch({"bot": running_}, None, interval=5.0, sleep=clock.sleep, clock=clock, observe=observe)
    assert final["bot"].phase == "succeeded"
    assert ends_at <= polls[-1] <= ends_at + watch.interval(ends_at, 5.0) + 1e-9
    assert len(polls) < 5400 / 5  # backed off: far fewer polls than one every 5 s


def test_a_stop_ends_a_long_pause_promptly():
    clock = FakeClock()
    stop_at = 4000.0 + 2.5
    running_ = Generation(platform="vertex", owner="bot", digest="d", phase="running", job="j")
    watch.watch({"bot": running_}, None, interval=5.0, sleep=clock.sleep, clock=clock,
                stop=lambda: clock.now >= stop_at, observe=lambda active, clients: dict(active))
    assert clock.now <= stop_at + watch.SLICE


def test_gemini_tunes_are_one_listing_plus_the_operations_of_those_still_creating(tmp_path):
    write_manifests(tmp_path / "m", 0, 5, project=PROJECT, location=LOCATION)
    with running(job_duration=60) as emulator:
        with operations.open_workspace(str(tmp_path / "m"), api_endpoint=emulator.base_url,
                                       emulator=True) as workspace:
            operations.apply(workspace, None, operations.ApplyOptions(), operations.Silent(), threading.Event())
        with operations.open_workspace(str(tmp_path / "m"), api_endpoint=emulator.base_url,
                                       emulator=True) as workspace:
            emulator.clear_requests()
            creating = operations.status(workspace)
            during = sorted("operations" if "/operations/" in e["path"] else e["path"] for e in _api(emulator))
            emulator.advance(3600)
            emulator.clear_requests()
            done = operations.status(workspace)
            after = [e["path"] for e in _api(emulator)]
    assert {g.phase for g in creating.values()} == {"running"}
    assert all(g.operation for g in creating.values())
    assert during == ["/v1beta/tunedModels"] + ["operations"] * 5   # progress lives in each operation
    assert {g.phase for g in done.values()} == {"succeeded"} and after == ["/v1beta/tunedModels"]
