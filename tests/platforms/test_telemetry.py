"""What a job reports about its training, read into a Generation for people watching it: the Gemini API's loss
snapshots and start time, Vertex's tuningDataStats, start time and checkpoint progress; checked like any field."""

from __future__ import annotations

import pytest

from reconciler.errors import BadResponse
from reconciler.observed import LOSS_POINTS, loss_history
from reconciler.platforms import gemini, vertex_read

JOB = "projects/p/locations/us-central1/tuningJobs/1"
LABELS = {"managed-by": "reconciler", "reconciler-name": "bot", "reconciler-digest": "abcdef12"}


def tuned_model(**fields) -> dict:
    return {"name": "tunedModels/bot-abcdef12", "state": "CREATING", **fields}


def test_gemini_snapshots_become_the_loss_history_and_the_latest_loss():
    snapshots = [{"step": s, "epoch": 1, "meanLoss": 3.0 / s} for s in range(1, 11)]
    operation = {"name": "tunedModels/bot-abcdef12/operations/o", "metadata": {"completedPercent": 50,
                                                                             "snapshots": snapshots}}
    g = gemini.generation(tuned_model(tuningTask={"startTime": "2026-01-01T00:00:00Z"}), operation)
    assert g.loss_history == tuple((s, 3.0 / s) for s in range(1, 11)) and g.loss == 0.3
    assert (g.progress, g.start_time) == (50.0, "2026-01-01T00:00:00Z")
    active = gemini.generation(tuned_model(state="ACTIVE", tuningTask={"snapshots": snapshots[:3]}))
    assert active.loss_history == ((1, 3.0), (2, 1.5), (3, 1.0))


def test_a_long_history_is_thinned_evenly_keeping_both_ends():
    points = [(s, 1.0 / s) for s in range(1, 5001)]
    kept = loss_history(points)
    assert len(kept) == LOSS_POINTS and kept[0] == (1, 1.0) and kept[-1] == (5000, 1.0 / 5000)
    assert [s for s, _ in kept] == sorted({s for s, _ in kept})


def test_vertex_data_stats_start_time_and_checkpoint_progress():
    job = {"name": JOB, "state": "JOB_STATE_RUNNING", "labels": LABELS, "startTime": "2026-01-01T00:10:00Z",
           "tuningDataStats": {"supervisedTuningDataStats": {
               "tuningDatasetExampleCount": "500", "totalBillableTokenCount": "150000", "tuningStepCount": "40",
               "totalTuningCharacterCount": "600000"}},
           "tunedModel": {"checkpoints": [{"checkpointId": "1", "step": "10"}, {"checkpointId": "2", "step": 20}]}}
    g = vertex_read.generation(job)
    assert g.data_stats == {"examples": 500, "tokens": 150000, "steps": 40}
    assert (g.start_time, g.progress) == ("2026-01-01T00:10:00Z", 50.0)
    queued = vertex_read.generation({"name": JOB, "state": "JOB_STATE_QUEUED", "labels": LABELS})
    assert (queued.data_stats, queued.start_time, queued.progress) == ({}, "", None)


@pytest.mark.parametrize("job", [
    {"tuningDataStats": {"supervisedTuningDataStats": {"tuningDatasetExampleCount": "many"}}},
    {"tuningDataStats": {"supervisedTuningDataStats": []}},
    {"tuningDataStats": "500"},
    {"startTime": 12},
    {"tunedModel": {"checkpoints": [{"step": "ten"}]}},
])
def test_a_vertex_job_reporting_nonsense_is_a_typed_error(job):
    with pytest.raises(BadResponse):
        vertex_read.decode_job({"name": JOB, "state": "JOB_STATE_RUNNING", **job})


@pytest.mark.parametrize("task", [{"startTime": 12}, {"snapshots": [{"step": "x", "meanLoss": 1.0}]},
                                  {"snapshots": [{"step": 1, "meanLoss": "low"}]}])
def test_a_tuned_model_reporting_nonsense_is_a_typed_error(task):
    with pytest.raises(BadResponse):
        gemini.tuned_model(tuned_model(tuningTask=task))
