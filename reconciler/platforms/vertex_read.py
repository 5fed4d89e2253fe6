"""Reading Vertex AI: per (project, location) three label-filtered listings (tuning jobs, models, endpoints),
joined job -> model -> endpoints. GETs only where a listing cannot answer: lock entries the listings did not
return (among them what was created before the stack was set: it carries no stack label, so an identity's
listing leaves it out), and a succeeded job whose model is missing from the model listing (deleted out of
band, its labels edited away, or made before the stack was set).

Every job, model and endpoint read (listed, fetched, or a create's answer) goes through its decoder
(`decode_job`, `decode_model`, `decode_endpoint`): a shape the API does not publish is a BadResponse naming the
call, never a KeyError and never "nothing live". Listed pages are kept only as the fields a Generation is made of
(`Job`, `Model`, `Endpoint`): at 10,000 jobs the JSON of every listing, held until the join, was 80 MB."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from reconciler import ownership
from reconciler.frozen import defaults, made
from reconciler.observed import Generation, Phase, name_tail
from reconciler.platforms import decode
from reconciler.platforms.base import Submit, get_or_none

if TYPE_CHECKING:
    from reconciler.clients.vertex import VertexClient

T = TypeVar("T")
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
DATA_STATS = {"examples": "tuningDatasetExampleCount", "tokens": "totalBillableTokenCount",
              "steps": "tuningStepCount"}  # what a person watching a job reads, of supervisedTuningDataStats


class Job(NamedTuple):
    """What a Generation is made of, of a TuningJob."""

    name: str
    tail: str  # name_tail(name): the job, however its project is spelled
    labels: dict[str, str]
    state: str  # the API's state name (JOB_STATE_UNSPECIFIED when unsaid)
    model: str | None  # the model version it made
    made: str  # model_tail(model): the model, however its project and version are spelled ("" for none)
    endpoints: tuple[str | None, ...]  # tunedModel.endpoint and each checkpoint's
    step: int  # the last exported checkpoint's step (0: none)
    error: str
    create_time: str
    start_time: str
    display_name: str | None  # tunedModelDisplayName: the live name until there is a model
    description: str | None
    data_stats: dict[str, int]

    @classmethod
    def read(cls, data: object) -> Job:
        """Every field read is checked as it is read (see `decode`): a BadResponse names the first wrong one."""
        job = decode.resource(data, "a tuning job")
        name = decode.name(job, "a tuning job")
        what = f"the tuning job {name}"
        state, _, start_time, display_name, description = (decode.string(job, key, what) for key in (
            "state", "createTime", "startTime", "tunedModelDisplayName", "description"))
        stats_what = f"{what}'s tuningDataStats"
        stats = decode.obj(decode.obj(job, "tuningDataStats", what), "supervisedTuningDataStats", stats_what)
        counts = {ours: decode.int64(stats, theirs, stats_what) for ours, theirs in DATA_STATS.items()}
        labels = decode.labels(job, "labels", what)
        error = decode.status(job, "error", what)
        tuned = decode.obj(job, "tunedModel", what)
        tuned_what = f"{what}'s tunedModel"
        model = decode.string(tuned, "model", tuned_what) or None
        endpoints, steps = [decode.string(tuned, "endpoint", tuned_what)], []
        checkpoint_what = f"{what}'s checkpoint"
        for checkpoint in decode.objects(tuned, "checkpoints", tuned_what):
            endpoints.append(decode.string(checkpoint, "endpoint", checkpoint_what))
            steps.append(decode.int64(checkpoint, "step", checkpoint_what) or 0)
        return cls(
            name=name, tail=name_tail(name), labels=labels, state=state or "JOB_STATE_UNSPECIFIED", model=model,
            made=model_tail(model or ""), endpoints=tuple(endpoints), step=max(steps, default=0),
            error=str(error.get("message", "")), create_time=str(job.get("createTime", "")),
            start_time=start_time or "", display_name=display_name, description=description,
            data_stats={k: v for k, v in counts.items() if v is not None})


class Model(NamedTuple):
    """What a Generation is made of, of a Model."""

    tail: str  # model_tail(name)
    display_name: str | None
    description: str | None
    labels: dict[str, str]
    version: str | None  # versionId: the version a listing or GET answered
    endpoints: tuple[str | None, ...]  # where that version is deployed

    @classmethod
    def read(cls, data: object) -> Model:
        """Every field read is checked as it is read (see `decode`)."""
        found = decode.resource(data, "a model")
        name = decode.name(found, "a model")
        what = f"the model {name}"
        display_name, description, version = (decode.string(found, key, what)
                                              for key in ("displayName", "description", "versionId"))
        labels = decode.labels(found, "labels", what)
        deployed_what = f"{what}'s deployedModels"
        endpoints = tuple(decode.string(deployed, "endpoint", deployed_what)
                          for deployed in decode.objects(found, "deployedModels", what))
        return cls(tail=model_tail(name), display_name=display_name, description=description, labels=labels,
                   version=version, endpoints=endpoints)


class Endpoint(NamedTuple):
    """What the join reads of an Endpoint: the model versions it serves."""

    name: str
    serves: tuple[str, ...]  # `model tail@version` of each deployment (the bare tail when it names no version)

    @classmethod
    def read(cls, data: object) -> Endpoint:
        """Every field read is checked as it is read (see `decode`)."""
        found = decode.resource(data, "an endpoint")
        name = decode.name(found, "an endpoint")
        what = f"the endpoint {name}"
        decode.labels(found, "labels", what)
        deployed_what = f"{what}'s deployedModels"
        serves = []
        for deployed in decode.objects(found, "deployedModels", what):
            model = decode.string(deployed, "model", deployed_what)
            decode.string(deployed, "modelVersionId", deployed_what)
            decode.string(deployed, "id", deployed_what, required=True)  # what undeploy names
            if model:
                base, version = model_tail(model), deployed_version(deployed)
                serves.append(f"{base}@{version}" if version else base)
        return cls(name=name, serves=tuple(serves))


@dataclass
class _Listing:
    jobs: list[Job] = field(default_factory=list)
    models: dict[str, Model] = field(default_factory=dict)  # model tail (no project, no @version) -> Model
    endpoints: list[Endpoint] = field(default_factory=list)


def read(client: VertexClient, parents: list[str], lock_keys: list[str], claims: ownership.Claims,
         submit: Submit) -> Callable[[], list[Generation]]:
    """Start every scope's three listings now; the returned function joins them into generations."""
    started = []
    listing_filter = ownership.listing_filter(claims.identity)  # ours, and of our identity when we have one
    for parent in parents:  # pages read before are recalled (`pagememo`): in sync, a listing does not change
        jobs = submit(list, client.list_tuning_jobs(parent, listing_filter, read=Job.read, memo=True))
        models = submit(list, client.list_models(parent, listing_filter, read=Model.read, memo=True))
        endpoints = submit(list, client.list_endpoints(parent, listing_filter, read=Endpoint.read, memo=True))
        started.append((jobs, models, endpoints))

    def join() -> list[Generation]:
        listings = [_Listing(jobs=jobs.result(), models={m.tail: m for m in models.result()},
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
    listings = {p: submit(list, client.list_tuning_jobs(p, ownership.MANAGED_FILTER, read=Job.read))
                for p in listed_parents}  # jobs on their way change from one poll to the next: nothing recalled

    def join() -> dict[str, Generation | None]:
        listed = {j.tail: j for future in listings.values() for j in future.result()}
        fetched = {g.key: submit(_get, Job.read, client.get_tuning_job, g.job, client.url(g.job))
                   for g in followed if name_tail(g.job) not in listed}
        jobs = {g.key: listed[name_tail(g.job)] if g.key not in fetched else fetched[g.key].result()
                for g in followed}
        made = {key: j.model for key, j in jobs.items()
                if j is not None and PHASES.get(j.state) == "succeeded" and j.model}
        models, serving = _made_models(client, made.values(), set(listed_parents), submit)
        now: dict[str, Generation | None] = {}
        for g in followed:
            job, recorded = jobs[g.key], ownership.Recorded(g.owner, g.digest)  # for a job without labels
            if job is None:
                now[g.key] = None
            elif g.key in made:
                now[g.key] = _generation(job, models.get(job.made), model_exists=job.made in models, job_name=g.job,
                                         serving=_serving_version(serving, job), recorded=recorded)
            else:
                now[g.key] = _generation(job, job_name=g.job, recorded=recorded)
        return now
    return join


def _made_models(client: VertexClient, made: Iterable[str], listed_parents: set[str],
                 submit: Submit) -> tuple[dict[str, Model], dict[str, set[str]]]:
    """The models succeeded jobs made (by model tail; absent: gone) and the endpoints serving each version:
    one model and one endpoint listing per scope whose jobs were listed, GETs for the others."""
    names = {model_tail(m): m for m in made}
    parents = sorted({job_parent(m) for m in names.values()} & listed_parents)
    started = [(submit(list, client.list_models(p, ownership.MANAGED_FILTER, read=Model.read, memo=True)),
                submit(list, client.list_endpoints(p, ownership.MANAGED_FILTER, read=Endpoint.read, memo=True)))
               for p in parents]
    models: dict[str, Model] = {}
    endpoints: list[Endpoint] = []
    for listed_models, listed_endpoints in started:
        models.update({m.tail: m for m in listed_models.result()})
        endpoints += listed_endpoints.result()
    _get_missing_models(client, models, names, submit)
    return models, _serving(endpoints)


def _get_missing_models(client: VertexClient, models: dict[str, Model], names: dict[str, str],
                        submit: Submit) -> None:
    """Models named (tail -> name) that no listing returned, fetched one by one, concurrently, into `models`."""
    gets = {tail: submit(_get, Model.read, client.get_model, name, client.url(name))
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
    models: dict[str, Model] = {}
    endpoints: list[Endpoint] = []
    jobs: dict[str, Job] = {}
    for listing in listings:
        models.update(listing.models)
        endpoints += listing.endpoints
        jobs.update({j.tail: j for j in listing.jobs if _ours(j, claims.identity, records)})
    tails = [(name_tail(k), k) for k in lock_keys]
    spelling = dict(tails)  # the lock's spelling of a name wins (project id vs number)

    fetched = {tail: submit(_get, Job.read, client.get_tuning_job, k, client.url(k))
               for tail, k in tails if tail not in jobs}
    for tail, future in fetched.items():
        job = future.result()
        if job is not None and _ours(job, claims.identity, records):
            jobs[tail] = job

    made = {j.made: j.model for j in jobs.values() if j.model}
    _get_missing_models(client, models, made, submit)

    serving = _serving(endpoints)
    generations = []
    for tail, job in sorted(jobs.items()):
        generations.append(_generation(job, models.get(job.made), model_exists=job.made in models,
                                       serving=_serving_version(serving, job),
                                       job_name=spelling.get(tail), recorded=records.get(tail)))
    return generations


def generation(job: dict, model: dict | None = None, *, model_exists: bool = True,
               serving: Collection[str] = (), job_name: str | None = None,
               recorded: ownership.Recorded | None = None) -> Generation:
    """A tuning job as a Generation, joined with its Model when that was read.

    model_exists: False when the job names a model that a read showed to be gone; a job read on its own
    (a create answer, a GET) says nothing about that, so the model is taken to exist.
    serving: endpoints found elsewhere (an endpoint listing) that have the model deployed.
    recorded: what the lock records for the job: its owner and digest where the job has no labels saying them
    (one made by hand and recorded by import).
    Raises BadResponse when the job (or model) is not the published shape.
    """
    return _generation(Job.read(job), Model.read(model) if model is not None else None,
                       model_exists=model_exists, serving=serving, job_name=job_name, recorded=recorded)


_GENERATION_DEFAULTS = defaults(Generation)  # what a listed job does not say: no operation, loss or history


def _generation(job: Job, model: Model | None = None, *, model_exists: bool = True,
                serving: Collection[str] = (), job_name: str | None = None,
                recorded: ownership.Recorded | None = None) -> Generation:
    labels = job.labels
    phase = PHASES.get(job.state)
    return made(Generation, {  # frozen.made: 10,000 of these per plan at scale
        **_GENERATION_DEFAULTS, "platform": "vertex",
        "owner": labels.get(ownership.NAME_LABEL) or (recorded.name if recorded else ""),
        "digest": labels.get(ownership.DIGEST_LABEL) or (recorded.digest if recorded else ""),
        "phase": phase or "queued", "job": job_name or job.name, "model": job.model,
        "model_exists": model_exists or job.model is None, "endpoints": _endpoints(job, model, serving),
        "live": _live(job, model), "intent": labels.get(ownership.INTENT_LABEL, ""),
        "progress": _progress(job, phase), "error": job.error, "state": job.state, "create_time": job.create_time,
        "data_stats": job.data_stats, "start_time": job.start_time,
    })


def _progress(job: Job, phase: str | None) -> float | None:
    """Vertex reports no percent: while running, the last exported checkpoint's step of the job's step count."""
    steps = job.data_stats.get("steps")
    if phase != "running" or not steps or not job.step:
        return None
    return min(100.0, 100.0 * job.step / steps)


def decode_job(data: object) -> dict:
    """A TuningJob as read, every field `generation` uses checked (reading it is checking it: `Job.read`)."""
    Job.read(data)
    return decode.resource(data, "a tuning job")


def decode_model(data: object) -> dict:
    """A Model as read (a listing item or a GET)."""
    Model.read(data)
    return decode.resource(data, "a model")


def decode_endpoint(data: object) -> dict:
    """An Endpoint as read: the models it serves."""
    Endpoint.read(data)
    return decode.resource(data, "an endpoint")


def _get(reader: Callable[[object], T], get: Callable[[str], dict], name: str, url: str) -> T | None:
    found = get_or_none(get, name)
    return decode.at("GET", url, reader, found) if found is not None else None


def _live(job: Job, model: Model | None) -> dict:
    """The mutable fields as live: the model's once there is one, else the job's (its tunedModelDisplayName)."""
    source = model if model is not None else job
    live = {}
    if source.display_name is not None:
        live["displayName"] = source.display_name
    if source.description is not None:
        live["description"] = source.description
    live["labels"] = ownership.without_ownership(source.labels)
    return live


def _serving(endpoints: list[Endpoint]) -> dict[str, set[str]]:
    """`model tail@version` (or the bare tail when a deployment names no version) -> endpoints deploying it."""
    index: dict[str, set[str]] = {}
    for endpoint in endpoints:
        for key in endpoint.serves:
            index.setdefault(key, set()).add(endpoint.name)
    return index


def _serving_version(serving: dict[str, set[str]], job: Job) -> set[str]:
    """The endpoints serving the version the job made: a continuation's version `@2` must not claim `@1`'s."""
    if not serving or not job.made:  # nothing deployed anywhere, or no model made
        return set()
    version = model_version(job.model or "")
    return serving.get(f"{job.made}@{version or '1'}", set()) | serving.get(job.made, set())


def _endpoints(job: Job, model: Model | None, listed: Collection[str]) -> tuple[str, ...]:
    """Every endpoint serving the model or one of its checkpoints: the job's, the model's and the listed ones."""
    found = {*job.endpoints, *listed}
    version = model_version(job.model or "")
    if model is not None and str(model.version or version) == version:  # the listed version is ours
        found.update(model.endpoints)
    return tuple(sorted(e for e in found if e))


def _ours(job: Job, identity: str | None, records: dict[str, ownership.Recorded]) -> bool:
    """The server-side label filter is not documented as reliable for tuningJobs (and cannot say "no stack
    label"): ownership is decided here, with what the lock records for the job."""
    record = records.get(job.tail)
    return ownership.owns(job.labels, identity, record.name if record else None)


def model_tail(name: str) -> str:
    """`projects/P/locations/L/models/M@V` -> `locations/L/models/M`: one model, however P and V are spelled."""
    return name_tail(name).split("@", 1)[0]


def model_version(name: str) -> str:
    """`projects/P/locations/L/models/M@V` -> `V` ("" when the name says no version): of the last segment only."""
    return name.rpartition("/")[2].partition("@")[2]


def deployed_version(deployed: dict) -> str:
    """The model version a DeployedModel serves: from `model@V`, else `modelVersionId` ("" when unsaid)."""
    return model_version(deployed.get("model") or "") or str(deployed.get("modelVersionId") or "")
