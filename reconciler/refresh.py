"""Read the live state of every managed resource into an `ObservedState`, in pages, not per resource.

Per Vertex scope (project, location): three label-filtered listings (tuning jobs, models, endpoints),
joined job -> model -> endpoints. On the Gemini API: one listing of all tuned models, kept when the id is
`{name}-{8 hex}` for a known manifest name. Every listing runs concurrently. Single GETs happen only where
a listing cannot answer: lock entries the listings did not return, a succeeded job whose model is missing
from the model listing (deleted out of band, or its labels edited away), and the operation of a Gemini
model that is still CREATING (progress) or FAILED (the server's reason).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reconciler.clients.gemini import GeminiClient
from reconciler.clients.vertex import VertexClient
from reconciler.errors import NotFound
from reconciler.payloads import (DIGEST_LABEL, INTENT_LABEL, MANAGED_BY, MANAGED_FILTER, MANAGER, NAME_LABEL,
                                 OWNERSHIP_LABELS)
from reconciler.observed import GEMINI_PHASES, VERTEX_PHASES, Generation, ObservedState


GEMINI_ID = re.compile(r"(?P<name>[a-z](?:[a-z0-9-]*[a-z0-9])?)-(?P<digest>[0-9a-f]{8})")
GEMINI_STATE_NUMBERS = {0: "STATE_UNSPECIFIED", 1: "CREATING", 2: "ACTIVE", 3: "FAILED"}
GEMINI_LIVE_FIELDS = ("displayName", "description", "temperature", "topP", "topK")


class Scope(NamedTuple):
    """Where to look: ("vertex", project, location) or ("gemini-api", None, None); plain tuples work too."""

    platform: str
    project: str | None = None
    location: str | None = None

    @property
    def key(self) -> str:
        return f"vertex:{self.project}:{self.location}" if self.platform == "vertex" else self.platform

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def refresh(scopes: Iterable[tuple], known_names: Collection[str], lock_keys: Collection[str],
            vertex: VertexClient | None, gemini: GeminiClient | None, *,
            operations: Mapping[str, str] | None = None, max_workers: int = 8) -> ObservedState:
    """Everything managed in `scopes`, plus whatever the lock names elsewhere.

    known_names: manifest names from the manifests and the lock (Gemini ids carry no other ownership mark).
    lock_keys: generation keys recorded in the lock (Vertex tuningJob names, Gemini tunedModel names).
    operations: Gemini model name -> the create operation recorded in the lock, to read progress directly.
    A lock key that no longer exists (404) has no generation in the result: the planner reports it missing.
    """
    scopes = _distinct(scopes)
    vertex_scopes = [s for s in scopes if s.platform == "vertex"]
    vertex_keys = sorted(k for k in lock_keys if "/tuningJobs/" in k)
    gemini_keys = sorted(k for k in lock_keys if k.startswith("tunedModels/"))
    read_gemini = any(s.platform == "gemini-api" for s in scopes)
    if (vertex_scopes or vertex_keys) and vertex is None:
        raise ValueError("refresh needs a VertexClient: Vertex scopes or lock entries are present")
    if (read_gemini or gemini_keys) and gemini is None:
        raise ValueError("refresh needs a GeminiClient: Gemini API scopes or lock entries are present")

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="refresh") as pool:
        reader = _Reader(pool, vertex, gemini, frozenset(known_names), dict(operations or {}))
        listings = [reader.list_vertex_scope(s) for s in vertex_scopes]
        gemini_listing = reader.list_gemini() if read_gemini else None
        vertex_generations = reader.vertex_generations([join() for join in listings], vertex_keys)
        gemini_generations = reader.gemini_generations(gemini_listing.result() if gemini_listing else [],
                                                       gemini_keys)
    read = [s.key for s in scopes]
    return ObservedState(generations=tuple(sorted(vertex_generations + gemini_generations,
                                                  key=lambda g: (g.owner, g.create_time, g.key))),
                         scopes=tuple(read))


def _distinct(scopes: Iterable[tuple]) -> list[Scope]:
    by_key: dict[str, Scope] = {}
    for raw in scopes:
        scope = Scope(*raw)
        by_key.setdefault(scope.key, scope)
    return [by_key[key] for key in sorted(by_key)]


@dataclass
class _VertexListing:
    jobs: list[dict] = field(default_factory=list)
    models: dict[str, dict] = field(default_factory=dict)  # model tail (no project, no @version) -> Model
    endpoints: list[dict] = field(default_factory=list)


class _Reader:
    def __init__(self, pool: ThreadPoolExecutor, vertex: VertexClient | None, gemini: GeminiClient | None,
                 known_names: frozenset[str], operations: dict[str, str]):
        self.pool, self.vertex, self.gemini = pool, vertex, gemini
        self.known_names, self.operations = known_names, operations

    # ----------------------------------------------------------------------------------------- Vertex

    def list_vertex_scope(self, scope: Scope) -> Callable[[], _VertexListing]:
        """Start the scope's three listings; the returned function waits for them and joins."""
        vertex = self.vertex
        assert vertex is not None
        jobs = self._submit(list, vertex.list_tuning_jobs(scope.parent, MANAGED_FILTER))
        models = self._submit(list, vertex.list_models(scope.parent, MANAGED_FILTER))
        endpoints = self._submit(list, vertex.list_endpoints(scope.parent, MANAGED_FILTER))
        return lambda: _VertexListing(
            jobs=[j for j in jobs.result() if _managed(j)],
            models={model_tail(m["name"]): m for m in models.result() if m.get("name")},
            endpoints=endpoints.result())

    def vertex_generations(self, listings: list[_VertexListing], lock_keys: list[str]) -> list[Generation]:
        models: dict[str, dict] = {}
        endpoints: list[dict] = []
        jobs: dict[str, dict] = {}
        for listing in listings:
            models.update(listing.models)
            endpoints += listing.endpoints
            jobs.update({name_tail(j["name"]): j for j in listing.jobs})
        spelling = {name_tail(k): k for k in lock_keys}  # the lock's spelling of a name wins (project id vs number)

        unlisted = [k for k in lock_keys if name_tail(k) not in jobs]
        fetched = {name_tail(k): self._submit(_get_or_none, self.vertex.get_tuning_job, k) for k in unlisted}
        for tail, future in fetched.items():
            job = future.result()
            if job is not None and _managed(job):
                jobs[tail] = job

        # A succeeded job whose model the listing lacks: deleted out of band, or its labels were edited away.
        made = {model_tail(m): m for m in (_job_model(j) for j in jobs.values()) if m}
        model_gets = {tail: self._submit(_get_or_none, self.vertex.get_model, name)
                      for tail, name in sorted(made.items()) if tail not in models}
        for tail, future in model_gets.items():
            model = future.result()
            if model is not None:
                models[tail] = model

        serving = _serving(endpoints)
        generations = []
        for tail, job in sorted(jobs.items()):
            made = model_tail(_job_model(job) or "")
            generations.append(vertex_generation(job, models.get(made), model_exists=made in models,
                                                 serving=_serving_version(serving, _job_model(job) or ""),
                                                 job_name=spelling.get(tail)))
        return generations

    # ------------------------------------------------------------------------------------- Gemini API

    def list_gemini(self) -> Future[list[dict]]:
        gemini = self.gemini
        assert gemini is not None
        return self._submit(list, gemini.list_tuned_models())

    def gemini_generations(self, listed: list[dict], lock_keys: list[str]) -> list[Generation]:
        models = {m["name"]: m for m in listed if self._owned_gemini(m.get("name", ""))}
        fetched = {k: self._submit(_get_or_none, self.gemini.get_tuned_model, k)
                   for k in lock_keys if k not in models}
        for name, future in fetched.items():
            model = future.result()
            if model is not None and _parse_gemini_id(model.get("name", "")):
                models[model["name"]] = model
        operations = {name: self._submit(self._gemini_operation, name)
                      for name, model in sorted(models.items())
                      if _gemini_state(model) in ("CREATING", "FAILED")}
        return [gemini_generation(model, operations[name].result() if name in operations else None)
                for name, model in sorted(models.items())]

    def _owned_gemini(self, name: str) -> bool:
        parsed = _parse_gemini_id(name)
        return parsed is not None and parsed[0] in self.known_names

    def _gemini_operation(self, model_name: str) -> dict | None:
        """The model's create operation: the one the lock recorded, else the first the API lists (one page of one)."""
        gemini = self.gemini
        assert gemini is not None
        recorded = self.operations.get(model_name)
        if recorded:
            found = _get_or_none(gemini.get_operation, recorded)
            if found is not None:
                return found
        try:
            return next(iter(gemini.list_operations(model_name, page_size=1)), None)
        except NotFound:
            return None

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.pool.submit(fn, *args)


# ---------------------------------------------------------------------------------------- Vertex rows


def vertex_generation(job: dict, model: dict | None = None, *, model_exists: bool = True,
                      serving: Collection[str] = (), job_name: str | None = None) -> Generation:
    """A tuning job as a Generation, joined with its Model when that was read.

    model_exists: False when the job names a model that a read showed to be gone; a job read on its own
    (a create answer, a GET) says nothing about that, so the model is taken to exist.
    serving: endpoints found elsewhere (an endpoint listing) that have the model deployed.
    """
    labels = job.get("labels") or {}
    state = str(job.get("state") or "JOB_STATE_UNSPECIFIED")
    phase = VERTEX_PHASES.get(state, "pending")
    return Generation(
        platform="vertex",
        owner=labels.get(NAME_LABEL, ""),
        digest=labels.get(DIGEST_LABEL, ""),
        phase=phase,
        job=job_name or job["name"],
        model=_job_model(job),
        model_exists=model_exists or _job_model(job) is None,
        endpoints=_endpoints(job, model, set(serving)),
        live=_vertex_live(job, model),
        intent=labels.get(INTENT_LABEL, ""),
        error=str((job.get("error") or {}).get("message", "")),
        state=state,
        create_time=str(job.get("createTime", "")),
    )


def _vertex_live(job: dict, model: dict | None) -> dict:
    if model is not None:
        live = {"displayName": model.get("displayName"), "description": model.get("description"),
                "labels": model.get("labels")}
    else:
        live = {"displayName": job.get("tunedModelDisplayName"), "description": job.get("description"),
                "labels": job.get("labels")}
    live["labels"] = {k: v for k, v in (live["labels"] or {}).items() if k not in OWNERSHIP_LABELS}
    return {k: v for k, v in live.items() if v is not None}


def _serving(endpoints: list[dict]) -> dict[str, set[str]]:
    """`model tail@version` (or the bare tail when a deployment names no version) -> endpoints deploying it."""
    index: dict[str, set[str]] = {}
    for endpoint in endpoints:
        for deployed in endpoint.get("deployedModels") or ():
            if deployed.get("model") and endpoint.get("name"):
                base, version = model_tail(deployed["model"]), deployed_version(deployed)
                index.setdefault(f"{base}@{version}" if version else base, set()).add(endpoint["name"])
    return index


def _serving_version(serving: dict[str, set[str]], model_name: str) -> set[str]:
    """The endpoints serving this version: a continuation's version `@2` must not claim `@1`'s endpoints."""
    base, _, version = name_tail(model_name).partition("@")
    return serving.get(f"{base}@{version or '1'}", set()) | serving.get(base, set())


def _endpoints(job: dict, model: dict | None, listed: set[str]) -> tuple[str, ...]:
    """Every endpoint serving the model or one of its checkpoints: the job's, the model's and the listed ones."""
    tuned = job.get("tunedModel") or {}
    found = {tuned.get("endpoint")} | {c.get("endpoint") for c in tuned.get("checkpoints") or ()} | listed
    version = (_job_model(job) or "").partition("@")[2]
    if model is not None and str(model.get("versionId") or version) == version:  # the listed version is ours
        found |= {d.get("endpoint") for d in model.get("deployedModels") or ()}
    return tuple(sorted(e for e in found if e))


def _managed(resource: dict) -> bool:
    """The server-side label filter is not documented as reliable for tuningJobs: check it here too."""
    labels = resource.get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGER and bool(labels.get(NAME_LABEL)) and bool(resource.get("name"))


def _job_model(job: dict) -> str | None:
    return (job.get("tunedModel") or {}).get("model") or None


def name_tail(name: str) -> str:
    """`projects/P/locations/L/...` -> `locations/L/...`: the server may spell P as the project number."""
    parts = name.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "projects" else name


def model_tail(name: str) -> str:
    """`projects/P/locations/L/models/M@V` -> `locations/L/models/M`: one model, however P and V are spelled."""
    return name_tail(name).split("@", 1)[0]


def deployed_version(deployed: dict) -> str:
    """The model version a DeployedModel serves: from `model@V`, else `modelVersionId` ("" when unsaid)."""
    return deployed.get("model", "").partition("@")[2] or str(deployed.get("modelVersionId") or "")


def _get_or_none(get: Callable[[str], dict], name: str) -> dict | None:
    try:
        return get(name)
    except NotFound:
        return None


# ------------------------------------------------------------------------------------ Gemini API rows


def _parse_gemini_id(name: str) -> tuple[str, str] | None:
    """`tunedModels/{manifest name}-{8 hex digest}` -> (name, digest)."""
    if not name.startswith("tunedModels/"):
        return None
    match = GEMINI_ID.fullmatch(name.removeprefix("tunedModels/"))
    return (match["name"], match["digest"]) if match else None


def _gemini_state(model: dict) -> str:
    state = model.get("state", "STATE_UNSPECIFIED")
    return GEMINI_STATE_NUMBERS.get(state, "STATE_UNSPECIFIED") if isinstance(state, int) else str(state)


def gemini_generation(model: dict, operation: dict | None = None) -> Generation:
    """A tuned model as a Generation; its create operation, when read, adds progress or the failure reason."""
    owner, digest = _parse_gemini_id(model["name"]) or ("", "")
    state = _gemini_state(model)
    phase = GEMINI_PHASES.get(state, "pending")
    progress, error = None, ""
    snapshots = (model.get("tuningTask") or {}).get("snapshots") or []
    if operation is not None:
        metadata = operation.get("metadata") or {}
        if phase == "running" and metadata.get("completedPercent") is not None:
            progress = float(metadata["completedPercent"])
        snapshots = metadata.get("snapshots") or snapshots
        error = str((operation.get("error") or {}).get("message", ""))
    loss = snapshots[-1].get("meanLoss") if snapshots else None
    return Generation(
        platform="gemini-api",
        owner=owner,
        digest=digest,
        phase=phase,
        model=model["name"],
        operation=str((operation or {}).get("name", "")),
        live={k: model[k] for k in GEMINI_LIVE_FIELDS if model.get(k) is not None},
        progress=progress,
        loss=float(loss) if loss is not None else None,
        error=error if phase == "failed" else "",
        state=state,
        create_time=str(model.get("createTime", "")),
    )
