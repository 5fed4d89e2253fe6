"""Errors with the cause first: a table of trees and the complete, ordered list of errors each must give.

One unset variable is one error however many values use it; a broken reconciler.yaml default is one error at
reconciler.yaml naming the manifests it breaks (never a "missing field" in each); the same message from many
files is one line with a count; reconciler.yaml's problems come before the manifests'; and "did you mean"
never suggests the manifest that holds the reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import manifest
from reconciler.errors import ManifestError
from tests.testing.manifests import VERTEX, config, vertex_manifest, write_files

PROJECT_FROM = "defaults:\n  project: ${GCP_PROJECT}\n  location: us-central1\n"
BAD_LOCATION = "defaults:\n  project: demo-project\n  location: US Central\n"
UNSET = "environment variable 'GCP_PROJECT' is not set"
REMEDY = "set it or write ${GCP_PROJECT:-default}"
BAD_BUCKET = ("spec.training.dataset: invalid bucket name 'Bad_Bucket': 3-63 lowercase letters, digits, '-', '_' "
              "or '.', starting and ending with a letter or digit")
LOCATION_MESSAGE = "defaults.location: 'US Central' is not a Vertex AI location such as us-central1"


def bots(count: int, **kwargs) -> dict[str, str]:
    return {f"bot-{i:02d}.yaml": vertex_manifest(f"bot-{i:02d}", **kwargs) for i in range(count)}


def upstream_typo(name: str, reference: str) -> str:
    return vertex_manifest(name, from_manifest=reference, display=f"{name} continued")


CASES = [
    # name, files -> every error, in order, as `path:line:col: message` (count when grouped)
    ("an unset variable in a default: one error, no 'missing location' or 'missing project'",
     {"reconciler.yaml": PROJECT_FROM, **bots(26)},
     [f"reconciler.yaml:2:12: environment variable 'GCP_PROJECT' is not set (used in reconciler.yaml:2 and 26 "
      f"manifests); {REMEDY} [27]"]),
    ("an unset variable in many manifests: one error at its first use",
     {"reconciler.yaml": config("demo-project"),
      **{f"m{i}.yaml": VERTEX.replace("demo-project", "${GCP_PROJECT}").replace("name: support-bot",
                                                                                   f"name: m{i}")
         for i in range(3)}},
     [f"m0.yaml:8:12: {UNSET} (used in m0.yaml:8 and 2 manifests); {REMEDY} [3]"]),
    ("an unset variable used once: the message as it always was",
     {"bot.yaml": VERTEX.replace("demo-project", "${GCP_PROJECT}")},
     [f"bot.yaml:8:12: {UNSET}; {REMEDY}"]),
    ("a bad default: one error at reconciler.yaml naming the manifests it breaks, first",
     {"reconciler.yaml": BAD_LOCATION, **bots(5), "zz.yaml": VERTEX.replace("kind: TunedModel", "kind: Tuned")},
     [f"reconciler.yaml:3:13: {LOCATION_MESSAGE} (the same error in 5 manifests: bot-00.yaml:4, bot-01.yaml:4, "
      "bot-02.yaml:4 and 2 more) [6]",
      "zz.yaml:2:7: kind: invalid value 'Tuned'; expected 'TunedModel'; did you mean 'TunedModel'?"]),
    ("a bad default no manifest leaves to it: a plain error",
     {"reconciler.yaml": BAD_LOCATION, "bot.yaml": VERTEX},
     [f"reconciler.yaml:3:13: {LOCATION_MESSAGE}"]),
    ("an unknown field in reconciler.yaml: its defaults still apply, one error",
     {"reconciler.yaml": config("demo-project") + "stak: acme\n", **bots(3)},
     ["reconciler.yaml:5:1: unknown field 'stak'; did you mean 'stack'?"]),
    ("reconciler.yaml's problem before the manifests' (a-… sorts before r-…)",
     {"reconciler.yaml": config("demo-project") + "stak: acme\n",
      "a.yaml": VERTEX.replace("kind: TunedModel", "kind: Tuned")},
     ["reconciler.yaml:5:1: unknown field 'stak'; did you mean 'stack'?",
      "a.yaml:2:7: kind: invalid value 'Tuned'; expected 'TunedModel'; did you mean 'TunedModel'?"]),
    ("the same message from 4 files: one line with a count",
     {"reconciler.yaml": config("demo-project"), **bots(4, dataset="gs://Bad_Bucket/x.jsonl")},
     [f"bot-00.yaml:8:23: {BAD_BUCKET} (the same error in 4 manifests: bot-00.yaml:8, bot-01.yaml:8, "
      "bot-02.yaml:8 and 1 more) [4]"]),
    ("the same message from 3 files: each on its own line",
     {"reconciler.yaml": config("demo-project"), **bots(3, dataset="gs://Bad_Bucket/x.jsonl")},
     [f"bot-0{i}.yaml:8:23: {BAD_BUCKET}" for i in range(3)]),
    ("did you mean: never the manifest that holds the reference",
     {"reconciler.yaml": config("demo-project"), "de.yaml": upstream_typo("support-bot-de", "support-bot-dee")},
     ["de.yaml:6:33: fromManifest 'support-bot-dee' does not match any manifest"]),
    ("did you mean: another manifest, when one is close",
     {"reconciler.yaml": config("demo-project"), "de.yaml": upstream_typo("support-bot-de", "support-bot-dee"),
      "base.yaml": vertex_manifest("support-bot")},
     ["de.yaml:6:33: fromManifest 'support-bot-dee' does not match any manifest; did you mean 'support-bot'?"]),
]


def shown(root: Path, diagnostic) -> str:
    prefix = f"{root}/"
    count = f" [{diagnostic.count}]" if diagnostic.count > 1 else ""
    return f"{diagnostic}".replace(prefix, "") + count


@pytest.mark.parametrize(("name", "files", "expected"), CASES, ids=[c[0] for c in CASES])
def test_errors_cause_first(tmp_path, name, files, expected):
    root = write_files(tmp_path, {".git/HEAD": "ref: refs/heads/main", **files})
    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={})
    assert [shown(root, d) for d in raised.value.diagnostics if d.severity == "error"] == expected


def test_one_bad_default_in_a_thousand_manifests_is_one_error_first(tmp_path):
    root = write_files(tmp_path, {".git/HEAD": "", "reconciler.yaml": BAD_LOCATION})
    for i in range(1000):
        (root / f"m{i:04d}.yaml").write_text(vertex_manifest(f"m{i:04d}"))
    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={})
    [only] = raised.value.diagnostics
    assert (Path(only.path).name, only.line, only.col, only.count) == ("reconciler.yaml", 3, 13, 1001)
    assert only.message.endswith("(the same error in 1,000 manifests: "
                                 f"{root}/m0000.yaml:4, {root}/m0001.yaml:4, {root}/m0002.yaml:4 and 997 more)")
    assert only.to_json()["locations"][:2] == [f"{root}/reconciler.yaml:3:13", f"{root}/m0000.yaml:4:1"]


def test_a_grouped_diagnostic_keeps_the_json_shape(tmp_path):
    root = write_files(tmp_path, {".git/HEAD": "", "reconciler.yaml": PROJECT_FROM, **bots(2)})
    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={})
    [only] = [d.to_json() for d in raised.value.diagnostics]
    assert set(only) == {"path", "line", "col", "message", "severity", "count", "locations"}
    assert only["count"] == 3 and only["locations"][0] == f"{root}/reconciler.yaml:2:12"


def test_an_empty_variable_is_not_a_silent_empty_project(tmp_path):
    """Set but empty: the project is '' and refused, never a default scope."""
    root = write_files(tmp_path, {".git/HEAD": "", "reconciler.yaml": PROJECT_FROM, **bots(1)})
    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={"GCP_PROJECT": ""})
    assert "defaults.project" in str(raised.value)
