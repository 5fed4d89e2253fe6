"""What the emulator tests import: the project they use, raw HTTP helpers (`Api`), error assertions, and the
schema check of logged responses. A module of its own (not conftest.py) so that `from emulator_api import ...`
always means this file, whichever other conftest.py files a run has loaded."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.emulator import Emulator

import emulator_schemas

PROJECT, LOCATION = "test-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


def assert_schema_valid(entries: list[dict[str, Any]]) -> None:
    found = [problem for entry in entries if "response" in entry for problem in emulator_schemas.problems(entry)]
    assert not found, "responses that do not match the reference schemas:\n" + "\n".join(found[:20])


class Api:
    """Raw HTTP against one emulator: `vertex()` carries a bearer token, `gemini()` an API key."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.http = httpx.Client(base_url=emu.base_url, timeout=10)

    def vertex(self, method: str, path: str, *, version: str = "v1", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": "Bearer test-token", **kwargs.pop("headers", {})}
        if not path.startswith("projects/"):
            path = f"{PARENT}/{path}"
        return self.http.request(method, f"/{version}/{path}", headers=headers, **kwargs)

    def gemini(self, method: str, path: str, *, version: str = "v1beta", **kwargs: Any) -> httpx.Response:
        headers = {"x-goog-api-key": "test-key", **kwargs.pop("headers", {})}
        return self.http.request(method, f"/{version}/{path}", headers=headers, **kwargs)

    def admin(self, method: str, route: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, f"/__emulator__/{route}", json=body)

    def create_job(self, version: str = "v1", **fields: Any) -> dict[str, Any]:
        body = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": "support-bot",
                "supervisedTuningSpec": {"trainingDatasetUri": "gs://bucket/train.jsonl",
                                         "hyperParameters": {"epochCount": 2}},
                **fields}
        response = self.vertex("POST", "tuningJobs", version=version, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def finished_job(self, **fields: Any) -> dict[str, Any]:
        job = self.create_job(**fields)
        self.emu.advance(61)
        return self.vertex("GET", job["name"]).json()

    def create_tuned_model(self, model_id: str | None = "math-bot", **fields: Any) -> dict[str, Any]:
        body = {"baseModel": "models/gemini-1.5-flash-001-tuning", "displayName": "math bot",
                "tuningTask": {"trainingData": {"examples": {"examples": [
                    {"textInput": "2+2?", "output": "4"}, {"textInput": "3+3?", "output": "6"}]}},
                    "hyperparameters": {"epochCount": 2, "batchSize": 1, "learningRate": 0.001}},
                **fields}
        params = {"tunedModelId": model_id} if model_id else {}
        response = self.gemini("POST", "tunedModels", params=params, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.http.close()


def assert_error(response: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    assert response.status_code == http_status, response.text
    error = response.json()["error"]
    assert error["code"] == http_status and error["status"] == status, error
    assert error["message"]
    return error


def violations(response: httpx.Response) -> list[str]:
    details = response.json()["error"].get("details", [])
    return [v["field"] for d in details if d["@type"].endswith("google.rpc.BadRequest") for v in d["fieldViolations"]]
