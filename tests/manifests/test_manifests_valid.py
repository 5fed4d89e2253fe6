"""Valid manifests: the repository's examples, defaults, interpolation, layout and the JSON Schema."""

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler import manifest
from reconciler.errors import ManifestError
from reconciler.desired import DIGEST_ALGORITHM, DesiredResource, Policy
from reconciler.manifest import json_schema
from reconciler.manifest.fields import TUNED_MODEL_ID_PATTERN
from reconciler.manifest.diagnostics import Diagnostics
from reconciler.manifest.files import MAX_MANIFEST_BYTES, read_text
from reconciler.manifest.schema import MUTABLE_FIELDS
from tests.testing.manifests import GEMINI, VERTEX

EXAMPLES = Path(__file__).parents[2] / "manifests"


def errors_of(raised) -> list[str]:
    return [d.message for d in raised.value.diagnostics if d.severity == "error"]


def test_repository_examples_validate():
    state = manifest.load(EXAMPLES, env={})

    assert sorted(state.resources) == ["math-bot", "number-generator", "support-bot",
                                       "support-bot-continued", "support-bot-tier2"]
    names = list(state.resources)
    assert names.index("support-bot") < names.index("support-bot-continued")
    assert state.resources["support-bot-continued"].depends_on == "support-bot"
    assert [w.severity for w in state.warnings] == ["warning", "warning"]
    assert state.config.defaults.project == "demo-project"
    assert state.config.lock_path == EXAMPLES / "reconciler.lock"


def test_number_generator_reads_the_fifteen_seed_pairs():
    bot = manifest.load(EXAMPLES, env={}).resources["number-generator"]

    assert len(bot.examples) == 15
    assert bot.examples[3] == {"textInput": "twenty two", "output": "twenty three"}
    assert bot.immutable["hyperParameters"] == {"batchSize": 2, "learningRate": 0.001, "epochCount": 5}
    assert bot.immutable["baseModel"] == "models/gemini-1.5-flash-001-tuning"


def test_schema_is_a_valid_json_schema_that_accepts_every_example():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = [p for p in EXAMPLES.rglob("*.yaml") if p.name != "reconciler.yaml"]

    for file in files:
        for document in yaml.safe_load_all(file.read_text()):
            assert list(validator.iter_errors(document)) == [], file
    assert not validator.is_valid({"apiVersion": "reconciler/v1", "kind": "TunedModel",
                                   "metadata": {"name": "x"}, "spec": {"platform": "vertx"}})


def test_every_example_names_the_schema_for_editors():
    for file in EXAMPLES.rglob("*.yaml"):
        if file.name != "reconciler.yaml":
            assert file.read_text().startswith("# yaml-language-server: $schema="), file


def test_vertex_resource_shape(load_files):
    bot = load_files({"bot.yaml": VERTEX}).resources["support-bot"]

    assert bot.scope == ("vertex", "demo-project", "us-central1")
    assert bot.immutable == {
        "baseModel": "gemini-2.5-flash",
        "training": {"dataset": "gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl"},
        "hyperParameters": {"epochCount": 4, "adapterSize": "ADAPTER_SIZE_FOUR", "learningRateMultiplier": 1.0},
    }
    assert bot.mutable == {"displayName": "Support bot", "labels": {"team": "support"}}
    assert bot.policy == Policy()
    assert re.fullmatch(r"[0-9a-f]{64}", bot.digest) and bot.short_digest == bot.digest[:12]
    assert bot.source.endswith("bot.yaml:1")


def test_gemini_resource_shape(load_files):
    bot = load_files({"bot.yaml": GEMINI}).resources["math-bot"]

    assert bot.scope == ("gemini-api", None, None)
    assert bot.immutable["training"]["exampleCount"] == 2
    assert set(bot.mutable) <= set(MUTABLE_FIELDS["gemini-api"])
    assert bot.mutable == {"displayName": "math-bot", "temperature": 0.2}
    assert bot.examples == ({"textInput": "2+2?", "output": "4"}, {"textInput": "3*3?", "output": "9"})
    assert TUNED_MODEL_ID_PATTERN.fullmatch(bot.tuned_model_id)


def test_longest_gemini_name_still_gives_a_legal_tuned_model_id(load_files):
    name = "n" * 30 + "1"
    bot = load_files({"bot.yaml": GEMINI.replace("math-bot\nspec", f"{name}\nspec")}).resources[name]

    assert len(bot.tuned_model_id) == 40 and TUNED_MODEL_ID_PATTERN.fullmatch(bot.tuned_model_id)


def test_desired_resource_survives_a_json_round_trip(load_files):
    bot = load_files({"bot.yaml": GEMINI}).resources["math-bot"]

    assert DesiredResource.from_json(json.loads(json.dumps(bot.to_json()))) == bot
    assert bot.to_json()["digestAlgorithm"] == DIGEST_ALGORITHM


def test_reconciler_yaml_supplies_scope_labels_and_lock_file(load_files):
    config = """\
        defaults:
          project: ${PROJECT:-fallback-project}
          location: europe-west4
          labels: {env: prod, team: platform}
        lockFile: state/tuning.lock
        """
    manifest = VERTEX.replace("  project: demo-project\n  location: us-central1\n", "")
    state = load_files({"reconciler.yaml": config, "bots/bot.yaml": manifest}, env={"PROJECT": "acme-ml"})
    bot = state.resources["support-bot"]

    assert (bot.project, bot.location) == ("acme-ml", "europe-west4")
    assert bot.mutable["labels"] == {"env": "prod", "team": "support"}  # the manifest wins
    assert state.config.lock_path == state.config.root / "state" / "tuning.lock"


def test_interpolation_types_defaults_and_escapes(load_files):
    hyper_parameters = "  hyperParameters:\n    epochCount: ${EPOCHS:-3}\n"
    manifest = ((VERTEX.split("  hyperParameters:")[0] + hyper_parameters)
                .replace("project: demo-project", "project: ${PROJECT}")
                .replace("displayName: Support bot", "displayName: 'Costs $$5: ${TIER:-gold}'"))
    bot = load_files({"bot.yaml": manifest}, env={"PROJECT": "acme-ml"}).resources["support-bot"]

    assert bot.project == "acme-ml"
    assert bot.immutable["hyperParameters"]["epochCount"] == 3
    assert bot.mutable["displayName"] == "Costs $5: gold"


def test_merge_keys_and_anchors_are_plain_yaml(load_files):
    manifest = VERTEX.replace("  hyperParameters: {epochCount: 4, adapterSize: 4, learningRateMultiplier: 1.0}\n",
                              "  hyperParameters:\n    <<: &hp {epochCount: 4, adapterSize: 4}\n    epochCount: 5\n")
    bot = load_files({"bot.yaml": manifest}).resources["support-bot"]

    assert bot.immutable["hyperParameters"] == {"epochCount": 5, "adapterSize": "ADAPTER_SIZE_FOUR"}


def test_directory_is_read_recursively_skipping_hidden_directories(load_files):
    other = VERTEX.replace("name: support-bot", "name: other-bot")
    state = load_files({"a/b/one.yml": VERTEX, "two.yaml": f"---\n{other}---\n",
                        ".github/workflows/ci.yaml": "on: push\n", "notes.txt": "not yaml"})

    assert sorted(state.resources) == ["other-bot", "support-bot"]


def test_a_symlinked_directory_is_not_entered(tmp_path: Path):
    """As os.walk(followlinks=False) walks (files.manifest_files walks with scandir): a symlinked directory is not
    entered, even one pointing inside the root."""
    root = tmp_path / "repo"
    (root / "real").mkdir(parents=True)
    (root / "real" / "bot.yaml").write_text(VERTEX)
    (root / "linked").symlink_to(root / "real")  # would load support-bot twice: a duplicate name
    (root / "z.yaml").write_text(VERTEX.replace("name: support-bot", "name: other-bot"))
    state = manifest.load(root, env={})

    assert sorted(state.resources) == ["other-bot", "support-bot"]
    assert state.resources["support-bot"].source == f"{root / 'real' / 'bot.yaml'}:1"


@pytest.mark.parametrize("given, shown", [(".", "a/bot.yaml"), ("./", "a/bot.yaml"), ("a", "a/bot.yaml"),
                                          ("./a/", "a/bot.yaml"), ("a/../a", "a/../a/bot.yaml")])
def test_a_file_is_named_as_pathlib_spells_it_whatever_the_spelling_of_the_path_given(tmp_path: Path, monkeypatch,
                                                                                          given, shown):
    """The walk joins strings (no Path per file): `./`, a trailing slash or `..` still give the names a Path would."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bot.yaml").write_text(VERTEX)
    monkeypatch.chdir(tmp_path)
    assert manifest.load(given, env={}).resources["support-bot"].source == f"{shown}:1"


def test_empty_directory_is_valid_with_a_warning(tmp_path: Path):
    state = manifest.load(tmp_path, env={})

    assert state.resources == {}
    assert [w.message for w in state.warnings] == ["no manifests (*.yaml, *.yml) found"]


def test_missing_path_is_an_error(tmp_path: Path):
    with pytest.raises(ManifestError) as raised:
        manifest.load(tmp_path / "nope", env={})

    assert errors_of(raised) == ["no such file or directory"]


def test_examples_file_symlinked_outside_the_root_is_refused(tmp_path: Path, write):
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"textInput": "1", "output": "2"}\n')
    root = tmp_path / "repo"
    root.mkdir()
    (root / "data.jsonl").symlink_to(outside)
    (root / "bot.yaml").write_text(GEMINI.split("    examples:")[0] + "    examples: data.jsonl\n")

    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={})

    assert errors_of(raised) == ["examples file 'data.jsonl' resolves outside the manifest root; "
                                 "keep training data inside the repository"]


def test_manifest_symlinked_outside_the_root_is_refused(tmp_path: Path):
    (tmp_path / "elsewhere.yaml").write_text(VERTEX)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "bot.yaml").symlink_to(tmp_path / "elsewhere.yaml")

    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={})

    assert errors_of(raised) == [f"resolves outside the manifest root {root}"]


@pytest.mark.parametrize(("leads_to", "read"), [("outside", False), ("inside", True)])
def test_a_file_the_walk_found_plain_that_is_a_link_by_the_time_it_is_read_is_checked_as_one(tmp_path, leads_to, read):
    """read_text(plain=True) opens without following links: a link made since the walk is resolved and checked."""
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    target = tmp_path / "elsewhere.yaml" if leads_to == "outside" else root / "sub" / "real.yaml"
    target.write_text(VERTEX)
    (root / "bot.yaml").symlink_to(target)
    diagnostics = Diagnostics()
    text = read_text(root / "bot.yaml", "bot.yaml", MAX_MANIFEST_BYTES, root, diagnostics, plain=True)
    assert (text == VERTEX, [d.message for d in diagnostics.items]) == (
        (True, []) if read else (False, [f"resolves outside the manifest root {root}"]))


def test_oversized_file_is_refused(load_files):
    with pytest.raises(ManifestError) as raised:
        load_files({"big.yaml": VERTEX + "#" * MAX_MANIFEST_BYTES})

    assert errors_of(raised) == ["file is larger than 1024 KiB; refusing to read it"]


def test_every_problem_in_every_file_is_reported_in_one_run(load_files):
    broken_vertex = VERTEX.replace("epochCount: 4", "epochCount: 0")
    broken_gemini = GEMINI.replace("temperature: 0.2", "temperature: 3")
    with pytest.raises(ManifestError) as raised:
        load_files({"a.yaml": broken_vertex, "b.yaml": broken_gemini, "c.yaml": "key: [unclosed\n"})

    assert [os.path.basename(d.path) for d in raised.value.diagnostics] == ["a.yaml", "b.yaml", "c.yaml"]
