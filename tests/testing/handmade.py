"""Resources made by hand, as a person would with curl or the console: created directly on the emulator (no
reconciler involved, no ownership labels unless a test gives some), for `reconciler import` to bring in; and a
scratch manifest root with the reconciler run against that emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator import Emulator
from tests.testing import cli as reconciler_cli
from tests.testing.cli import Result
from tests.testing.manifests import GEMINI_BASE_MODEL, SAMPLE_DATASET, config, gemini_manifest, vertex_manifest

PROJECT, LOCATION = "demo-project", "us-central1"
VERTEX_AUTH = {"Authorization": "Bearer hand-made"}
GEMINI_AUTH = {"x-goog-api-key": "hand-made"}
DATASET = SAMPLE_DATASET  # what tests.testing.manifests.vertex_manifest trains on


def vertex_job(emulator: Emulator, name: str, *, epochs: int = 2, display: str | None = None,
               labels: dict[str, str] | None = None, location: str = LOCATION) -> str:
    """A tuning job spelled like `vertex_manifest(name, checkpoints=False)`'s create (unless told otherwise)."""
    body = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": display or f"{name} model",
            "labels": {"team": "rel"} if labels is None else labels,
            "supervisedTuningSpec": {"trainingDatasetUri": DATASET,
                                     "hyperParameters": {"epochCount": epochs}, "exportLastCheckpointOnly": True}}
    return _post(emulator, f"/v1/projects/{PROJECT}/locations/{location}/tuningJobs", body, VERTEX_AUTH)["name"]


def gemini_model(emulator: Emulator, model_id: str, name: str, *, epochs: int = 1, display: str | None = None) -> str:
    """A tuned model with an id of our choosing, spelled like `gemini_manifest(name)`'s create."""
    examples = [{"textInput": "1", "output": "2"}, {"textInput": name, "output": f"{name}!"}]
    body = {"baseModel": GEMINI_BASE_MODEL, "displayName": display or f"{name} model",
            "tuningTask": {"trainingData": {"examples": {"examples": examples}},
                           "hyperparameters": {"epochCount": epochs, "batchSize": 1, "learningRate": 0.001}}}
    _post(emulator, f"/v1beta/tunedModels?tunedModelId={model_id}", body, GEMINI_AUTH)
    return f"tunedModels/{model_id}"


def get(emulator: Emulator, name: str) -> dict[str, Any]:
    """GET a resource by name (a Vertex name or `tunedModels/...`); must be 200."""
    gemini = name.startswith("tunedModels/")
    with httpx.Client(base_url=emulator.base_url, timeout=30) as http:
        response = http.get(f"/{'v1beta' if gemini else 'v1'}/{name}", headers=GEMINI_AUTH if gemini else VERTEX_AUTH)
    assert response.status_code == 200, f"GET {name}: {response.status_code} {response.text}"
    return response.json()


def cancel(emulator: Emulator, job: str) -> None:
    _post(emulator, f"/v1/{job}:cancel", {}, VERTEX_AUTH)


def _post(emulator: Emulator, path: str, body: dict, headers: dict) -> dict[str, Any]:
    with httpx.Client(base_url=emulator.base_url, timeout=30) as http:
        response = http.post(path, json=body, headers=headers)
    assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
    return response.json()


@dataclass
class Root:
    """A manifest root (reconciler.yaml for demo-project / us-central1) and the reconciler run in it."""

    path: Path
    emulator: Emulator

    def vertex(self, name: str, **options: Any) -> None:
        (self.path / f"{name}.yaml").write_text(vertex_manifest(name, checkpoints=False, **options))

    def gemini(self, name: str, **options: Any) -> None:
        (self.path / f"{name}.yaml").write_text(gemini_manifest(name, **options))

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return reconciler_cli.run(*args, "--api-endpoint", self.emulator.base_url, cwd=self.path,
                                  env=reconciler_cli.environment(env))

    def run_offline(self, *args: str) -> Result:
        """With no credentials at all, and no endpoint: what `reconciler state` must work with."""
        return reconciler_cli.run(*args, cwd=self.path, env=reconciler_cli.bare_environment({"HOME": str(self.path)}))

    def lock(self) -> dict[str, Any] | None:
        path = self.path / "reconciler.lock"
        return json.loads(path.read_text()) if path.exists() else None

    def creates(self) -> int:
        return sum(1 for r in self.emulator.requests()
                   if r["method"] == "POST" and r["path"].endswith(("/tuningJobs", "/tunedModels")))

    def mutations(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.requests() if r["method"] in ("POST", "PATCH", "DELETE")]


def root(path: Path, emulator: Emulator) -> Root:
    path.mkdir(parents=True, exist_ok=True)
    (path / "reconciler.yaml").write_text(config(PROJECT, LOCATION))
    return Root(path, emulator)
