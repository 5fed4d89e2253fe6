"""Gemini API `:generateContent` / `:streamGenerateContent` (v1beta and v1) on an ACTIVE tuned model, answered
deterministically from the examples it was tuned on."""

from __future__ import annotations

from typing import Any

from ..names import stable_int
from ..routing import NO_QUERY, ApiRequest, check_query
from ..rpc import invalid, precondition
from ..store import Store
from .common import model_name
from .lifecycle import find, state


class Generation:
    def __init__(self, store: Store) -> None:
        self.store = store

    def generate(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = model_name(request)
        body = request.object_body()
        record = find(self.store, name)
        current, _ = state(record, now)
        if current != "ACTIVE":
            raise precondition(f"Tuned model {name} is not ready: its state is {current}.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise invalid("contents", "contents is required.")
        return _answer(name, contents, record["answers"])

    def stream_generate(self, request: ApiRequest, now: float) -> list[dict[str, Any]]:
        return [self.generate(request, now)]


def _answer(name: str, contents: list[Any], answers: list[list[str]]) -> dict[str, Any]:
    """A GenerateContentResponse: the trained output for a known input, else a stable pick among the outputs."""
    prompt = " ".join(part.get("text", "") for content in contents if isinstance(content, dict)
                      for part in content.get("parts", []) if isinstance(part, dict)).strip()
    last = ""
    for content in contents:
        texts = [p.get("text", "") for p in content.get("parts", []) if isinstance(p, dict)] \
            if isinstance(content, dict) else []
        if texts and content.get("role", "user") == "user":
            last = " ".join(texts).strip()
    text = next((out for given, out in answers if given.strip() == last), None)
    if text is None:
        text = answers[stable_int(last, 0, len(answers) - 1)][1] if answers else "OK"
    prompt_tokens, answer_tokens = max(1, len(prompt.split())), max(1, len(text.split()))
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": answer_tokens,
                              "totalTokenCount": prompt_tokens + answer_tokens},
            "modelVersion": name}
