"""The Gemini API: the tune and the model are one resource, `tunedModels/{id}`, created by an operation.

There are no labels: the id `{name}-{8 hex}` carries ownership, so a spec has exactly one possible id and a
repeated create answers 409; with an identity (a stack) the hex mixes it in (`ownership.deterministic_id`).
There is no cancel: deleting the CREATING model stops the tune. Reading is one listing of all tuned models,
kept when the id is a wanted spec's deterministic id or the lock records it (`ownership.Claims.by_id`).
Every tuned model and operation read is decoded (`tuned_model`, `create_operation`): a shape the API does
not publish is a BadResponse.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reconciler import ownership
from reconciler.desired import DesiredResource
from reconciler.errors import NotFound, NotOwned
from reconciler.observed import Generation, Phase
from reconciler.platforms import bodies, decode
from reconciler.platforms.base import Importer, Steps, Submit, get_or_none

if TYPE_CHECKING:
    from reconciler.clients.gemini import GeminiClient

NAME = "gemini-api"
PREFIX = "tunedModels/"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",
          "https://www.googleapis.com/auth/generative-language.tuning")
NO_CREDENTIALS = ("no credentials for the Gemini API: set GEMINI_API_KEY (or GOOGLE_API_KEY), "
                  "or run `gcloud auth application-default login`, or use --emulator")
STATE_NUMBERS = {0: "STATE_UNSPECIFIED", 1: "CREATING", 2: "ACTIVE", 3: "FAILED"}
PHASES: dict[str, Phase] = {"CREATING": "running", "ACTIVE": "succeeded", "FAILED": "failed"}
WITH_OPERATION_DETAIL = ("CREATING", "FAILED")  # progress, or the server's reason
LIVE_FIELDS = ("displayName", "description", "temperature", "topP", "topK")


class Gemini:
    name = NAME
    ownership = "its deterministic tunedModelId"
    scoped = False  # one global namespace of tuned models, no (project, location)
    one_id_per_spec = True

    def connect(self, http: Any, *, endpoint: str | None, policy: Any, limiter: Any) -> GeminiClient:
        from reconciler.clients.gemini import GeminiClient

        return GeminiClient(http, endpoint=endpoint, policy=policy, limiter=limiter)

    def auth(self, *, token_client: Any, env: Mapping[str, str], emulator: bool, adc: Callable) -> Any:
        from reconciler.clients import auth

        if emulator:
            return auth.ApiKey(auth.EMULATOR_API_KEY)
        return auth.api_key(env) or auth.oauth(env, SCOPES, token_client=token_client,
                                               no_credentials=NO_CREDENTIALS, adc=adc)

    # --- reading ------------------------------------------------------------------------------------

    def owns_key(self, key: str) -> bool:
        return key.startswith(PREFIX)

    def read(self, client: GeminiClient, scopes: list[tuple], lock_keys: list[str], claims: ownership.Claims,
             operations: Mapping[str, str], submit: Submit) -> Callable[[], list[Generation]]:
        listing = submit(list, client.list_tuned_models()) if scopes else None

        def join() -> list[Generation]:
            url = client.url("tunedModels")
            listed = [decode.at("GET", url, tuned_model, m) for m in listing.result()] if listing else []
            models = {m["name"]: (m, owner) for m in listed if (owner := _claim(m["name"], claims))}
            fetched = {k: submit(get_or_none, client.get_tuned_model, k) for k in lock_keys if k not in models}
            for name, future in fetched.items():
                model = future.result()
                if model is None:
                    continue
                model = decode.at("GET", client.url(name), tuned_model, model)
                owner = _claim(model["name"], claims)
                if owner is not None:
                    models[model["name"]] = (model, owner)
            details = {name: submit(_operation, client, name, operations.get(name))
                       for name, (model, _) in sorted(models.items()) if _state(model) in WITH_OPERATION_DETAIL}
            return [generation(model, details[name].result() if name in details else None, owner=owner)
                    for name, (model, owner) in sorted(models.items())]
        return join

    def poll(self, client: GeminiClient, generation_: Generation) -> Generation | None:
        try:
            model = client.get_tuned_model(generation_.model)
        except NotFound:
            return None
        operation = None
        if generation_.operation and _state(model) in WITH_OPERATION_DETAIL:
            operation = get_or_none(client.get_operation, generation_.operation)
        owner = ownership.Recorded(generation_.owner, generation_.digest)  # an identity's id does not say them
        return replace(generation(model, operation, owner=owner), operation=generation_.operation)

    # --- changing -----------------------------------------------------------------------------------

    def create(self, client: GeminiClient, desired: DesiredResource, intent: str,
               upstream_model: str | None) -> Generation:
        answer = client.create_tuned_model(bodies.tuned_model(desired, upstream_model), desired.tuned_model_id)
        operation = decode.at("POST", client.url("tunedModels"), create_operation, answer)
        model_name = (operation.get("metadata") or {}).get("tunedModel") or \
            operation["name"].split("/operations/")[0]
        return Generation(platform=NAME, owner=desired.name, digest=desired.digest[:ownership.ID_DIGEST],
                          phase="running", model=model_name, live=dict(desired.mutable),
                          operation=operation.get("name", ""), state="CREATING")

    def lookup(self, client: GeminiClient, desired: DesiredResource) -> list[Generation]:
        model = get_or_none(client.get_tuned_model, self.occupant(desired))
        owner = ownership.Recorded(desired.name, desired.digest[:ownership.ID_DIGEST])  # the id is this spec's
        return [generation(model, owner=owner)] if model is not None else []

    def occupant(self, desired: DesiredResource) -> str | None:
        return f"{PREFIX}{desired.tuned_model_id}"

    def cancel(self, client: GeminiClient, key: str) -> Generation | None:
        _delete(client, key)  # there is no cancel: deleting the CREATING model stops the tune
        return None

    def remove(self, client: GeminiClient, generation_: Generation, steps: Steps,
               identity: str | None = None) -> None:
        # `identity` cannot be checked here: an id made under one is not told apart from any other by reading it;
        # refresh kept only the ids that are ours (a wanted spec's under our identity, or recorded in our lock)
        name = generation_.model or generation_.key
        if not generation_.owner or _owner(name) != generation_.owner:
            raise NotOwned(  # the id is the only ownership mark a tuned model has
                f"refusing to delete {name}: its id does not carry the name '{generation_.owner}' "
                f"({PREFIX}{generation_.owner}-<8 hex digits>); nothing was deleted")
        _delete(client, name)

    def patch(self, client: GeminiClient, desired: DesiredResource, generation_: Generation,
              fields: Collection[str]) -> list[str]:
        body, mask = bodies.model_patch(desired, fields, {})
        client.patch_tuned_model(generation_.model, body, mask)
        return mask

    def importer(self) -> Importer:
        from reconciler.platforms.gemini_import import GeminiImporter

        return GeminiImporter(tuned_model, generation)


def generation(model: dict, operation: dict | None = None, *, owner: ownership.Recorded | None = None) -> Generation:
    """A tuned model as a Generation; its create operation, when read, adds progress or the failure reason.

    owner: whose it is and the digest of its spec, as decided by whoever read it (the id made under an
    identity does not carry the digest); without it, what an id made without an identity says.
    Raises BadResponse when either is not the published shape."""
    model = tuned_model(model)
    operation = create_operation(operation, required=False) if operation is not None else None
    name, digest = owner or _parse(model["name"]) or ("", "")
    state = _state(model)
    phase = PHASES.get(state, "pending")
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
        platform=NAME,
        owner=name,
        digest=digest,
        phase=phase,
        model=model["name"],
        operation=str((operation or {}).get("name", "")),
        live={k: model[k] for k in LIVE_FIELDS if model.get(k) is not None},
        progress=progress,
        loss=float(loss) if loss is not None else None,
        error=error if phase == "failed" else "",
        state=state,
        create_time=str(model.get("createTime", "")),
    )


def tuned_model(data: object) -> dict:
    """A TunedModel as read, every field `generation` uses checked (see `decode`)."""
    model = decode.resource(data, "a tuned model")
    what = f"the tuned model {decode.name(model, 'a tuned model')}"
    if not isinstance(model.get("state"), int) or isinstance(model.get("state"), bool):
        decode.string(model, "state", what)
    for key in ("createTime", *LIVE_FIELDS[:2]):
        decode.string(model, key, what)
    for key in LIVE_FIELDS[2:]:
        decode.number(model, key, what)
    _snapshots(decode.obj(model, "tuningTask", what), f"{what}'s tuningTask")
    return model


def create_operation(data: object, *, required: bool = True) -> dict:
    """A tuned model's create operation: a `name` (required in a create's answer), its metadata and error."""
    operation = decode.resource(data, "a create operation")
    what = "a create operation"
    if required or operation.get("name") is not None:
        what = f"the create operation {decode.name(operation, what)}"
    decode.status(operation, "error", what)
    metadata = decode.obj(operation, "metadata", what)
    decode.string(metadata, "tunedModel", f"{what}'s metadata")
    decode.number(metadata, "completedPercent", f"{what}'s metadata")
    _snapshots(metadata, f"{what}'s metadata")
    return operation


def _snapshots(parent: dict, what: str) -> None:
    for snapshot in decode.objects(parent, "snapshots", what):
        decode.number(snapshot, "meanLoss", f"{what}'s snapshots")


def _parse(name: str) -> tuple[str, str] | None:
    """`tunedModels/{manifest name}-{8 hex digest}` -> (name, digest); None for a model this tool did not name."""
    return ownership.parse_id(name.removeprefix(PREFIX)) if name.startswith(PREFIX) else None


def _claim(name: str, claims: ownership.Claims) -> ownership.Recorded | None:
    return claims.by_id(name, name.removeprefix(PREFIX)) if name.startswith(PREFIX) else None


def _delete(client: GeminiClient, name: str) -> None:
    try:
        client.delete_tuned_model(name)
    except NotFound:
        pass


def _owner(name: str) -> str:
    parsed = _parse(name)
    return parsed[0] if parsed else ""


def _state(model: dict) -> str:
    state = model.get("state", "STATE_UNSPECIFIED")
    return STATE_NUMBERS.get(state, "STATE_UNSPECIFIED") if isinstance(state, int) else str(state)


def _operation(client: GeminiClient, model_name: str, recorded: str | None) -> dict | None:
    """The model's create operation: the one the lock recorded, else the first the API lists (one page of one)."""
    if recorded:
        found = get_or_none(client.get_operation, recorded)
        if found is not None:
            return found
    try:
        return next(iter(client.list_operations(model_name, page_size=1)), None)
    except NotFound:
        return None


GEMINI = Gemini()
