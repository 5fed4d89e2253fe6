"""Vertex AI (aiplatform v1): tuning jobs, the models and endpoints they create, long-running operations.

Thin on purpose: URL building plus the shared `Session` policy. Which call to make, and what an error
means for the plan, is the caller's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx

from reconciler.clients.http import RateLimiter, RetryPolicy, Session, poll_operation
from reconciler.clients.redact import redact_url

API_VERSION = "v1"
DEFAULT_PAGE_SIZE = 1000
MULTI_REGIONS = frozenset({"us", "eu"})


def vertex_host(location: str) -> str:
    """The service host for a location: regional, `global`, or the `us` / `eu` multi-regions."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


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
        self.session = session or Session(http, policy=policy, limiter=limiter, sleep=sleep)
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.page_size = page_size

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

    def list_tuning_jobs(self, parent: str, filter: str | None = None,
                         page_size: int | None = None) -> Iterator[dict]:
        return self._list(parent, "tuningJobs", filter, page_size)

    def cancel_tuning_job(self, name: str) -> dict:
        """A terminal job answers FailedPrecondition; it is raised as such for the caller to judge."""
        return self.session.call("POST", self.url(name, "cancel"), body={}, idempotent=True)

    # models
    def get_model(self, name: str) -> dict:
        return self._get(name)

    def list_models(self, parent: str, filter: str | None = None, page_size: int | None = None) -> Iterator[dict]:
        return self._list(parent, "models", filter, page_size)

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

    def delete_model_version(self, name: str) -> dict:
        """`name` is `.../models/M@V`. Operation; the only version cannot be deleted (use delete_model)."""
        return self.session.call("DELETE", self.url(name, "deleteVersion"), idempotent=True)

    # endpoints
    def get_endpoint(self, name: str) -> dict:
        return self._get(name)

    def list_endpoints(self, parent: str, filter: str | None = None,
                       page_size: int | None = None) -> Iterator[dict]:
        return self._list(parent, "endpoints", filter, page_size)

    def undeploy_model(self, endpoint: str, deployed_model_id: str) -> dict:
        return self.session.call("POST", self.url(endpoint, "undeployModel"),
                                 body={"deployedModelId": str(deployed_model_id)}, idempotent=True)

    def delete_endpoint(self, name: str) -> dict:
        return self.session.call("DELETE", self.url(name), idempotent=True)

    # operations
    def get_operation(self, name: str) -> dict:
        return self._get(name)

    def wait_operation(self, operation: dict, timeout: float = 600.0) -> dict:
        """The finished operation; its `error`, if any, raised as the typed ApiError."""
        return poll_operation(self.get_operation, operation, timeout=timeout, sleep=self.session.sleep)

    def _get(self, name: str) -> dict:
        return self.session.call("GET", self.url(name), idempotent=True)

    def _list(self, parent: str, collection: str, filter: str | None, page_size: int | None) -> Iterator[dict]:
        params = {"filter": filter, "pageSize": page_size or self.page_size}
        return self.session.pages(self.url(f"{parent}/{collection}"), collection, params)
