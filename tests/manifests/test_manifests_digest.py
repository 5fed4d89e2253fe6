"""The spec digest: stable under anything that does not change what would be trained."""

import json

import pytest

from tests.testing.manifests import GEMINI, VERTEX

REFORMATTED_VERTEX = """\
# same model, written differently
kind: "TunedModel"
apiVersion: 'reconciler/v1'
spec:
  hyperParameters:
    learningRateMultiplier: 1
    adapterSize: ADAPTER_SIZE_FOUR
    epochCount: 4
  training: {dataset: "gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl"}
  baseModel: gemini-2.5-flash
  location: us-central1
  project: demo-project
  platform: vertex
metadata: {name: support-bot}
"""

EXAMPLE_ROWS = [{"textInput": "2+2?", "output": "4"}, {"textInput": "3*3?", "output": "9"}]


def digest_of(load_files, text: str, name: str, extra: dict | None = None) -> str:
    return load_files({"bot.yaml": text, **(extra or {})}).resources[name].digest


def vertex_digest(load_files, text: str) -> str:
    return digest_of(load_files, text, "support-bot")


def gemini_digest(load_files, text: str, extra: dict | None = None) -> str:
    return digest_of(load_files, text, "math-bot", extra)


def with_examples_file(jsonl: str) -> tuple[str, dict]:
    manifest = GEMINI.replace('    examples:\n      - {textInput: "2+2?", output: "4"}\n'
                              '      - {textInput: "3*3?", output: "9"}\n', "    examples: data/rows.jsonl\n")
    return manifest, {"data/rows.jsonl": jsonl}


def test_reformatting_reordering_and_enum_spelling_keep_the_digest(load_files):
    assert vertex_digest(load_files, REFORMATTED_VERTEX) == vertex_digest(load_files, VERTEX)


def test_null_and_empty_mappings_mean_absent(load_files):
    with_empty = VERTEX.replace("  displayName", "  exportLastCheckpointOnly: null\n  displayName")
    without = VERTEX.replace("  hyperParameters: {epochCount: 4, adapterSize: 4, learningRateMultiplier: 1.0}\n", "")

    assert vertex_digest(load_files, with_empty) == vertex_digest(load_files, VERTEX)
    assert vertex_digest(load_files, without + "  hyperParameters: {}\n") == vertex_digest(load_files, without)


@pytest.mark.parametrize("old, new", [
    ("displayName: Support bot", "displayName: Support bot v2"),
    ("labels: {team: support}", "labels: {team: helpdesk, tier: '1'}"),
    ("  displayName", "  description: now with a description\n  displayName"),
    ("  displayName", "  policy: {protect: true, onDelete: orphan, whileRunning: wait, previousVersion: keep}\n"
                      "  displayName"),
])
def test_mutable_fields_and_policy_never_change_the_vertex_digest(load_files, old, new):
    assert vertex_digest(load_files, VERTEX.replace(old, new)) == vertex_digest(load_files, VERTEX)


@pytest.mark.parametrize("old, new", [
    ("displayName: math-bot", "displayName: math bot 2"),
    ("temperature: 0.2", "temperature: 0.7\n  topP: 0.9\n  topK: 3"),
    ("  displayName", "  policy: {protect: true}\n  displayName"),
])
def test_mutable_fields_and_policy_never_change_the_gemini_digest(load_files, old, new):
    assert gemini_digest(load_files, GEMINI.replace(old, new)) == gemini_digest(load_files, GEMINI)


@pytest.mark.parametrize("old, new", [
    ("epochCount: 4", "epochCount: 5"),
    ("adapterSize: 4", "adapterSize: 8"),
    ("learningRateMultiplier: 1.0", "learningRateMultiplier: 1.5"),
    ("baseModel: gemini-2.5-flash", "baseModel: gemini-2.0-flash-001"),
    ("sft_train_data.jsonl", "sft_train_data_v2.jsonl"),
    ("project: demo-project", "project: other-project"),
    ("location: us-central1", "location: europe-west4"),
    ("  displayName", "  exportLastCheckpointOnly: true\n  displayName"),
    ("  displayName", "  serviceAccount: tuner@demo-project.iam.gserviceaccount.com\n  displayName"),
])
def test_immutable_edits_change_the_vertex_digest(load_files, old, new):
    assert vertex_digest(load_files, VERTEX.replace(old, new)) != vertex_digest(load_files, VERTEX)


@pytest.mark.parametrize("old, new", [
    ("epochCount: 2", "epochCount: 3"),
    ("batchSize: 4", "batchSize: 8"),
    ("learningRate: 0.001", "learningRateMultiplier: 1.0"),
    ("models/gemini-1.5-flash-001-tuning", "models/gemini-1.0-pro-001"),
    ('output: "9"', 'output: "nine"'),
    ('      - {textInput: "3*3?", output: "9"}\n', ""),
])
def test_immutable_edits_change_the_gemini_digest(load_files, old, new):
    assert gemini_digest(load_files, GEMINI.replace(old, new)) != gemini_digest(load_files, GEMINI)


def test_inline_examples_and_an_equivalent_jsonl_file_have_the_same_digest(load_files):
    reformatted = '\n{ "output" : "4", "textInput" : "2+2?" }\n\n{"textInput":"3*3?","output":"9"}\n\n'
    manifest, files = with_examples_file(reformatted)

    assert gemini_digest(load_files, manifest, files) == gemini_digest(load_files, GEMINI)


def test_editing_a_row_of_the_training_file_changes_the_digest(load_files):
    rows = [dict(row) for row in EXAMPLE_ROWS]
    original = with_examples_file("".join(json.dumps(row) + "\n" for row in rows))
    rows[1]["output"] = "nine"
    edited = with_examples_file("".join(json.dumps(row) + "\n" for row in rows))

    assert gemini_digest(load_files, *original) != gemini_digest(load_files, *edited)


def test_retraining_an_upstream_model_changes_its_dependents_digest(load_files):
    continued = VERTEX.replace("name: support-bot", "name: support-bot-next").replace(
        "baseModel: gemini-2.5-flash", "preTunedModel: {fromManifest: support-bot}").replace(
        "displayName: Support bot", "displayName: Support bot, continued")

    def dependent_digest(upstream: str) -> str:
        return load_files({"bot.yaml": upstream, "next.yaml": continued}).resources["support-bot-next"].digest

    assert dependent_digest(VERTEX.replace("epochCount: 4", "epochCount: 6")) != dependent_digest(VERTEX)
    assert dependent_digest(VERTEX.replace("Support bot", "Renamed")) == dependent_digest(VERTEX)
