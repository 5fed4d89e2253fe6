"""Vertex AI (aiplatform v1): tuning jobs, the models and endpoints they create, long-running operations.

Thin on purpose: URL building plus the shared `Session` policy. Which call to make, and what an error
means for the plan, is the caller's business.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from reconciler.clients.http import RateLimiter, RetryPolicy, Session, poll_operation
from reconciler.clients.redact import redact_url
from reconciler.errors import FailedPrecondition, NotOwned
from reconciler.errors import InvalidArgument

log = logging.getLogger("reconciler.vertex")
_LABEL_TERM = re.compile(r'\s*labels\.([A-Za-z0-9_-]+)\s*=\s*"([^"\\]*)"\s*')

API_VERSION = "v1"
RELEASE_WINDOW = 600.0  # seconds a delete refused right after an undeploy is retried (python-aiplatform#2807)
DEFAULT_PAGE_SIZE = 1000
MULTI_REGIONS = frozenset({"us", "eu"})


def vertex_host(location: str) -> str:
    """The service host for a location: regional, `global`, or the `us` / `eu` multi-regions."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def quota_bucket(url: str) -> str:
    """The quota a call counts against: Vertex AI counts requests per project and region, so the bucket is
    `projects/P/locations/L` from the URL (the project as spelled: an id and its number are two buckets)."""
    parts = url.split("?", 1)[0].split("/")
    for i in range(len(parts) - 3):
        if parts[i] == "projects" and parts[i + 2] == "locations":
            return "/".join(parts[i:i + 4])
    return ""


def location_of(name: str) -> str:
    """`projects/p/locations/L/...` -> `L`."""
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != "projects" or parts[2] != "locations" or not parts[3]:
        raise ValueError(f"not a Vertex AI resource name: {name!r}")
    return parts[3]


class VertexClient:
    def __init__(self, http: httpx.Client, *, endpoint: str | None = None, policy: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                 sleep: Callable[[float], None] = time.sleep, session: Session | None = None):
        self.session = session or Session(http, policy=policy, limiter=limiter, sleep=sleep, bucket=quota_bucket)
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.page_size = page_size
        self.unfiltered_job_lists: set[str] = set()  # parents whose tuningJobs.list refused a label filter

    def __repr__(self) -> str:
        return f"VertexClient(endpoint={redact_url(self.endpoint) if self.endpoint else None!r})"

    def url(self, name: str, verb: str = "") -> str:
        """`{host}/v1/{name}[:verb]`, the host chosen by the location inside `name`."""
        host = self.endpoint or vertex_host(location_of(name))
        return f"{host}/{API_VERSION}/{name}" + (f":{verb}" if verb else "")

    # tuning jobs
    def create_tuning_job(self, parent: str, body: dict) -> dict:
        """Sent once: after a 5xx or no answer, list by label before deciding to create again."""
        return self.session.call("POST", self.url(f"{parent}/tuningJobs"), body=body, idempotent=False)

    def get_tuning_job(self, name: str) -> dict:
        return self._get(name)

    def list_tuning_jobs(self, parent: str, filter: str | None = None, page_size: int | None = None, *,
                         read: Callable[[dict], Any] | None = None, memo: bool = False) -> Iterator[Any]:
        """Label filters are documented for models and endpoints, not for tuning jobs: when the service refuses
        one here (400 INVALID_ARGUMENT), the jobs are listed unfiltered and the labels compared here, and the
        parent is remembered for the rest of the run (this client's life). Callers check ownership anyway.
        `read` and `memo` as `Session.pages` (an unfiltered listing is read after its labels are compared)."""
        wanted = label_terms(filter)
        if wanted is not None and parent in self.unfiltered_job_lists:
            yield from self._jobs_labelled(parent, wanted, page_size, read)
            return
        started = False
        try:
            for job in self._list(parent, "tuningJobs", filter, page_size, read=read, memo=memo):
                started = True
                yield job
        except InvalidArgument:
            if wanted is None or started:
                raise
            log.info("tuningJobs.list in %s refused the label filter; listing all and filtering here", parent)
            self.unfiltered_job_lists.add(parent)
            yield from self._jobs_labelled(parent, wanted, page_size, read)

    def _jobs_labelled(self, parent: str, wanted: dict[str, str], page_size: int | None,
                       read: Callable[[dict], Any] | None) -> Iterator[Any]:
        """The unfiltered listing's jobs carrying the `wanted` labels, each read (`read`) once they are kept."""
        url = self.url(f"{parent}/tuningJobs")
        for job in _labelled(self._list(parent, "tuningJobs", None, page_size), wanted):
            yield self.session.read_at(url, read, job) if read is not None else job

    def cancel_tuning_job(self, name: str) -> dict:
        """A terminal job answers FailedPrecondition; it is raised as such for the caller to judge."""
        return self.session.call("POST", self.url(name, "cancel"), body={}, idempotent=True)

    # models
    def get_model(self, name: str) -> dict:
        return self._get(name)

    def list_models(self, parent: str, filter: str | None = None, page_size: int | None = None, *,
                    read: Callable[[dict], Any] | None = None, memo: bool = False) -> Iterator[Any]:
        return self._list(parent, "models", filter, page_size, read=read, memo=memo)

    def patch_model(self, name: str, body: dict, update_mask: list[str] | str) -> dict:
        mask = update_mask if isinstance(update_mask, str) else ",".join(update_mask)
        return self.session.call("PATCH", self.url(name), params={"updateMask": mask}, body=body,
                                 idempotent=True)

    def list_model_versions(self, name: str, page_size: int | None = None) -> Iterator[dict]:
        """One Model per version of `name` (no `@`)."""
        params = {"pageSize": page_size or self.page_size}
        return self.session.pages(self.url(name, "listVersions"), "models", params)

    def delete_model(self, name: str) -> dict:
        """Operation; fails with FailedPrecondition while any endpoint still serves the model."""
        return self.session.call("DELETE", self.url(name), idempotent=True)

    def delete_model_released(self, name: str, *, version: bool = False, window: float = RELEASE_WINDOW,
                              before_retry: Callable[[], None] = lambda: None) -> dict:
        """Delete a model (or, with `version`, the version `name`) and wait for it. A model undeployed moments ago
        is refused with FailedPrecondition while the service releases it (python-aiplatform#2807): retried with
        backoff for up to `window` seconds, `before_retry` called before each retry (it may raise to stop)."""
        delay, waited = 2.0 * self.session.policy.operation_poll, 0.0
        while True:
            try:
                answer = self.delete_model_version(name) if version else self.delete_model(name)
                return self.wait_operation(answer)
            except FailedPrecondition as err:
                if isinstance(err, NotOwned) or waited + delay > window:
                    raise
                log.info("%s is not deletable yet (%s); retrying in %.0fs", name, err.api_message, delay)
            before_retry()
            self.session.sleep(delay)
            waited += delay
            delay = min(delay * 2, 60.0)

    def delete_model_version(self, name: str) -> dict:
        """`name` is `.../models/M@V`. Operation; the only version cannot be deleted (use delete_model)."""
        return self.session.call("DELETE", self.url(name, "deleteVersion"), idempotent=True)

    # endpoints
    def get_endpoint(self, name: str) -> dict:
        return self._get(name)

    def list_endpoints(self, parent: str, filter: str | None = None, page_size: int | None = None, *,
                       read: Callable[[dict], Any] | None = None, memo: bool = False) -> Iterator[Any]:
        return self._list(parent, "endpoints", filter, page_size, read=read, memo=memo)

    def undeploy_model(self, endpoint: str, deployed_model_id: str) -> dict:
        return self.session.call("POST", self.url(endpoint, "undeployModel"),
                                 body={"deployedModelId": str(deployed_model_id)}, idempotent=True)

    def delete_endpoint(self, name: str) -> dict:
        return self.session.call("DELETE", self.url(name), idempotent=True)

    # operations
    def get_operation(self, name: str) -> dict:
        return self._get(name)

    def wait_operation(self, operation: dict, timeout: float | None = None) -> dict:
        """The finished operation (followed with backoff for as long as it takes, unless `timeout`); its `error`,
        if any, raised as the typed ApiError."""
        return poll_operation(self.get_operation, operation, timeout=timeout, sleep=self.session.sleep,
                              initial_delay=self.session.policy.operation_poll)

    def _get(self, name: str) -> dict:
        return self.session.call("GET", self.url(name), idempotent=True)

    def _list(self, parent: str, collection: str, filter: str | None, page_size: int | None, *,
              read: Callable[[dict], Any] | None = None, memo: bool = False) -> Iterator[Any]:
        params = {"filter": filter, "pageSize": page_size or self.page_size}
        return self.session.pages(self.url(f"{parent}/{collection}"), collection, params, read=read, memo=memo)


def label_terms(filter: str | None) -> dict[str, str] | None:
    """`labels.a="x" AND labels.b="y"` -> {"a": "x", "b": "y"}; None for any other filter (or none)."""
    if not filter:
        return None
    terms = {}
    for part in filter.split(" AND "):
        match = _LABEL_TERM.fullmatch(part)
        if match is None:
            return None
        terms[match[1]] = match[2]
    return terms


def _labelled(items: Iterator[dict], wanted: dict[str, str]) -> Iterator[dict]:
    for item in items:
        labels = item.get("labels") if isinstance(item, dict) else None
        if isinstance(labels, dict) and all(labels.get(k) == v for k, v in wanted.items()):
            yield item
