"""Gemini API (generativelanguage v1beta): tuned models and their operations.

Thin on purpose: URL building plus the shared `Session` policy. The tune and the model are one resource
here (`tunedModels/{id}`), created by an operation; there is no cancel (delete the CREATING model instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from reconciler.clients.http import RateLimiter, RetryPolicy, Session, poll_operation
from reconciler.clients.redact import redact_url

HOST = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
MAX_PAGE_SIZE = 1000


def tuned_model_name(name_or_id: str) -> str:
    return name_or_id if name_or_id.startswith("tunedModels/") else f"tunedModels/{name_or_id}"


class GeminiClient:
    def __init__(self, http: httpx.Client, *, endpoint: str | None = None, policy: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, sleep: Callable[[float], None] = time.sleep,
                 session: Session | None = None):
        # one quota bucket for the whole API (it counts per project; a run uses one)
        self.session = session or Session(http, policy=policy, limiter=limiter, sleep=sleep,
                                          bucket=lambda url: "generativelanguage")
        self.endpoint = endpoint.rstrip("/") if endpoint else None

    def __repr__(self) -> str:
        return f"GeminiClient(endpoint={redact_url(self.endpoint) if self.endpoint else None!r})"

    def url(self, path: str) -> str:
        return f"{self.endpoint or HOST}/{API_VERSION}/{path}"

    def create_tuned_model(self, body: dict, tuned_model_id: str) -> dict:
        """Operation. Sent once: a repeat with the same id answers AlreadyExists, which the caller adopts."""
        return self.session.call("POST", self.url("tunedModels"), params={"tunedModelId": tuned_model_id},
                                 body=body, idempotent=False)

    def get_model(self, name: str) -> dict:
        """A base model (`models/...`): its `supportedGenerationMethods` say whether it can be tuned."""
        name = name if name.startswith("models/") else f"models/{name}"
        return self.session.call("GET", self.url(name), idempotent=True)

    def list_models(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        return self.session.pages(self.url("models"), "models", {"pageSize": page_size})

    def get_tuned_model(self, name: str) -> dict:
        return self.session.call("GET", self.url(tuned_model_name(name)), idempotent=True)

    def list_tuned_models(self, page_size: int = MAX_PAGE_SIZE, filter: str | None = None, *,
                          read: Callable[[dict], Any] | None = None, memo: bool = False) -> Iterator[Any]:
        """`read` and `memo` as `Session.pages`."""
        return self.session.pages(self.url("tunedModels"), "tunedModels",
                                  {"pageSize": page_size, "filter": filter}, read=read, memo=memo)

    def patch_tuned_model(self, name: str, body: dict, update_mask: list[str] | str) -> dict:
        mask = update_mask if isinstance(update_mask, str) else ",".join(update_mask)
        return self.session.call("PATCH", self.url(tuned_model_name(name)), params={"updateMask": mask},
                                 body=body, idempotent=True)

    def delete_tuned_model(self, name: str) -> dict:
        """Also the way to stop a CREATING tune. A repeat answers NotFound."""
        return self.session.call("DELETE", self.url(tuned_model_name(name)), idempotent=True)

    def get_operation(self, name: str) -> dict:
        return self.session.call("GET", self.url(name), idempotent=True)

    def list_operations(self, tuned_model: str, page_size: int | None = None) -> Iterator[dict]:
        return self.session.pages(self.url(f"{tuned_model_name(tuned_model)}/operations"), "operations",
                                  {"pageSize": page_size})

    def wait_operation(self, operation: dict, timeout: float | None = None) -> dict:
        return poll_operation(self.get_operation, operation, timeout=timeout, sleep=self.session.sleep,
                              initial_delay=self.session.policy.operation_poll)
