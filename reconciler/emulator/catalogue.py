"""The base models each API offers for tuning.

Gemini API: `models.get` / `models.list` (`/v1beta/models[/{model}]`, also `/v1/`) answer Model resources with
`supportedGenerationMethods`; only a model listing `createTunedModel` can be tuned, and `tunedModels.create` on any
other answers 404 NOT_FOUND in the wording Google uses for a model that does not support a method. The default
catalogue ("seeds") follows the seed documents, so the shipped examples and the demo run: the tutorial's
`models/gemini-1.0-pro-001` and the reference's `models/gemini-1.5-flash-001-tuning` are tunable.
`--gemini-tunable none` mirrors Google today, where no Gemini API base model is offered for tuning;
`--gemini-tunable a,b` makes exactly those tunable (adding them to the catalogue when unknown).

Vertex AI: `tuningJobs.create` with a `baseModel` outside the supported list answers 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

from typing import Any

from .listing import fingerprint, paginate, with_token
from .routing import NO_QUERY, ApiRequest, check_query
from .rpc import RpcError

TUNE = "createTunedModel"
_CHAT = ["generateContent", "countTokens"]
# name -> (display name, version, whether the seeds make it tunable, input/output token limits)
GEMINI_MODELS: dict[str, tuple[str, str, bool, int, int]] = {
    "models/gemini-1.0-pro-001": ("Gemini 1.0 Pro 001 (Tuning)", "001", True, 30720, 2048),
    "models/gemini-1.5-flash-001-tuning": ("Gemini 1.5 Flash 001 Tuning", "001", True, 16384, 8192),
    "models/gemini-1.5-flash-001": ("Gemini 1.5 Flash 001", "001", False, 1000000, 8192),
    "models/gemini-2.0-flash-001": ("Gemini 2.0 Flash 001", "2.0", False, 1048576, 8192),
    "models/gemini-2.5-flash": ("Gemini 2.5 Flash", "001", False, 1048576, 65536),
    "models/gemini-2.5-pro": ("Gemini 2.5 Pro", "2.5", False, 1048576, 65536),
}
VERTEX_TUNABLE = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash-001",
                  "gemini-2.0-flash-lite-001", "translation-llm-002")
LIST_DEFAULT, LIST_MAX = 50, 1000   # models.list: the reference's page size default is 50, max 1000


class Catalogue:
    """The Gemini API base models (`tunable`: "seeds", "none", or comma-separated model names)."""

    def __init__(self, tunable: str = "seeds") -> None:
        names = {n.strip() if n.strip().startswith("models/") else f"models/{n.strip()}"
                 for n in tunable.split(",") if n.strip()} if tunable not in ("seeds", "none") else set()
        self.models: dict[str, dict[str, Any]] = {}
        for name, (display, version, seeded, limit_in, limit_out) in GEMINI_MODELS.items():
            can_tune = seeded if tunable == "seeds" else name in names
            self.models[name] = _model(name, display, version, can_tune, limit_in, limit_out)
        for name in sorted(names - set(self.models)):
            self.models[name] = _model(name, name.removeprefix("models/"), "001", True, 32768, 8192)

    def require_tunable(self, base_model: str, version: str = "v1beta") -> None:
        model = self.models.get(base_model)
        if model is None or TUNE not in model["supportedGenerationMethods"]:
            raise RpcError("NOT_FOUND", f"{base_model} is not found for API version {version}, or is not supported "
                                        f"for {TUNE}. Call ListModels to see the list of available models and "
                                        "their supported methods.")

    # ------------------------------------------------------------------ routes
    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = f"models/{request.params['model']}"
        if name not in self.models:
            raise RpcError("NOT_FOUND", f"{name} is not found for API version {request.version}, or is not "
                                        "supported for get. Call ListModels to see the list of available models "
                                        "and their supported methods.")
        return self.models[name]

    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"pageSize", "pageToken"}))
        items = list(self.models.values())
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("models"))
        return with_token({"models": page} if page else {}, token)


def _model(name: str, display: str, version: str, tunable: bool, limit_in: int, limit_out: int) -> dict[str, Any]:
    methods = [*_CHAT, TUNE] if tunable else [*_CHAT, "createCachedContent"]
    return {"name": name, "baseModelId": name.removeprefix("models/").removesuffix("-tuning"), "version": version,
            "displayName": display, "description": display, "inputTokenLimit": limit_in,
            "outputTokenLimit": limit_out, "supportedGenerationMethods": methods, "temperature": 1,
            "maxTemperature": 2, "topP": 0.95, "topK": 64}


def require_vertex_tunable(base_model: str | None) -> None:
    """400 INVALID_ARGUMENT unless `base_model` (a name, or a `.../publishers/google/models/NAME` path) is tunable."""
    if not base_model:
        return
    tail = base_model.rsplit("/", 1)[-1]
    if tail not in VERTEX_TUNABLE:
        raise RpcError("INVALID_ARGUMENT", f"Base model {base_model} is not supported for supervised fine-tuning. "
                                           f"Supported base models: {', '.join(VERTEX_TUNABLE)}.")
