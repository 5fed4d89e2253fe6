"""The Gemini API for `reconciler import`: a tuned model made without this tool read as a manifest-shaped spec.

A tuned model has no labels, so there is nothing to claim it with: the lock is the record. Its id may still
mark it as a manifest's (`{name}-{8 hex}`, `ownership.parse_id`): refresh reads such an id as that manifest's
and no other's. Its training data is input only (never returned), so the examples cannot be compared; the
service fills in the hyperparameters left unset, so those are compared only where the manifest writes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler import ownership
from reconciler.errors import NotFound, UserError
from reconciler.observed import Generation
from reconciler.platforms import decode
from reconciler.platforms.base import LiveSpec

if TYPE_CHECKING:
    from reconciler.clients.gemini import GeminiClient

PREFIX = "tunedModels/"
NAME = re.compile(r"tunedModels/(?P<id>[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?)")
HYPER_PARAMETERS = ("epochCount", "batchSize", "learningRate", "learningRateMultiplier")
NOT_RETURNED = {"training": "the API never returns a tuned model's training data (tuningTask.trainingData is "
                            "input only); the manifest's examples are taken on trust"}


class GeminiImporter:
    """Made by the platform, which hands over its decoder of tuned models and their reading as a Generation."""

    forms = ("tunedModels/ID",)

    def __init__(self, decoder: Callable[[object], dict], reading: Callable[[dict], Generation]) -> None:
        self.decoder, self.reading = decoder, reading

    def recognizes(self, resource: str) -> bool:
        return bool(NAME.fullmatch(resource))

    def scope(self, resource: str) -> tuple[str | None, str | None]:
        return (None, None)

    def read(self, client: GeminiClient, resource: str) -> LiveSpec:
        try:
            found = client.get_tuned_model(resource)
        except NotFound:
            raise UserError(f"{resource}: no such tuned model (the API answered NOT_FOUND); nothing was "
                            "imported") from None
        model = decode.at("GET", client.url(resource), self.decoder, found)
        parsed = ownership.parse_id(resource.removeprefix(PREFIX))
        live = self.reading(model)
        return LiveSpec(key=resource, generation=live, project=None, location=None,
                        immutable=spec_of(model), mutable=dict(live.live), not_comparable=NOT_RETURNED,
                        server_filled=("hyperParameters",), upstream=("tunedModelSource", "tunedModel"),
                        owner=parsed[0] if parsed else "")

    def claim(self, client: GeminiClient, live: LiveSpec, labels: Mapping[str, str]) -> Generation:
        return live.generation  # no labels on this API: the lock is the record


def spec_of(model: dict) -> dict:
    """The immutable fields of a TunedModel in a manifest's names (training excepted: it is never returned)."""
    what = f"the tuned model {model['name']}"
    spec: dict[str, Any] = {}
    if decode.string(model, "baseModel", what):
        spec["baseModel"] = model["baseModel"]
    source = decode.string(decode.obj(model, "tunedModelSource", what), "tunedModel", f"{what}'s tunedModelSource")
    if source:
        spec["tunedModelSource"] = {"tunedModel": source}
    hyper = decode.obj(decode.obj(model, "tuningTask", what), "hyperparameters", f"{what}'s tuningTask")
    values = {key: decode.number(hyper, key, f"{what}'s hyperparameters") for key in HYPER_PARAMETERS}
    if any(v is not None for v in values.values()):
        spec["hyperParameters"] = {k: v for k, v in values.items() if v is not None}
    return spec
