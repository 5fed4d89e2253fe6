"""What the Gemini API resource modules share: names from the matched route, list limits, type URLs."""

from __future__ import annotations

from ..routing import ApiRequest

TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
LIST_DEFAULT, LIST_MAX = 10, 1000                 # reference: tunedModels.list and permissions.list


def model_name(request: ApiRequest) -> str:
    """`tunedModels/{model}` of a routed request."""
    return f"tunedModels/{request.params['model']}"
