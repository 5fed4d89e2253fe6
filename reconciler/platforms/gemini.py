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
from reconciler.errors import AlreadyExists, NotFound, NotOwned, PermissionDenied
from reconciler.observed import Generation, Phase, loss_history
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
FEW = 3  # at most this many tuned models are followed by GETs: cheaper than the listing's page set


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
        listing = submit(list, client.list_tuned_models(read=tuned_model, memo=True)) if scopes else None

        def join() -> list[Generation]:
            listed = listing.result() if listing else []
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

    def observe(self, client: GeminiClient, generations: list[Generation], submit: Submit
                ) -> Callable[[], dict[str, Generation | None]]:
        """One listing of tuned models (GETs instead for at most FEW), then the create operation of each model
        still CREATING (progress, snapshots) or FAILED (the reason): GETs only for those, concurrently."""
        followed = [g for g in generations if g.model]
        listing = submit(list, client.list_tuned_models(read=tuned_model)) if len(followed) > FEW else None

        def join() -> dict[str, Generation | None]:
            listed = {m["name"]: m for m in (listing.result() if listing else ())}
            fetched = {g.key: submit(get_or_none, client.get_tuned_model, g.model)
                       for g in followed if g.model not in listed}
            models = {g.key: listed.get(g.model) for g in followed}
            for key, future in fetched.items():
                found = future.result()
                models[key] = decode.at("GET", client.url(key), tuned_model, found) if found is not None else None
            details = {g.key: submit(get_or_none, client.get_operation, g.operation) for g in followed
                       if g.operation and models[g.key] is not None and _state(models[g.key]) in WITH_OPERATION_DETAIL}
            now: dict[str, Generation | None] = {}
            for g in followed:
                model = models[g.key]
                operation = details[g.key].result() if g.key in details else None
                owner = ownership.Recorded(g.owner, g.digest)  # an identity's id does not say them
                now[g.key] = None if model is None else replace(generation(model, operation, owner=owner),
                                                                operation=g.operation)
            return now
        return join

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
        """The tuned model at this spec's id, if it is ours. Ids are one global namespace: a 403 means another
        account holds it, and it is never adopted (AlreadyExists, `taken`)."""
        try:
            model = get_or_none(client.get_tuned_model, self.occupant(desired))
        except PermissionDenied:
            raise taken(self.occupant(desired) or "", desired.name) from None
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
              fields: Collection[str], owned_labels: Collection[str] = ()) -> list[str]:
        body, mask = bodies.model_patch(desired, fields, {})
        client.patch_tuned_model(generation_.model, body, mask)
        return mask

    def importer(self) -> Importer:
        from reconciler.platforms.gemini_import import GeminiImporter

        return GeminiImporter(tuned_model, generation)


def taken(key: str, name: str) -> AlreadyExists:
    """A create answered 409 but the id cannot be read as ours (403 / 404): someone else's tuned model holds it."""
    return AlreadyExists(
        f"{name}: the id {key} is taken by someone else: tuned-model ids are one global namespace across every "
        "Google account, the create answered 409 and the model cannot be read as ours, so it is not adopted and "
        "nothing was created; set a `stack:` in reconciler.yaml (it is mixed into the id) or rename the manifest")


def generation(model: dict, operation: dict | None = None, *, owner: ownership.Recorded | None = None) -> Generation:
    """A tuned model as a Generation; its create operation, when read, adds progress or the failure reason.

    owner: whose it is and the digest of its spec, as decided by whoever read it (the id made under an
    identity does not carry the digest); without it, what an id made without an identity says.
    Raises BadResponse when either is not the published shape."""
    model = tuned_model(model)
    operation = create_operation(operation, required=False) if operation is not None else None
    name, digest = owner or _parse(model["name"]) or ("", "")
    state = _state(model)
    phase = PHASES.get(state, "queued")
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
        loss_history=loss_history([(s.get("step") or i, s["meanLoss"]) for i, s in enumerate(snapshots, 1)
                                   if s.get("meanLoss") is not None]),
        start_time=str((model.get("tuningTask") or {}).get("startTime") or ""),
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
    task = decode.obj(model, "tuningTask", what)
    decode.string(task, "startTime", f"{what}'s tuningTask")
    _snapshots(task, f"{what}'s tuningTask")
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
        decode.int64(snapshot, "step", f"{what}'s snapshots")


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
