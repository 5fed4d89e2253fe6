"""`reconciler status` as a document: `--json` (versioned, with a JSON Schema: SCHEMA) and `--markdown` (a table
with loss sparklines, to paste into an issue or a pull request). `needs_attention` decides the exit code: a
recorded job that failed, was cancelled or expired, or whose model is gone.

`estimates` (by manifest name, each `cost.Estimate.to_json()` as the lock recorded it at apply) adds what each job
was estimated to cost, beside the billable token count the API reported once the job ended."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler import cost
from reconciler.observed import GONE, STATE_WORDS, Generation, needs_attention
from reconciler.render import jobs
from reconciler.render.untrusted import for_markdown, for_marker, in_code

FORMAT_VERSION = 1
MARKER = "<!-- reconciler-status -->"  # lets a bot find and update its earlier comment


def attention(now: dict[str, Generation | None]) -> list[tuple[str, str]]:
    """(name, why) for every recorded job a person should look at, by name."""
    return [(name, why) for name, g in sorted(now.items()) if (why := needs_attention(g))]


NONE: Mapping[str, Mapping] = MappingProxyType({})


def estimates_from(entries: Mapping[str, Any]) -> dict[str, dict]:
    """The estimates the lock recorded, by name, from its entries (`LockEntry.estimate`; {} when none)."""
    return {name: dict(entry.estimate) for name, entry in entries.items() if entry.estimate}


def document(now: dict[str, Generation | None], *, at: float | None = None,
             estimates: Mapping[str, Mapping] = NONE) -> dict:
    """The `status --json` document (shape: SCHEMA)."""
    at = jobs.now_epoch() if at is None else at
    entries = [_job(name, g, at) | _estimate(estimates.get(name)) for name, g in sorted(now.items())]
    summary: dict[str, int] = {}
    for entry in entries:
        summary[entry["state"]] = summary.get(entry["state"], 0) + 1
    found = attention(now)
    return {"formatVersion": FORMAT_VERSION, "ok": not found, "summary": summary,
            "attention": [{"name": name, "reason": why} for name, why in found], "jobs": entries}


def _job(name: str, g: Generation | None, at: float) -> dict:
    v = jobs.view(name, g, now=at)
    if g is None:
        return {"name": name, "state": v.word, "exists": False, "attention": v.attention}
    return {
        "name": name, "state": v.word, "exists": True, "attention": needs_attention(g),
        "platform": g.platform, "phase": g.phase, "apiState": g.state, "job": g.job, "model": g.model,
        "modelExists": g.model_exists, "endpoints": list(g.endpoints), "error": g.error,
        "progress": g.progress, "elapsedSeconds": v.elapsed, "etaSeconds": v.eta, "loss": g.loss,
        "lossHistory": [{"step": step, "loss": loss} for step, loss in g.loss_history],
        "dataStats": dict(g.data_stats), "createTime": g.create_time, "startTime": g.start_time,
    }


def _estimate(data: Mapping | None) -> dict:
    return {"estimate": cost.Estimate.from_json(data).to_json()} if data else {}


def as_json(now: dict[str, Generation | None], *, estimates: Mapping[str, Mapping] = NONE) -> str:
    return json.dumps(document(now, estimates=estimates), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def cost_text(estimate: Mapping | None, generation: Generation | None) -> str:
    """`est. ≈ $18.00 (≈ 3.6 M tokens) · reported: 3.4 M tokens billable`: the estimate recorded at apply (tokens
    × epochs) and, once the job ended, the billable token count its API reported (Vertex: totalBillableTokenCount)."""
    parts = []
    if estimate:
        e = cost.Estimate.from_json(estimate)
        trained = f" (≈ {cost.token_count(e.tokens * e.epochs)})" if e.tokens is not None and e.epochs else ""
        parts.append(f"est. {e.short()}{trained}" if e.known else e.text())
    reported = generation.data_stats.get("tokens") if generation is not None and not generation.active else None
    if reported is not None:
        parts.append(f"reported: {cost.token_count(reported)} billable")
    return " · ".join(parts)


def markdown(now: dict[str, Generation | None], *, title: str = "", estimates: Mapping[str, Mapping] = NONE) -> str:
    """A status comment: a marker, a title, what needs attention (first), then one table row per job."""
    heading = f"### Tuning jobs{': ' + for_markdown(title) if title else ''}"
    lines = [MARKER if not title else MARKER.replace(" -->", f": {for_marker(title)} -->"), heading, ""]
    if not now:
        return "\n".join([*lines, "Nothing recorded in the lock.", ""])
    found = attention(now)
    if found:
        lines += [f"**{len(found)} need{'s' if len(found) == 1 else ''} attention:**", ""]
        lines += [f"- **{for_markdown(name)}**: {for_markdown(why)}" for name, why in found] + [""]
    costed = any(estimates.get(name) for name in now)  # the cost column only where the lock recorded estimates
    lines += ["| model | state | progress | elapsed | loss | data |" + (" cost |" if costed else "") + " resource |",
              "|---|---|---:|---:|---|---|" + ("---|" if costed else "") + "---|"]
    at = jobs.now_epoch()
    for name, g in sorted(now.items()):
        v = jobs.view(name, g, now=at)
        progress = jobs.percent_text(v) + (f" (eta {jobs.duration(v.eta)})" if v.active and v.eta else "")
        loss = f"{jobs.loss_text(v)} {in_code(v.spark, table=True) if v.spark else ''}".strip()
        resource = v.model if v.word == "succeeded" and v.model else v.resource
        cells = [f"**{for_markdown(name)}**", _word(v.word), progress, jobs.duration(v.elapsed), loss,
                 for_markdown(jobs.data(v.stats))]
        cells += [for_markdown(cost_text(estimates.get(name), g))] if costed else []
        cells += [in_code(resource, table=True) if resource else ""]
        lines.append("| " + " | ".join(cells) + " |")
    counts = document(now, at=at)["summary"]
    lines += ["", ", ".join(f"{n} {word}" for word, n in sorted(counts.items())) + ".", ""]
    return "\n".join(lines)


def _word(word: str) -> str:
    return f"⚠️ {word}" if word in ("failed", "cancelled", "expired", "gone") else word


_NULLABLE_NUMBER = {"type": ["number", "null"]}
_STATES = sorted(set(STATE_WORDS.values()) | {GONE})

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://reconciler.dev/schemas/status-v1.json",
    "title": "reconciler status --json",
    "type": "object",
    "required": ["formatVersion", "ok", "summary", "attention", "jobs"],
    "additionalProperties": False,
    "properties": {
        "formatVersion": {"const": FORMAT_VERSION},
        "ok": {"type": "boolean", "description": "false: some job needs attention (the command exits 1)"},
        "summary": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1},
                    "propertyNames": {"enum": _STATES}},
        "attention": {"type": "array", "items": {
            "type": "object", "required": ["name", "reason"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}}},
        "jobs": {"type": "array", "items": {
            "type": "object", "required": ["name", "state", "exists", "attention"], "additionalProperties": False,
            "properties": {
                "name": {"type": "string"}, "state": {"enum": _STATES}, "exists": {"type": "boolean"},
                "attention": {"type": "string"}, "platform": {"type": "string"}, "phase": {"type": "string"},
                "apiState": {"type": "string"}, "job": {"type": ["string", "null"]},
                "model": {"type": ["string", "null"]}, "modelExists": {"type": "boolean"},
                "endpoints": {"type": "array", "items": {"type": "string"}}, "error": {"type": "string"},
                "progress": _NULLABLE_NUMBER, "elapsedSeconds": _NULLABLE_NUMBER, "etaSeconds": _NULLABLE_NUMBER,
                "loss": _NULLABLE_NUMBER,
                "lossHistory": {"type": "array", "items": {
                    "type": "object", "required": ["step", "loss"], "additionalProperties": False,
                    "properties": {"step": {"type": "integer"}, "loss": {"type": "number"}}}},
                "dataStats": {"type": "object", "additionalProperties": False, "properties": {
                    "examples": {"type": "integer"}, "tokens": {"type": "integer"}, "steps": {"type": "integer"}}},
                "createTime": {"type": "string"}, "startTime": {"type": "string"},
                "estimate": {"type": "object", "additionalProperties": False,
                             "description": "What the job was estimated to cost when apply started it",
                             "properties": {
                                 "tokens": {"type": ["integer", "null"]}, "epochs": {"type": ["integer", "null"]},
                                 "usd": _NULLABLE_NUMBER, "price": _NULLABLE_NUMBER, "unknown": {"type": "string"},
                                 "epochs_assumed": {"type": "boolean"}}},
            }}},
    },
}
