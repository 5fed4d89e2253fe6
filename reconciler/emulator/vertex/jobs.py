"""Vertex AI tuningJobs: create (validated), get, list, cancel; and settling the jobs that reached a terminal
state (a success materialises its model version and endpoints, see `versions.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..catalogue import require_vertex_tunable
from ..clock import rfc3339
from ..listing import compile_filter, fingerprint, paginate, with_token
from ..names import numeric_id
from ..rendering import memoized, render_all
from ..routing import NO_QUERY, ApiRequest, check_query, no_route
from ..rpc import RpcError, bad_request, invalid, not_found, precondition, status
from ..schema import Violations, coerce
from ..store import Store
from . import datasets
from .common import LIST_DEFAULT, LIST_MAX, location, resource
from .job_lifecycle import PENDING_FRACTION, TERMINAL, job_state, job_view, settled_view_key, terminal_event
from .job_schema import JOB_SPECS, job_problems, tuning_spec, without_beta_fields
from .versions import ModelVersions

DEFAULT_EPOCHS = 3                      # the service picks epochs from the dataset size; we pick 3
Q_LIST = frozenset({"filter", "pageSize", "pageToken"})
FILTER_FIELDS = {"state": "state", "display_name": "display_name", "displayName": "display_name",
                 "tuned_model_display_name": "display_name", "tunedModelDisplayName": "display_name",
                 "base_model": "base_model", "baseModel": "base_model", "create_time": "create_time",
                 "createTime": "create_time", "update_time": "update_time", "updateTime": "update_time",
                 "end_time": "end_time", "endTime": "end_time"}


class TuningJobs:
    reject_label_filter = False  # --reject-job-label-filter (`_label_filter_refused`)

    def __init__(self, store: Store, job_duration: float, versions: ModelVersions) -> None:
        self.store, self.job_duration, self.versions = store, float(job_duration), versions

    def require(self, name: str) -> dict[str, Any]:
        return self.store.require("tuningJobs", name, "TuningJob")

    def due_times(self) -> list[float]:
        return [terminal_event(r)[0] for r in self.store["tuningJobs"].values() if not r.get("final")]

    def settle(self, now: float) -> None:
        """Record jobs that reached a terminal state; a success materialises its model and endpoints."""
        for record in self.store["tuningJobs"].values():
            if record.get("final"):
                continue
            end, terminal_state = terminal_event(record)
            if end > now:
                continue
            final: dict[str, Any] = {"state": terminal_state, "end": end}
            if terminal_state == "JOB_STATE_SUCCEEDED":
                final["tunedModel"] = self.versions.add_tuned(record, end)
                final["experiment"] = (record["job"]["name"].split("/tuningJobs/")[0]
                                       + f"/metadataStores/default/contexts/tuning-experiment-{record['id']}")
            elif terminal_state == "JOB_STATE_CANCELLED":
                final["error"] = status("CANCELLED", "CANCELED")
            else:
                final["error"] = record["failError"]
            record["final"] = final
            self.store.changed()

    # ------------------------------------------------------------------ routes
    def create(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        parent = location(request)
        errors = Violations()
        job = coerce(JOB_SPECS[request.version], request.object_body(), "tuning_job", errors)
        if errors:
            raise bad_request(errors)
        job = self._validate(job, parent, request.version)
        require_vertex_tunable(job.get("baseModel"))    # a preTunedModel's base was checked when it was tuned
        job_id = numeric_id(19, {n.rsplit("/", 1)[1] for n in self.store["tuningJobs"]})
        name = f"{parent}/tuningJobs/{job_id}"
        job = {"name": name, **job, "createTime": rfc3339(now)}
        spec = tuning_spec(job)
        epochs, (examples, characters) = (int(spec.get("hyperParameters", {}).get("epochCount") or DEFAULT_EPOCHS),
                                          datasets.measure(self.store, spec.get("trainingDatasetUri") or name))
        record = {"id": job_id, "seq": self.store.next_seq(), "job": job, "created": now,
                  "duration": self.job_duration, "cancelAt": None, "cancelIgnored": False, "failAt": None,
                  "failError": None, "final": None, "epochs": epochs,
                  "examples": examples, **({"characters": characters} if characters is not None else {}),
                  "beta": bool(without_beta_fields(job) != job)}
        record.update(datasets.unreadable(self.store, spec, now + PENDING_FRACTION * self.job_duration))
        self.store["tuningJobs"][name] = record
        self.store.changed()
        self.settle(now)   # a zero job duration finishes at once
        return job_view(record, now, request.version)

    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        return job_view(self.require(resource(request, "tuningJobs", "job")), now, request.version)

    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_LIST)
        parent = location(request)
        prefix = parent + "/tuningJobs/"
        _label_filter_refused(self.reject_label_filter, request.query.get("filter") or "")
        predicate = compile_filter(request.query.get("filter"), FILTER_FIELDS, _fields_at(now))
        memo = self.store.memo()        # what follows from the state alone, kept until it changes
        items = _selection(memo, self.store["tuningJobs"], prefix, request.query.get("filter", ""), predicate)
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("tuningJobs", parent, request.query.get("filter", "")))
        jobs = render_all(memo, page, lambda r: settled_view_key(r, now, request.version),
                          lambda r: job_view(r, now, request.version))
        return with_token({"tuningJobs": jobs} if jobs else {}, token)

    def cancel(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = resource(request, "tuningJobs", "job")
        errors = Violations()
        coerce({"name": "string"}, request.object_body(), "", errors)   # CancelTuningJobRequest
        if errors:
            raise bad_request(errors)
        record = self.require(name)
        state, _ = job_state(record, now)
        if state in TERMINAL:
            # Not documented (reference: lifecycle fact 3); FAILED_PRECONDITION as for other job APIs.
            raise precondition(f"Cannot cancel tuning job {name} because it is already in state {state}.")
        if record.get("cancelAt") is None:
            record["cancelAt"] = now
            self.store.changed()
        return {}

    def experiment(self, request: ApiRequest, now: float) -> dict[str, Any]:
        """The Vertex Experiment a succeeded job names in `experiment`: an ML Metadata Context (schema
        `system.Experiment`), so that every reference a job returns can be fetched. Only GET is served."""
        check_query(request.query, NO_QUERY)
        name = (f"{location(request)}/metadataStores/{request.params['store']}/contexts/"
                f"{request.params['context']}")
        job_id = request.params["context"].removeprefix("tuning-experiment-")
        record = self.store["tuningJobs"].get(f"{location(request)}/tuningJobs/{job_id}")
        final = (record or {}).get("final") or {}
        if final.get("experiment") != name:
            raise not_found("Context", name)
        stamp = rfc3339(final["end"])
        return {"name": name, "displayName": request.params["context"], "schemaTitle": "system.Experiment",
                "schemaVersion": "0.0.1", "createTime": stamp, "updateTime": stamp}

    def rebase(self, request: ApiRequest, now: float) -> Any:
        raise RpcError("UNIMPLEMENTED", "tuningJobs.rebaseTunedModel is not supported by the emulator.")

    def unmatched(self, request: ApiRequest, now: float) -> Any:
        """Any other method on one tuning job: its query is checked before the 404."""
        check_query(request.query, NO_QUERY)
        raise no_route(request)

    # ------------------------------------------------------------------ create
    def _validate(self, job: dict[str, Any], parent: str, version: str) -> dict[str, Any]:
        problems = job_problems(job, parent, version)
        if problems:
            raise bad_request(problems)
        if "preTunedModel" in job:
            job["preTunedModel"] = self.versions.continued_from(job["preTunedModel"], job)
        elif not job.get("tunedModelDisplayName"):
            # The reference: "If unset, a random name is generated."
            job["tunedModelDisplayName"] = f"{job['baseModel'].rsplit('/', 1)[-1]}-tuned-{numeric_id(6)}"
        return job

    # ------------------------------------------------------------------ out-of-band (admin) mutations
    def admin_fail(self, name: str, error: dict[str, Any], now: float) -> None:
        record = self.require(name)
        state, _ = job_state(record, now)
        if state in TERMINAL:
            raise precondition(f"Tuning job {name} is already in a final state ({state}).")
        record["failAt"], record["failError"] = now, error
        self.store.changed()

    def admin_ignore_cancel(self, name: str) -> None:
        record = self.require(name)
        if record.get("final") and record["final"]["state"] == "JOB_STATE_CANCELLED":
            raise precondition(f"Tuning job {name} is already cancelled.")
        record["cancelIgnored"] = True
        self.store.changed()

    def admin_patch(self, name: str, fields: dict[str, Any]) -> None:
        job = self.require(name)["job"]     # labels and description only; no updateTime on jobs
        for key, value in fields.items():
            job["tunedModelDisplayName" if key == "displayName" else key] = value


def _label_filter_refused(refuse: bool, text: str) -> None:
    """The reference documents label filters for models and endpoints, only "the standard list filter" for tuning
    jobs: with --reject-job-label-filter, list refuses `labels.` filters as the service may (400)."""
    if refuse and "labels" in text:
        raise invalid("filter", f"Invalid filter expression {text!r}: labels are not a supported filter field "
                                "for TuningJob. Supported fields: create_time, display_name, end_time, state, "
                                "update_time.")


def _selection(memo: dict[Any, Any], jobs: dict[str, dict[str, Any]], prefix: str, filter_text: str,
               predicate: Callable[[Any], bool] | None) -> list[dict[str, Any]]:
    """The jobs under `prefix` that match the filter, in creation order (oldest first; not documented by Google).
    Kept in `memo`, except the matches of a filter while a job there is on its way: a filter on state or times
    sees the clock until every job's terminal state is recorded."""
    items = memoized(memo, ("tuningJobs", prefix), lambda: [r for n, r in jobs.items() if n.startswith(prefix)])
    if predicate is None:
        return items

    def matching() -> list[dict[str, Any]]:
        return [r for r in items if predicate(r)]
    if memoized(memo, ("tuningJobs settled", prefix), lambda: all(r.get("final") for r in items)):
        return memoized(memo, ("tuningJobs", prefix, filter_text), matching)
    return matching()


def _fields_at(now: float) -> Callable[[dict[str, Any], str], Any]:
    """The filter resolver of tuningJobs.list at virtual time `now`."""
    def resolve(record: dict[str, Any], field: str) -> Any:
        job = record["job"]
        if field == "labels":
            return job.get("labels")
        if field == "state":
            return job_state(record, now)[0]
        if field == "display_name":
            return job.get("tunedModelDisplayName")
        if field == "base_model":
            return job.get("baseModel") or job.get("preTunedModel", {}).get("baseModel")
        if field == "create_time":
            return record["created"]
        state, since = job_state(record, now)
        if field == "end_time":
            return since if state in TERMINAL else None
        return since
    return resolve
