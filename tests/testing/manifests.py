"""Manifests as tests write them: two samples edited one field at a time, builders for Vertex AI and Gemini API
manifests and the root reconciler.yaml, and writers that put them (or the repository's examples) on disk."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.testing import ROOT

EXAMPLES = ROOT / "manifests"          # the repository's example manifests (3 Vertex, 2 Gemini API)
GEMINI_BASE_MODEL = "models/gemini-1.5-flash-001-tuning"
# Google's public sample dataset (the emulator serves it, as Cloud Storage does): a Vertex dataset that exists
SAMPLE_DATASET = "gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl"

# Two small valid manifests that tests edit one field at a time (line:col positions in tests depend on them).
VERTEX = """\
apiVersion: reconciler/v1
kind: TunedModel
metadata:
  name: support-bot
  labels: {team: support}
spec:
  platform: vertex
  project: demo-project
  location: us-central1
  baseModel: gemini-2.5-flash
  displayName: Support bot
  training:
    dataset: gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl
  hyperParameters: {epochCount: 4, adapterSize: 4, learningRateMultiplier: 1.0}
"""

GEMINI = """\
apiVersion: reconciler/v1
kind: TunedModel
metadata:
  name: math-bot
spec:
  platform: gemini-api
  baseModel: models/gemini-1.5-flash-001-tuning
  displayName: math-bot
  temperature: 0.2
  training:
    examples:
      - {textInput: "2+2?", output: "4"}
      - {textInput: "3*3?", output: "9"}
  hyperParameters: {epochCount: 2, batchSize: 4, learningRate: 0.001}
"""


def config(project: str, location: str = "us-central1", lock_file: str = "reconciler.lock") -> str:
    """A root reconciler.yaml giving Vertex manifests their project and location."""
    return f"defaults:\n  project: {project}\n  location: {location}\nlockFile: {lock_file}\n"


def vertex_manifest(name: str, *, dataset: str | None = None, display: str | None = None,
                    description: str | None = None, epochs: int | None = 2, checkpoints: bool = True,
                    from_manifest: str | None = None, labels: Mapping[str, str] | None = None,
                    policy: Mapping[str, Any] | None = None) -> str:
    """A Vertex AI manifest (project and location from reconciler.yaml). `checkpoints=True` makes the job create
    one endpoint per epoch (more to delete); `epochs=None` leaves hyperParameters out."""
    source = (f"preTunedModel: {{fromManifest: {from_manifest}}}" if from_manifest
              else "baseModel: gemini-2.5-flash")
    lines = [
        "apiVersion: reconciler/v1", "kind: TunedModel",
        f"metadata: {{name: {name}, labels: {json.dumps(dict(labels or {'team': 'rel'}))}}}",
        "spec:", "  platform: vertex", f"  {source}", f"  displayName: {display or name + ' model'}",
    ]
    if description:
        lines.append(f"  description: {description}")
    lines.append(f"  training: {{dataset: {dataset or SAMPLE_DATASET}}}")
    if epochs is not None:
        lines.append(f"  hyperParameters: {{epochCount: {epochs}}}")
    lines.append(f"  exportLastCheckpointOnly: {'false' if checkpoints else 'true'}")
    if policy:
        lines.append(f"  policy: {json.dumps(dict(policy))}")
    return "\n".join(lines) + "\n"


def gemini_manifest(name: str, *, display: str | None = None, description: str | None = None, epochs: int = 1,
                    answer: str = "2", examples: Iterable[tuple[str, str]] | None = None, batch_size: int = 1,
                    learning_rate: float | None = 0.001, policy: Mapping[str, Any] | None = None) -> str:
    """A Gemini API manifest with inline examples: by default ("1" -> `answer`) and (NAME -> "NAME!")."""
    rows = list(examples) if examples is not None else [("1", answer), (name, f"{name}!")]
    hyper = f"epochCount: {epochs}, batchSize: {batch_size}" + (
        f", learningRate: {learning_rate}" if learning_rate is not None else "")
    lines = [
        "apiVersion: reconciler/v1", "kind: TunedModel", f"metadata: {{name: {name}}}", "spec:",
        "  platform: gemini-api", f"  baseModel: {GEMINI_BASE_MODEL}",
        f"  displayName: {display or name + ' model'}",
    ]
    if description:
        lines.append(f"  description: {description}")
    lines += ["  training:", "    examples:",
              *(f"      - {{textInput: {json.dumps(text)}, output: {json.dumps(output)}}}" for text, output in rows),
              f"  hyperParameters: {{{hyper}}}"]
    if policy:
        lines.append(f"  policy: {json.dumps(dict(policy))}")
    return "\n".join(lines) + "\n"


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write files (path relative to `root` -> text, dedented, or bytes as they are); return `root`."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def write_manifests(root: Path, vertex: int, gemini: int = 0, *, prefix: str = "bench", project: str,
                    location: str = "us-central1") -> tuple[list[str], list[str]]:
    """`vertex` + `gemini` manifests with distinct names and datasets in one directory, and a reconciler.yaml
    holding the Vertex project and location. Returns the (vertex, gemini) manifest names."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(config(project, location), encoding="utf-8")
    vertex_names = [f"{prefix}-{index:04d}" for index in range(vertex)]
    for index, name in enumerate(vertex_names):
        (root / f"{name}.yaml").write_text(vertex_manifest(
            name, display=name, labels={"team": f"t{index % 7}"}, epochs=None, checkpoints=False,
            dataset=SAMPLE_DATASET), encoding="utf-8")
    gemini_names = [f"{prefix}-g{index:03d}" for index in range(gemini)]
    for name in gemini_names:
        (root / f"{name}.yaml").write_text(gemini_manifest(
            name, display=name, examples=[(f"{name} q{row}", f"a{row}") for row in range(3)], epochs=1,
            batch_size=4, learning_rate=None), encoding="utf-8")
    return vertex_names, gemini_names


def copy_examples(destination: Path) -> Path:
    """A copy of the repository's example manifests/ at `destination`."""
    shutil.copytree(EXAMPLES, destination)
    return destination
