"""Which base models each API can tune, checked before anything is paid for.

- Gemini API: at plan time, `models.get` once per run for each base model a train or retrain would use; its
  `supportedGenerationMethods` must include `createTunedModel`, else the plan fails before any create and names
  the models that can be tuned (`models.list`). Google's documentation (ai.google.dev, "Model tuning") currently
  says that no Gemini API base model is offered for tuning, and that Vertex AI is the supported path.
- Vertex AI: the base models its supervised tuning accepts (the seeds and the reference; the older guide's 1.5 and
  1.0 models are retired). `validate` warns on any other with a "did you mean"; the API's 400 at create becomes
  the same message.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Iterable
from typing import Any

from reconciler.errors import InvalidArgument, NotFound, UserError

VERTEX = "vertex"
GEMINI = "gemini-api"
TUNE = "createTunedModel"
VERTEX_TUNABLE = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash-001",
                  "gemini-2.0-flash-lite-001", "translation-llm-002")
NONE_TUNABLE = ("none. Google's documentation (ai.google.dev, Model tuning) says no Gemini API base model is "
                "currently offered for tuning: tune on Vertex AI instead (platform: vertex)")

# client -> {base model: why it cannot be tuned ("" = it can)}: each base model is asked about once per run
_ASKED: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------- Vertex AI
def vertex_problem(base_model: str | None) -> str:
    """Why Vertex AI will refuse `base_model` ("" when it is one it tunes, or not set)."""
    if not base_model or base_model.rsplit("/", 1)[-1] in VERTEX_TUNABLE:
        return ""
    close = difflib.get_close_matches(base_model.rsplit("/", 1)[-1], VERTEX_TUNABLE, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"base model {base_model!r} is not one Vertex AI tunes (retired, or never offered); {hint}"
            f"tunable: {', '.join(VERTEX_TUNABLE)}")


def warning(platform: str, base_model: str | None) -> str:
    """What `validate` warns about a manifest's base model, offline ("" for nothing)."""
    return vertex_problem(base_model) if platform == VERTEX else ""


def vertex_refusal(base_model: str | None, error: InvalidArgument) -> InvalidArgument:
    """The API's 400 at create, in the words `validate` uses when the base model is the reason."""
    problem = vertex_problem(base_model)
    if not problem:
        return error
    return InvalidArgument(f"{problem} (the API answered: {error.api_message})", method=error.method,
                           url=error.url, http_status=error.http_status, details=error.details)


# ---------------------------------------------------------------------------------------------- Gemini API
def check(plan: Any, desired: Any, clients: Any) -> None:
    """Raise a UserError before any create when a Gemini API train or retrain names a base model that the API
    cannot tune (models.get: no `createTunedModel`); it names the models that can be tuned."""
    users: dict[str, list[str]] = {}
    for change in plan.changes:
        resource = desired.resources.get(change.name)
        if change.action in ("train", "retrain") and resource is not None and resource.platform == GEMINI \
                and resource.immutable.get("baseModel"):
            users.setdefault(str(resource.immutable["baseModel"]), []).append(change.name)
    client = clients.get(GEMINI) if users and clients is not None else None
    if client is None:
        return
    asked = _ASKED.setdefault(client, {})
    for base in sorted(set(users) - set(asked)):
        asked[base] = _problem(client, base)
    refused = {base: asked[base] for base in sorted(users) if asked[base]}
    if refused:
        lines = [f"  - {base} ({', '.join(sorted(users[base]))}): {why}" for base, why in refused.items()]
        tunable = _tunable(client)
        raise UserError("the Gemini API cannot tune these base models; nothing was created:\n" + "\n".join(lines)
                        + "\nBase models it can tune now: " + (", ".join(tunable) if tunable else NONE_TUNABLE))


def _problem(client: Any, base: str) -> str:
    try:
        model = client.get_model(base)
    except NotFound:
        return "the API does not know it (models.get: 404)"
    methods = model.get("supportedGenerationMethods")
    methods = [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []
    if TUNE in methods:
        return ""
    return f"it does not support {TUNE} (supportedGenerationMethods: {', '.join(methods) or 'none'})"


def _tunable(client: Any) -> list[str]:
    models: Iterable[dict] = client.list_models()
    return sorted(str(m.get("name")) for m in models
                  if isinstance(m.get("supportedGenerationMethods"), list) and TUNE in m["supportedGenerationMethods"])
