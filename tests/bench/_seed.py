"""Seeding thousands of live Vertex models in seconds, through the emulator's state file (issue 13).

`reconciler apply` of 10,000 manifests takes minutes; the benchmarks need the state it leaves, not the apply. So:
one real `apply` of a template manifest per scope (what apply writes, exactly, whatever the emulator and the lock
look like today), then each template's emulator records and lock entry cloned for every other manifest of its
scope, with the name, spec digest, intent and resource ids substituted. The result is checked by a real
`reconciler plan --detailed-exitcode` (no changes, in sync) by the caller.

Manifests: `bench-{scope}-{index:05d}.yaml`, project and location in each (the scopes differ by location), in one
directory with a reconciler.yaml naming the lock file.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _harness as h
from tests.testing import cli
from tests.testing.emulators import EmulatorProcess
from tests.testing.manifests import SAMPLE_DATASET

LOCATIONS = ("us-central1", "europe-west4", "asia-northeast1", "us-east4")
LOCK_NAME = "reconciler.lock"
TEMPLATE_INDEX = 0


def name(scope: int, index: int) -> str:
    return f"bench-{scope}-{index:05d}"


def manifest(scope: int, index: int, dataset: str = SAMPLE_DATASET) -> str:
    manifest_name = name(scope, index)
    return "\n".join([
        "apiVersion: reconciler/v1", "kind: TunedModel",
        f"metadata: {{name: {manifest_name}, labels: {{team: bench}}}}",
        "spec:", "  platform: vertex", f"  project: {h.PROJECT}", f"  location: {LOCATIONS[scope]}",
        "  baseModel: gemini-2.5-flash", f"  displayName: {manifest_name}",
        f"  training: {{dataset: {dataset}}}",
        "  exportLastCheckpointOnly: true", ""])


def write_manifests(directory: Path, per_scope: Sequence[int]) -> dict[int, list[str]]:
    """The manifests of every scope (`per_scope[s]` of scope s); the names by scope."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "reconciler.yaml").write_text(f"lockFile: {LOCK_NAME}\n", encoding="utf-8")
    names: dict[int, list[str]] = {}
    for scope, count in enumerate(per_scope):
        names[scope] = [name(scope, i) for i in range(count)]
        for index in range(count):
            (directory / f"{name(scope, index)}.yaml").write_text(manifest(scope, index), encoding="utf-8")
    return names


def seed(directory: Path, state_file: Path, per_scope: Sequence[int], *, job_duration: float, advance: float,
         timeout: float) -> dict[str, Any]:
    """Manifests, emulator state and lock for `per_scope` models per scope. `advance`: virtual seconds the clock is
    moved after the template apply (past `job_duration`: every job succeeded; 0: all still in flight)."""
    names = write_manifests(directory, per_scope)
    template_dir = directory.parent / "template"
    shutil.rmtree(template_dir, ignore_errors=True)
    template_dir.mkdir(parents=True)
    shutil.copy(directory / "reconciler.yaml", template_dir / "reconciler.yaml")
    for scope in names:
        shutil.copy(directory / f"{name(scope, TEMPLATE_INDEX)}.yaml", template_dir)
    template_state = template_dir / "emulator-state.json"
    with EmulatorProcess("--state-file", str(template_state), "--job-duration", str(job_duration)) as emu:
        run = cli.run("apply", str(template_dir), "--yes", "--api-endpoint", emu.base_url, timeout=timeout)
        if run.returncode != 0:
            raise RuntimeError("seeding the template failed: " + run.describe())
        if advance:
            emu.advance(advance)
    state = json.loads(template_state.read_text(encoding="utf-8"))
    lock = json.loads((template_dir / LOCK_NAME).read_text(encoding="utf-8"))
    digests = _digests(directory)
    clone(state, lock, names, digests)
    state_file.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
    (directory / LOCK_NAME).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"names": names, "template_apply_s": run.seconds}


def _digests(directory: Path) -> dict[str, str]:
    from reconciler import manifest as manifests

    return {n: r.digest for n, r in manifests.load(str(directory)).resources.items()}


def clone(state: dict[str, Any], lock: dict[str, Any], names: dict[int, list[str]], digests: dict[str, str]) -> None:
    """Every template record and lock entry copied for each manifest of its scope, tokens substituted."""
    entries = lock["entries"]
    counter = [10**17]
    for scope, scope_names in names.items():
        template = scope_names[TEMPLATE_INDEX]
        trained_on = entries[template].pop("trainedOn", None)  # object generations: no ids to substitute
        entry_text = json.dumps(entries[template])
        job = state["tuningJobs"][_canonical(entries[template]["current"]["job"], state)]
        tokens = _tokens(entries[template], job, template, digests[template])
        records = {collection: [(key, json.dumps(record)) for key, record in state[collection].items()
                                if any(t in key or t in json.dumps(record) for t in tokens["ids"])]
                   for collection in ("tuningJobs", "models", "endpoints", "operations")}
        for index, manifest_name in enumerate(scope_names):
            if index == TEMPLATE_INDEX:
                continue
            swaps = [(template, manifest_name), (digests[template], digests[manifest_name]),
                     (digests[template][:12], digests[manifest_name][:12])]
            swaps += [(token, str(counter[0] + i)) for i, token in enumerate(tokens["ids"])]
            swaps += [(token, uuid.uuid4().hex if "-" not in token else str(uuid.uuid4())) for token in tokens["intents"]]
            counter[0] += len(tokens["ids"])
            entries[manifest_name] = json.loads(_swap(entry_text, swaps))
            if trained_on is not None:
                entries[manifest_name]["trainedOn"] = trained_on
            for collection, rows in records.items():
                for key, text in rows:
                    record = json.loads(_swap(text, swaps))
                    if "seq" in record:
                        state["seq"] += 1
                        record["seq"] = state["seq"]
                    state[collection][_swap(key, swaps)] = record
        if trained_on is not None:
            entries[template]["trainedOn"] = trained_on


def _canonical(job: str, state: dict[str, Any]) -> str:
    """The store's key of a job the lock may spell with the project id."""
    tail = job.split("/", 2)[2]
    return next(key for key in state["tuningJobs"] if key.endswith(tail))


def _tokens(entry: dict[str, Any], job: dict[str, Any], template: str, digest: str) -> dict[str, list[str]]:
    """The resource ids in the template's lock entry and job record (job, model, endpoints: numeric path
    segments) and its intent ids, to be replaced in each clone."""
    text = json.dumps(entry)
    ids = set()
    for value in _strings(entry) + _strings(job):
        for segment in value.replace("@", "/").split("/"):
            if segment.isdigit() and len(segment) >= 6 and segment not in (h.PROJECT,):
                ids.add(segment)
    project_numbers = {v.split("/")[1] for v in _strings(entry) + _strings(job) if v.startswith("projects/")}
    ids -= project_numbers
    intents = {v for v in _strings(entry) + _strings(job) if _is_uuid(v)}
    assert template in text and digest[:12] in text, "the template entry names its manifest and digest"
    return {"ids": sorted(ids, key=len, reverse=True), "intents": sorted(intents)}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _is_uuid(text: str) -> bool:
    try:
        return text in (str(uuid.UUID(text)), uuid.UUID(text).hex)
    except ValueError:
        return False


def _swap(text: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        text = text.replace(old, new)
    return text


def seed_or_reuse(work: Path, manifests: int, scopes: int, *, job_duration: float, advance: float, timeout: float,
                  noun: str) -> dict[str, Any]:
    """Seed `manifests` models over `scopes` (see `seed`), or reuse what an earlier run seeded in the same
    --workdir with the same sizes. `noun` names them in the log ("models", "jobs in flight")."""
    directory, state_file, marker = work / "manifests", work / "emulator-state.json", work / "seeded.json"
    per_scope = [manifests // scopes + (1 if s < manifests % scopes else 0) for s in range(scopes)]
    if marker.exists() and state_file.exists():
        seeded = json.loads(marker.read_text(encoding="utf-8"))
        if seeded.get("per_scope") == per_scope:
            h.log(f"reusing the {manifests} {noun} seeded in {work}")
            return seeded
    h.log(f"seeding {manifests} {noun} in {scopes} scopes through the emulator's state file")
    started = time.perf_counter()
    facts = seed(directory, state_file, per_scope, job_duration=job_duration, advance=advance, timeout=timeout)
    seeded = {"per_scope": per_scope, "seed_s": time.perf_counter() - started,
              "template_apply_s": facts["template_apply_s"]}
    marker.write_text(json.dumps(seeded), encoding="utf-8")
    h.log(f"seeded in {seeded['seed_s']:.1f}s")
    return seeded
