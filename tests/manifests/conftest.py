import textwrap
from pathlib import Path

import pytest

from reconciler import manifests

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


@pytest.fixture
def write(tmp_path: Path):
    """Write files (name -> text) under a fresh manifest root and return the root."""

    def write_files(files: dict[str, str | bytes]) -> Path:
        for name, content in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content))
        return tmp_path

    return write_files


@pytest.fixture
def load_files(write):
    """Write files and load the root: the DesiredState."""

    def load(files: dict[str, str | bytes], env: dict[str, str] | None = None):
        return manifests.load(write(files), env=env or {})

    return load
