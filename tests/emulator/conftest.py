"""Fixtures for the emulator suite: a real server on loopback per test (port 0), thin HTTP helpers, and
the autouse check that every response body the emulator produced validates against the reference schemas."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator

import emulator_schemas

REPO = Path(__file__).resolve().parents[2]
PROJECT, LOCATION = "test-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
SDK_ENV = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
           "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_API_VERSION")

warnings.filterwarnings("ignore", category=FutureWarning)
HERE = Path(__file__).resolve().parent
SDK_NOISE = ("ignore::FutureWarning", "ignore::DeprecationWarning",      # google-generativeai is deprecated
             "ignore:.*experimental")                       # google-genai tunings are "experimental"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            for spec in SDK_NOISE:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def _clean_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)


def assert_schema_valid(entries: list[dict[str, Any]]) -> None:
    found = [problem for entry in entries if "response" in entry for problem in emulator_schemas.problems(entry)]
    assert not found, "responses that do not match the reference schemas:\n" + "\n".join(found[:20])


@pytest.fixture(autouse=True)
def _every_response_matches_the_reference(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every in-process Emulator a test creates keeps its response bodies; after the test, each one is
    validated against the reference schema of its method (subprocess tests fetch theirs via the admin log)."""
    created: list[Emulator] = []
    original = Emulator.__init__

    def recording_init(self: Emulator, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "record_bodies": True})
        created.append(self)

    monkeypatch.setattr(Emulator, "__init__", recording_init)
    yield
    for emu in created:
        assert_schema_valid(emu.requests())


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh in-process emulator on a free port (job duration 60 virtual seconds)."""
    emu = Emulator(job_duration=60)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


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


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.close()


def assert_error(response: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    assert response.status_code == http_status, response.text
    error = response.json()["error"]
    assert error["code"] == http_status and error["status"] == status, error
    assert error["message"]
    return error


def violations(response: httpx.Response) -> list[str]:
    details = response.json()["error"].get("details", [])
    return [v["field"] for d in details if d["@type"].endswith("google.rpc.BadRequest") for v in d["fieldViolations"]]


class Subprocess:
    """`python -m reconciler.emulator` started as a child process; stopped by its own pid."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in SDK_ENV}
        self.process = subprocess.Popen([sys.executable, "-m", "reconciler.emulator", "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        line = self.process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, self.process.stderr.read())
        self.base_url = line.removeprefix("listening on ")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[Subprocess] = []

    def start(*args: str) -> Subprocess:
        child = Subprocess(*args)
        started.append(child)
        return child

    yield start
    for child in started:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait(timeout=5)
