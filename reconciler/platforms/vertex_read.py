"""Reading Vertex AI: per (project, location) three label-filtered listings (tuning jobs, models, endpoints),
joined job -> model -> endpoints. GETs only where a listing cannot answer: lock entries the listings did not
return (among them what was created before the stack was set: it carries no stack label, so an identity's
listing leaves it out), and a succeeded job whose model is missing from the model listing (deleted out of
band, its labels edited away, or made before the stack was set).

Every job, model and endpoint read (listed, fetched, or a create's answer) goes through its decoder
(`decode_job`, `decode_model`, `decode_endpoint`): a shape the API does not publish is a BadResponse naming the
call, never a KeyError and never "nothing live"."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler import ownership
from reconciler.observed import Generation, Phase, name_tail
from reconciler.platforms import decode
from reconciler.platforms.base import Submit, get_or_none

if TYPE_CHECKING:
    from reconciler.clients.vertex import VertexClient

PHASES: dict[str, Phase] = {
    "JOB_STATE_QUEUED": "queued",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_PAUSED": "running",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


@dataclass
class _Listing:
    jobs: list[dict] = field(default_factory=list)
    models: dict[str, dict] = field(default_factory=dict)  # model tail (no project, no @version) -> Model
    endpoints: list[dict] = field(default_factory=list)


def read(client: VertexClient, parents: list[str], lock_keys: list[str], claims: ownership.Claims,
         submit: Submit) -> Callable[[], list[Generation]]:
    """Start every scope's three listings now; the returned function joins them into generations."""
    started = []
    listing_filter = ownership.listing_filter(claims.identity)  # ours, and of our identity when we have one
    for parent in parents:
        jobs = submit(_each, decode_job, client.list_tuning_jobs(parent, listing_filter),
                      client.url(f"{parent}/tuningJobs"))
        models = submit(_each, decode_model, client.list_models(parent, listing_filter),
                        client.url(f"{parent}/models"))
        endpoints = submit(_each, decode_endpoint, client.list_endpoints(parent, listing_filter),
                           client.url(f"{parent}/endpoints"))
        started.append((jobs, models, endpoints))

    def join() -> list[Generation]:
        listings = [_Listing(jobs=jobs.result(), models={model_tail(m["name"]): m for m in models.result()},
                             endpoints=endpoints.result())
                    for jobs, models, endpoints in started]
        return _generations(client, listings, lock_keys, claims, submit)
    return join


FEW = 3  # at most this many jobs in a scope are followed by GETs: cheaper than a listing's page set


def observe(client: VertexClient, generations: list[Generation], submit: Submit
            ) -> Callable[[], dict[str, Generation | None]]:
    """Follow recorded jobs (`status`, `wait`): per scope one label-filtered listing of tuning jobs (GETs instead
    when a scope has at most FEW of them, and for any job the listing leaves out), then, only where a job has
    succeeded, the models and endpoints: listed where its jobs were, fetched elsewhere. Requests per poll are
    the pages plus a constant per scope, whatever the number of jobs. Keys map to None for a job gone."""
    followed = [g for g in generations if g.job]
    by_parent: dict[str, list[Generation]] = {}
    for g in followed:
        by_parent.setdefault(job_parent(g.job), []).append(g)
    listed_parents = sorted(p for p, gs in by_parent.items() if len(gs) > FEW)
    listings = {p: submit(_each, decode_job, client.list_tuning_jobs(p, ownership.MANAGED_FILTER),
                          client.url(f"{p}/tuningJobs")) for p in listed_parents}

    def join() -> dict[str, Generation | None]:
        listed = {name_tail(j["name"]): j for future in listings.values() for j in future.result()}
        fetched = {g.key: submit(_get, decode_job, client.get_tuning_job, g.job, client.url(g.job))
                   for g in followed if name_tail(g.job) not in listed}
        jobs = {g.key: listed[name_tail(g.job)] if g.key not in fetched else fetched[g.key].result()
                for g in followed}
        made = {key: _job_model(j) for key, j in jobs.items()
                if j is not None and PHASES.get(str(j.get("state"))) == "succeeded" and _job_model(j)}
        models, serving = _made_models(client, made.values(), set(listed_parents), submit)
        now: dict[str, Generation | None] = {}
        for g in followed:
            job, recorded = jobs[g.key], ownership.Recorded(g.owner, g.digest)  # for a job without labels
            if job is None:
                now[g.key] = None
            elif g.key in made:
                tail = model_tail(made[g.key])
                now[g.key] = generation(job, models.get(tail), model_exists=tail in models, job_name=g.job,
                                        serving=_serving_version(serving, made[g.key]), recorded=recorded,
                                        decoded=True)
            else:
                now[g.key] = generation(job, job_name=g.job, recorded=recorded, decoded=True)
        return now
    return join


def _made_models(client: VertexClient, made: Iterable[str], listed_parents: set[str],
                 submit: Submit) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """The models succeeded jobs made (by model tail; absent: gone) and the endpoints serving each version:
    one model and one endpoint listing per scope whose jobs were listed, GETs for the others."""
    names = {model_tail(m): m for m in made}
    parents = sorted({job_parent(m) for m in names.values()} & listed_parents)
    started = [(submit(_each, decode_model, client.list_models(p, ownership.MANAGED_FILTER),
                       client.url(f"{p}/models")),
                submit(_each, decode_endpoint, client.list_endpoints(p, ownership.MANAGED_FILTER),
                       client.url(f"{p}/endpoints"))) for p in parents]
    models: dict[str, dict] = {}
    endpoints: list[dict] = []
    for listed_models, listed_endpoints in started:
        models.update({model_tail(m["name"]): m for m in listed_models.result()})
        endpoints += listed_endpoints.result()
    _get_missing_models(client, models, names, submit)
    return models, _serving(endpoints)


def _get_missing_models(client: VertexClient, models: dict[str, dict], names: dict[str, str],
                        submit: Submit) -> None:
    """Models named (tail -> name) that no listing returned, fetched one by one, concurrently, into `models`."""
    gets = {tail: submit(_get, decode_model, client.get_model, name, client.url(name))
            for tail, name in sorted(names.items()) if tail not in models}
    for tail, future in gets.items():
        found = future.result()
        if found is not None:
            models[tail] = found


def job_parent(name: str) -> str:
    """`projects/P/locations/L/tuningJobs/J` (or `.../models/M@V`) -> `projects/P/locations/L`."""
    return "/".join(name.split("/")[:4])


def _generations(client: VertexClient, listings: list[_Listing], lock_keys: list[str], claims: ownership.Claims,
                 submit: Submit) -> list[Generation]:
    records = {name_tail(k): record for k, record in claims.recorded.items()}
    models: dict[str, dict] = {}
    endpoints: list[dict] = []
    jobs: dict[str, dict] = {}
    for listing in listings:
        models.update(listing.models)
        endpoints += listing.endpoints
        jobs.update({name_tail(j["name"]): j for j in listing.jobs if _ours(j, claims.identity, records)})
    spelling = {name_tail(k): k for k in lock_keys}  # the lock's spelling of a name wins (project id vs number)

    unlisted = [k for k in lock_keys if name_tail(k) not in jobs]
    fetched = {name_tail(k): submit(_get, decode_job, client.get_tuning_job, k, client.url(k)) for k in unlisted}
    for tail, future in fetched.items():
        job = future.result()
        if job is not None and _ours(job, claims.identity, records):
            jobs[tail] = job

    made = {model_tail(m): m for m in (_job_model(j) for j in jobs.values()) if m}
    _get_missing_models(client, models, made, submit)

    serving = _serving(endpoints)
    generations = []
    for tail, job in sorted(jobs.items()):
        made_tail = model_tail(_job_model(job) or "")
        generations.append(generation(job, models.get(made_tail), model_exists=made_tail in models,
                                      serving=_serving_version(serving, _job_model(job) or ""),
                                      job_name=spelling.get(tail), recorded=records.get(tail), decoded=True))
    return generations


def generation(job: dict, model: dict | None = None, *, model_exists: bool = True,
               serving: Collection[str] = (), job_name: str | None = None,
               recorded: ownership.Recorded | None = None, decoded: bool = False) -> Generation:
    """A tuning job as a Generation, joined with its Model when that was read.

    model_exists: False when the job names a model that a read showed to be gone; a job read on its own
    (a create answer, a GET) says nothing about that, so the model is taken to exist.
    serving: endpoints found elsewhere (an endpoint listing) that have the model deployed.
    recorded: what the lock records for the job: its owner and digest where the job has no labels saying them
    (one made by hand and recorded by import).
    decoded: both went through their decoders already (every listing item and GET here does).
    Raises BadResponse when the job (or model) is not the published shape.
    """
    if not decoded:  # decoding 10,000 listed jobs twice was a tenth of a plan's refresh
        job = decode_job(job)
        model = decode_model(model) if model is not None else None
    labels = job.get("labels") or {}
    state = str(job.get("state") or "JOB_STATE_UNSPECIFIED")
    return Generation(
        platform="vertex",
        owner=labels.get(ownership.NAME_LABEL) or (recorded.name if recorded else ""),
        digest=labels.get(ownership.DIGEST_LABEL) or (recorded.digest if recorded else ""),
        phase=PHASES.get(state, "queued"),
        job=job_name or job["name"],
        model=_job_model(job),
        model_exists=model_exists or _job_model(job) is None,
        endpoints=_endpoints(job, model, set(serving)),
        live=_live(job, model),
        intent=labels.get(ownership.INTENT_LABEL, ""),
        error=str((job.get("error") or {}).get("message", "")),
        state=state,
        create_time=str(job.get("createTime", "")),
        progress=_progress(job, PHASES.get(state)),
        data_stats=_data_stats(job),
        start_time=str(job.get("startTime") or ""),
    )


DATA_STATS = {"examples": "tuningDatasetExampleCount", "tokens": "totalBillableTokenCount",
              "steps": "tuningStepCount"}  # what a person watching a job reads, of supervisedTuningDataStats


def _data_stats(job: dict) -> dict:
    stats = (job.get("tuningDataStats") or {}).get("supervisedTuningDataStats") or {}
    found = {ours: decode.int64(stats, theirs, "the tuning job's tuningDataStats")
             for ours, theirs in DATA_STATS.items()}
    return {k: v for k, v in found.items() if v is not None}


def _progress(job: dict, phase: str | None) -> float | None:
    """Vertex reports no percent: while running, the last exported checkpoint's step of the job's step count."""
    steps = _data_stats(job).get("steps")
    checkpoints = (job.get("tunedModel") or {}).get("checkpoints") or ()
    done = max((decode.int64(c, "step", "a checkpoint") or 0 for c in checkpoints), default=0)
    if phase != "running" or not steps or not done:
        return None
    return min(100.0, 100.0 * done / steps)


def decode_job(data: object) -> dict:
    """A TuningJob as read, every field `generation` uses checked (see `decode`)."""
    job = decode.resource(data, "a tuning job")
    what = f"the tuning job {decode.name(job, 'a tuning job')}"
    for key in ("state", "createTime", "startTime", "tunedModelDisplayName", "description"):
        decode.string(job, key, what)
    stats = decode.obj(decode.obj(job, "tuningDataStats", what), "supervisedTuningDataStats",
                       f"{what}'s tuningDataStats")
    for key in DATA_STATS.values():
        decode.int64(stats, key, f"{what}'s tuningDataStats")
    decode.labels(job, "labels", what)
    decode.status(job, "error", what)
    tuned = decode.obj(job, "tunedModel", what)
    for key in ("model", "endpoint"):
        decode.string(tuned, key, f"{what}'s tunedModel")
    for checkpoint in decode.objects(tuned, "checkpoints", f"{what}'s tunedModel"):
        decode.string(checkpoint, "endpoint", f"{what}'s checkpoint")
        decode.int64(checkpoint, "step", f"{what}'s checkpoint")
    return job


def decode_model(data: object) -> dict:
    """A Model as read (a listing item or a GET)."""
    found = decode.resource(data, "a model")
    what = f"the model {decode.name(found, 'a model')}"
    for key in ("displayName", "description", "versionId"):
        decode.string(found, key, what)
    decode.labels(found, "labels", what)
    for deployed in decode.objects(found, "deployedModels", what):
        decode.string(deployed, "endpoint", f"{what}'s deployedModels")
    return found


def decode_endpoint(data: object) -> dict:
    """An Endpoint as read: the models it serves."""
    found = decode.resource(data, "an endpoint")
    what = f"the endpoint {decode.name(found, 'an endpoint')}"
    decode.labels(found, "labels", what)
    for deployed in decode.objects(found, "deployedModels", what):
        for key in ("model", "modelVersionId"):
            decode.string(deployed, key, f"{what}'s deployedModels")
        decode.string(deployed, "id", f"{what}'s deployedModels", required=True)  # what undeploy names
    return found


def _each(decoder: Callable[[object], dict], items: Iterable[object], url: str) -> list[dict]:
    return [decode.at("GET", url, decoder, item) for item in items]


def _get(decoder: Callable[[object], dict], get: Callable[[str], dict], name: str, url: str) -> dict | None:
    found = get_or_none(get, name)
    return decode.at("GET", url, decoder, found) if found is not None else None


def _live(job: dict, model: dict | None) -> dict:
    if model is not None:
        live = {"displayName": model.get("displayName"), "description": model.get("description"),
                "labels": model.get("labels")}
    else:
        live = {"displayName": job.get("tunedModelDisplayName"), "description": job.get("description"),
                "labels": job.get("labels")}
    live["labels"] = ownership.without_ownership(live["labels"])
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


def _ours(job: dict, identity: str | None, records: dict[str, ownership.Recorded]) -> bool:
    """The server-side label filter is not documented as reliable for tuningJobs (and cannot say "no stack
    label"): ownership is decided here, with what the lock records for the job."""
    record = records.get(name_tail(job["name"]))
    return ownership.owns(job.get("labels"), identity, record.name if record else None)


def _job_model(job: dict) -> str | None:
    return (job.get("tunedModel") or {}).get("model") or None


def model_tail(name: str) -> str:
    """`projects/P/locations/L/models/M@V` -> `locations/L/models/M`: one model, however P and V are spelled."""
    return name_tail(name).split("@", 1)[0]


def deployed_version(deployed: dict) -> str:
    """The model version a DeployedModel serves: from `model@V`, else `modelVersionId` ("" when unsaid)."""
    return (deployed.get("model") or "").partition("@")[2] or str(deployed.get("modelVersionId") or "")
