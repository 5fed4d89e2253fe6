"""Vertex AI: a tuningJob trains, and once it succeeds it has created a Model version and an Endpoint.

Ownership travels as labels on the job, which the service copies to the model and endpoint. Reading is
three label-filtered listings per (project, location), joined job -> model -> endpoints; the reading and the
request bodies live in `vertex_read` and `bodies`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reconciler import ownership
from reconciler.desired import DesiredResource
from reconciler.errors import FailedPrecondition, InvalidArgument, NotFound, NotOwned
from reconciler.observed import Generation
from reconciler.platforms import base_models, bodies, decode
from reconciler.platforms.base import Importer, Steps, Submit
from reconciler.platforms.vertex_read import (decode_endpoint, decode_job, decode_model, deployed_version, generation,
                                               model_tail, observe, read)

if TYPE_CHECKING:
    from reconciler.clients.vertex import VertexClient

NAME = "vertex"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
NO_CREDENTIALS = ("no credentials for Vertex AI: run `gcloud auth application-default login`, "
                  "or set GOOGLE_OAUTH_ACCESS_TOKEN, or use --emulator")


def parent(project: str | None, location: str | None) -> str:
    return f"projects/{project}/locations/{location}"


def model_base(model: str) -> str:
    """`.../models/M@V` -> `.../models/M`."""
    return model.split("@", 1)[0]


class Vertex:
    name = NAME
    ownership = "its ownership labels"
    scoped = True  # resources live in a (project, location)
    one_id_per_spec = False  # every create makes a new job

    def connect(self, http: Any, *, endpoint: str | None, policy: Any, limiter: Any) -> VertexClient:
        from reconciler.clients.vertex import VertexClient

        return VertexClient(http, endpoint=endpoint, policy=policy, limiter=limiter)

    def auth(self, *, token_client: Any, env: Mapping[str, str], emulator: bool, adc: Callable) -> Any:
        from reconciler.clients import auth

        if emulator:
            return auth.BearerToken(auth.EMULATOR_TOKEN)
        return auth.oauth(env, SCOPES, token_client=token_client, no_credentials=NO_CREDENTIALS, adc=adc)

    # --- reading ------------------------------------------------------------------------------------

    def owns_key(self, key: str) -> bool:
        return "/tuningJobs/" in key

    def read(self, client: VertexClient, scopes: list[tuple], lock_keys: list[str], claims: ownership.Claims,
             operations: Mapping[str, str], submit: Submit) -> Callable[[], list[Generation]]:
        return read(client, [parent(project, location) for _, project, location in scopes], lock_keys, claims,
                    submit)

    def observe(self, client: VertexClient, generations: list[Generation], submit: Submit
                ) -> Callable[[], dict[str, Generation | None]]:
        return observe(client, generations, submit)

    # --- changing -----------------------------------------------------------------------------------

    def create(self, client: VertexClient, desired: DesiredResource, intent: str,
               upstream_model: str | None) -> Generation:
        body = bodies.tuning_job(desired, intent, upstream_model)
        scope = parent(desired.project, desired.location)
        try:
            answer = client.create_tuning_job(scope, body)
        except InvalidArgument as err:  # a retired or unknown base model: said as `validate` says it
            raise base_models.vertex_refusal(desired.immutable.get("baseModel"), err) from None
        return decode.at("POST", client.url(f"{scope}/tuningJobs"), generation, answer)

    def lookup(self, client: VertexClient, desired: DesiredResource) -> list[Generation]:
        found = client.list_tuning_jobs(parent(desired.project, desired.location),
                                        filter=ownership.label_filter(desired.name, desired.digest, desired.identity))
        return [generation(job) for job in found
                if ownership.owns(decode_job(job).get("labels"), desired.identity)]

    def occupant(self, desired: DesiredResource) -> str | None:
        return None

    def cancel(self, client: VertexClient, key: str) -> Generation | None:
        try:
            client.cancel_tuning_job(key)
        except FailedPrecondition:
            pass  # already terminal: reported as whatever it ended as
        return generation(client.get_tuning_job(key))

    def remove(self, client: VertexClient, generation_: Generation, steps: Steps,
               identity: str | None = None) -> None:
        """Undeploy from every endpoint, delete the endpoints the job created, then the model version."""
        if not generation_.model:
            return
        base = model_base(generation_.model)
        try:
            model = decode.at("GET", client.url(generation_.model), decode_model, client.get_model(generation_.model))
        except NotFound:
            return
        if not ownership.may_delete(model.get("labels"), generation_.owner, identity):
            stack = (f", {ownership.STACK_LABEL}={identity} or none" if identity
                     else f", no {ownership.STACK_LABEL}")
            raise NotOwned(  # the executor reports it as this change's failure; nothing is deleted
                f"refusing to delete {generation_.model}: it does not carry this tool's ownership labels for "
                f"'{generation_.owner}' ({ownership.MANAGED_BY}={ownership.MANAGER}, "
                f"{ownership.NAME_LABEL}={generation_.owner}{stack}); nothing was deleted")
        version = generation_.model.partition("@")[2] or str(model.get("versionId") or "")
        endpoints = set(generation_.endpoints) | {d.get("endpoint") for d in model.get("deployedModels") or ()}
        for endpoint in sorted(e for e in endpoints if e):
            steps.before_request()
            _undeploy(client, endpoint, base, version, generation_.owner, identity, steps)
            generation_ = replace(generation_, endpoints=tuple(e for e in generation_.endpoints if e != endpoint))
            steps.learned(generation_)
        steps.before_request()
        versions = list(client.list_model_versions(base))
        try:  # right after the undeploys the service may still refuse: retried for a bounded window
            if len(versions) > 1:
                client.delete_model_released(generation_.model, version=True, before_retry=steps.before_request)
            else:
                client.delete_model_released(base, before_retry=steps.before_request)
        except NotFound:
            pass

    def patch(self, client: VertexClient, desired: DesiredResource, generation_: Generation,
              fields: Collection[str], owned_labels: Collection[str] = ()) -> list[str]:
        base = model_base(generation_.model)
        live = decode_model(client.get_model(base))
        body, mask = bodies.model_patch(desired, fields, live.get("labels") or {}, owned_labels)
        client.patch_model(base, body, mask)
        return mask

    def importer(self) -> Importer:
        from reconciler.platforms.vertex_import import IMPORTER

        return IMPORTER


def _undeploy(client: VertexClient, endpoint: str, model_base_: str, version: str, owner: str,
              identity: str | None, steps: Steps) -> None:
    """Undeploy this model version (never another version of the same model: a continuous-tuning job may
    have added its version to its upstream's model) and delete the endpoint if it was this job's own."""
    try:
        live = decode.at("GET", client.url(endpoint), decode_endpoint, client.get_endpoint(endpoint))
    except NotFound:
        return
    deployed = live.get("deployedModels") or []
    ours = [d for d in deployed if model_tail(d.get("model", "")) == model_tail(model_base_)
            and (not version or deployed_version(d) == version)]
    for deployed_model in ours:
        steps.before_request()
        try:
            client.wait_operation(client.undeploy_model(endpoint, deployed_model["id"]))
        except NotFound:
            pass
    labels = live.get("labels") or {}
    if len(ours) == len(deployed) and ownership.may_delete({ownership.NAME_LABEL: owner, **labels}, owner, identity):
        try:  # an endpoint the tuning job created for this model; one serving anything else is left alone
            client.wait_operation(client.delete_endpoint(endpoint))
        except NotFound:
            pass


VERTEX = Vertex()
