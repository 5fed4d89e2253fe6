"""A tuned model's lifecycle on the virtual clock: CREATING from create until create + job duration, then
ACTIVE (or FAILED); the steps, percent and snapshots its tuning reports as virtual time passes; and the
TunedModel resource a record shows at a given virtual time."""

from __future__ import annotations

import math
from typing import Any

from ..clock import rfc3339
from ..store import Store

MAX_SNAPSHOTS = 200                               # longer runs report evenly spaced steps (emulator choice)


def find(store: Store, name: str) -> dict[str, Any]:
    """The record of tuned model `name`, or the API's 404."""
    return store.require("tunedModels", name, "Tuned model")


def terminal_event(record: dict[str, Any]) -> tuple[float, str]:
    events = [(record["created"] + record["duration"], "ACTIVE")]
    if record.get("failAt") is not None:
        events.append((record["failAt"], "FAILED"))
    return min(events)


def state(record: dict[str, Any], now: float) -> tuple[str, float]:
    """(state, time the model entered it)."""
    if record.get("final"):
        return record["final"]["state"], record["final"]["end"]
    end, terminal = terminal_event(record)
    return (terminal, end) if now >= end else ("CREATING", record["created"])


def due_times(store: Store) -> list[float]:
    return [terminal_event(r)[0] for r in store["tunedModels"].values() if not r.get("final")]


def settle(store: Store, now: float) -> None:
    """Record the tuned models that reached a terminal state."""
    for record in store["tunedModels"].values():
        if record.get("final"):
            continue
        end, terminal = terminal_event(record)
        if end <= now:
            record["final"] = {"state": terminal, "end": end}
            store.changed()


def progress(record: dict[str, Any], now: float) -> tuple[int, list[dict[str, Any]]]:
    """(completed steps, snapshots) at virtual time `now`."""
    current, since = state(record, now)
    total, created, duration = record["totalSteps"], record["created"], record["duration"]
    if current == "ACTIVE":
        done = total
    else:
        moment = since if current == "FAILED" else now
        done = total if duration <= 0 else int(total * min(1.0, max(0.0, (moment - created) / duration)))
        done = min(done, total - 1) if current == "CREATING" else done
    steps = range(1, done + 1)
    if done > MAX_SNAPSHOTS:
        steps = sorted({max(1, round(done * i / MAX_SNAPSHOTS)) for i in range(1, MAX_SNAPSHOTS + 1)})
    hyper = record["model"]["tuningTask"]["hyperparameters"]
    examples, batch = record["examples"], hyper["batchSize"]
    snapshots = [{"step": step,
                  "epoch": min(hyper["epochCount"], max(1, math.ceil(step * batch / examples))),
                  "meanLoss": round(0.05 + 2.5 * math.exp(-4.0 * step / total), 6),
                  "computeTime": rfc3339(created + duration * step / total)} for step in steps]
    return done, snapshots


def view(record: dict[str, Any], now: float) -> dict[str, Any]:
    stored = record["model"]
    result = dict(stored)
    current, since = state(record, now)
    task = dict(stored["tuningTask"])
    task["startTime"] = stored["createTime"]          # tuning starts as soon as the model is created
    if current == "ACTIVE":
        task["completeTime"] = rfc3339(since)
    _, snapshots = progress(record, now)
    if snapshots:
        task["snapshots"] = snapshots
    result["tuningTask"] = task
    result["state"] = current
    if current != "CREATING" and rfc3339(since) > result["updateTime"]:
        result["updateTime"] = rfc3339(since)
    return result
