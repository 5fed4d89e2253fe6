"""Commands on part of a manifest root, and errors with the cause first, through the real CLI.

`plan manifests/gemini` once used manifests/gemini as a root of its own: another lock, no shared defaults, and a
plan adopting everything. A sub-directory or a file of a root now finds the root's reconciler.yaml upward, says
so on stderr, and plans only its manifests against the root's lock; when it cannot, it refuses and names the root.
"""

from __future__ import annotations

import json

from tests.testing import cli as reconciler_cli
from tests.testing.manifests import VERTEX, vertex_manifest, write_files

GEMINI_NAMES = {"math-bot", "number-generator"}


def names_and_actions(result) -> dict[str, str]:
    return {c["name"]: c["action"] for c in json.loads(result.stdout)["changes"]}


def test_a_sub_directory_plans_with_the_roots_lock_and_only_its_manifests(cli):
    applied = cli.run("apply", "manifests", "--yes")
    assert applied.code == 0, applied.stderr + applied.stdout
    lock_before = (cli.cwd / "manifests" / "reconciler.lock").read_text()
    (cli.cwd / "manifests" / "vertex" / "support-bot-tier2.yaml").unlink()  # a removal only the root may plan
    mutations = len(cli.mutations())

    planned = cli.run("plan", "manifests/gemini", "--json", "--detailed-exitcode")

    assert planned.code == 0, planned.stderr  # in sync: nothing adopted, trained or removed
    assert names_and_actions(planned) == {name: "noop" for name in GEMINI_NAMES}
    assert planned.stderr.splitlines()[0] == (
        "using root manifests/ (reconciler.yaml; lock manifests/reconciler.lock); planning 2 of 4 manifests under "
        "manifests/gemini; 1 removed manifest(s) the lock still records are left alone (removals are planned only "
        "from the root)")
    assert not list((cli.cwd / "manifests" / "gemini").glob("*.lock*")), "no lock of its own"
    assert (cli.cwd / "manifests" / "reconciler.lock").read_text() == lock_before
    assert len(cli.mutations()) == mutations
    from_root = cli.run("plan", "manifests", "--json")
    assert names_and_actions(from_root)["support-bot-tier2"] in ("cancel", "delete")  # the root still plans it


def test_a_single_file_applies_with_the_shared_defaults(cli):
    applied = cli.run("apply", "manifests/vertex/support-bot.yaml", "--yes")
    assert applied.code == 0, applied.stderr + applied.stdout
    assert "planning" not in applied.stderr and "applying 1 of 5 manifests" in applied.stderr
    lock = json.loads((cli.cwd / "manifests" / "reconciler.lock").read_text())
    assert set(lock["entries"]) == {"support-bot"}
    assert lock["entries"]["support-bot"]["project"] == "demo-project"  # reconciler.yaml's default


def test_validate_a_single_file_finds_the_shared_defaults(cli):
    result = cli.run("validate", "manifests/vertex/support-bot.yaml", endpoint=False)
    assert result.code == 0, result.stderr
    assert result.stdout == "1 manifest valid (1 vertex)\n"
    assert result.stderr.startswith("using root manifests/ (reconciler.yaml; lock manifests/reconciler.lock); "
                                    "validating 1 of 5 manifests under manifests/vertex/support-bot.yaml")


def test_a_sub_directory_of_a_lock_without_reconciler_yaml_is_refused_naming_the_root(cli):
    (cli.cwd / "manifests" / "reconciler.yaml").unlink()
    (cli.cwd / "manifests" / "reconciler.lock").write_text("{}")

    result = cli.run("plan", "manifests/gemini")

    assert result.code == 1
    assert "refusing to use manifests/gemini as a manifest root" in result.stderr
    assert "manifests/reconciler.lock" in result.stderr and "Run on manifests/" in result.stderr
    assert not list((cli.cwd / "manifests" / "gemini").glob("*.lock*")) and cli.mutations() == []


def test_an_empty_sub_directory_plans_nothing_rather_than_everything(cli):
    (cli.cwd / "manifests" / "empty").mkdir()
    result = cli.run("plan", "manifests/empty")
    assert result.code == 1
    assert "no manifests under the path given: nothing to plan" in result.stderr


def test_one_bad_default_in_a_thousand_manifests_is_one_line_first(tmp_path):
    root = tmp_path / "models"
    write_files(root, {"reconciler.yaml": "defaults:\n  project: demo-project\n  location: US Central\n"})
    for i in range(1000):
        (root / f"m{i:04d}.yaml").write_text(vertex_manifest(f"m{i:04d}"))

    result = reconciler_cli.run("validate", "models", cwd=tmp_path, env=reconciler_cli.bare_environment())

    assert result.code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("models/reconciler.yaml:3:13: defaults.location: 'US Central' is not a Vertex AI "
                               "location")
    assert lines[0].endswith("(the same error in 1,000 manifests: models/m0000.yaml:4, models/m0001.yaml:4, "
                             "models/m0002.yaml:4 and 997 more)")
    assert lines[1:] == ["1 error"]
    as_json = reconciler_cli.run("validate", "models", "--json", cwd=tmp_path, env=reconciler_cli.bare_environment())
    [diagnostic] = json.loads(as_json.stdout)["diagnostics"]
    assert diagnostic["count"] == 1001 and len(diagnostic["locations"]) == 1001


def test_an_unset_variable_is_one_error(tmp_path):
    files = {"reconciler.yaml": "defaults:\n  project: ${GCP_PROJECT}\n  location: us-central1\n"}
    files |= {f"bot-{i:02d}.yaml": vertex_manifest(f"bot-{i:02d}") for i in range(26)}
    write_files(tmp_path / "models", files)

    result = reconciler_cli.run("validate", "models/bot-03.yaml", cwd=tmp_path, env=reconciler_cli.bare_environment())

    assert result.code == 1
    assert result.stderr.splitlines() == [
        "models/reconciler.yaml:2:12: environment variable 'GCP_PROJECT' is not set (used in "
        "models/reconciler.yaml:2 and 26 manifests); set it or write ${GCP_PROJECT:-default}",
        "1 error"]


def test_did_you_mean_never_names_the_manifest_holding_the_reference(tmp_path):
    dependent = VERTEX.replace("name: support-bot", "name: support-bot-de").replace(
        "baseModel: gemini-2.5-flash", "preTunedModel: {fromManifest: support-bot-dee}")
    write_files(tmp_path / "models", {"de.yaml": dependent})

    result = reconciler_cli.run("validate", "models", cwd=tmp_path, env=reconciler_cli.bare_environment())

    assert result.code == 1
    assert "fromManifest 'support-bot-dee' does not match any manifest" in result.stderr
    assert "did you mean" not in result.stderr


def test_a_target_outside_the_sub_directory_is_refused(cli):
    result = cli.run("plan", "manifests/gemini", "--target", "support-bot")
    assert result.code == 1
    assert "--target support-bot: not under the path given (root manifests)" in result.stderr
    inside = cli.run("plan", "manifests/gemini", "--target", "math-bot", "--json")
    assert inside.code == 0 and names_and_actions(inside) == {"math-bot": "train"}
