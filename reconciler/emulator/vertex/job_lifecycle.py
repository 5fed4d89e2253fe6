"""A tuning job's lifecycle on the virtual clock, computed lazily from its record: QUEUED for the first 10 % of
the job duration, PENDING until 20 %, RUNNING, then SUCCEEDED (or FAILED / CANCELLING -> CANCELLED); and the
TuningJob resource a record shows at a given virtual time."""

from __future__ import annotations

import math
from typing import Any

from ..clock import rfc3339
from ..rpc import status
from .job_schema import without_beta_fields

CANCEL_DELAY = 5.0                      # virtual seconds spent in JOB_STATE_CANCELLING
QUEUED_FRACTION, PENDING_FRACTION = 0.1, 0.2   # of the job duration: QUEUED, then PENDING, then RUNNING
TERMINAL = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                      "JOB_STATE_PARTIALLY_SUCCEEDED"})


def terminal_event(record: dict[str, Any]) -> tuple[float, str]:
    """(virtual time, terminal state) the job is heading for."""
    events = []
    if record.get("failAt") is not None:
        events.append((record["failAt"], "JOB_STATE_FAILED"))
    if record.get("cancelAt") is not None and not record.get("cancelIgnored"):
        events.append((record["cancelAt"] + CANCEL_DELAY, "JOB_STATE_CANCELLED"))
    else:
        events.append((record["created"] + record["duration"], "JOB_STATE_SUCCEEDED"))
    return min(events)


def job_state(record: dict[str, Any], now: float) -> tuple[str, float]:
    """(state, time the job entered it)."""
    final = record.get("final")
    if final:
        return final["state"], final["end"]
    end, terminal_state = terminal_event(record)
    if now >= end:
        return terminal_state, end
    if record.get("cancelAt") is not None and now >= record["cancelAt"]:
        return "JOB_STATE_CANCELLING", record["cancelAt"]
    created, duration = record["created"], record["duration"]
    if now < created + QUEUED_FRACTION * duration:
        return "JOB_STATE_QUEUED", created
    if now < created + PENDING_FRACTION * duration:
        return "JOB_STATE_PENDING", created + QUEUED_FRACTION * duration
    return "JOB_STATE_RUNNING", created + PENDING_FRACTION * duration


def job_view(record: dict[str, Any], now: float, version: str = "v1beta1") -> dict[str, Any]:
    view = dict(record["job"])
    if version == "v1" and record.get("beta"):
        view = without_beta_fields(view)
    state, since = job_state(record, now)
    view["state"] = state
    view["updateTime"] = rfc3339(since)
    started = record["created"] + PENDING_FRACTION * record["duration"]
    interruptions = [t for t in (record.get("failAt"),
                                 None if record.get("cancelIgnored") else record.get("cancelAt")) if t is not None]
    if now >= started and min(interruptions, default=started) >= started:
        view["startTime"] = rfc3339(started)
        view["tuningDataStats"] = data_stats(record)
    if state in TERMINAL:
        view["endTime"] = rfc3339(since)
    final = record.get("final") or {}
    if "error" in final:
        view["error"] = final["error"]
    elif state == "JOB_STATE_FAILED":
        view["error"] = record["failError"]
    elif state == "JOB_STATE_CANCELLED":
        view["error"] = status("CANCELLED", "CANCELED")
    if "tunedModel" in final:
        view["tunedModel"] = final["tunedModel"]
        view["experiment"] = final["experiment"]
    return view


def settled_view_key(record: dict[str, Any], now: float, version: str) -> tuple[str, ...] | None:
    """The memo key of the view `job_view` gives, when that no longer changes with the clock (None while it
    may): a job with its terminal state recorded, at or past its start time (the one other instant the view
    compares `now` with; every terminal event of a job that started comes after it)."""
    if record.get("final") and now >= record["created"] + PENDING_FRACTION * record["duration"]:
        return "tuningJob", record["job"]["name"], version
    return None


def data_stats(record: dict[str, Any]) -> dict[str, Any]:
    examples, epochs = record["examples"], record["epochs"]
    characters = record.get("characters", examples * 1200)  # measured from the dataset when the emulator holds it
    return {"supervisedTuningDataStats": {
        "tuningDatasetExampleCount": str(examples),
        "totalTuningCharacterCount": str(characters),
        "totalBillableTokenCount": str(math.ceil(characters / 4) * epochs),
        "tuningStepCount": str(math.ceil(examples * epochs / 16)),
    }}
