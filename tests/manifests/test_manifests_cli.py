"""`reconciler validate` and `reconciler schema` as a user runs them: exit codes, streams, no tracebacks."""

import json
from pathlib import Path

import jsonschema

from tests.testing import ROOT, cli
from tests.testing.manifests import EXAMPLES, VERTEX


def reconciler(*args: str) -> cli.Result:
    """`reconciler ARGS` with nothing inherited: validate and schema need no credentials and no network."""
    return cli.run(*args, env=cli.bare_environment(), timeout=60)


def test_validate_examples_exits_0_with_a_summary():
    result = reconciler("validate", str(EXAMPLES))

    assert result.returncode == 0, result.stderr
    assert result.stdout == "5 manifests valid (3 vertex, 2 gemini-api), 2 warnings\n"
    assert result.stderr.count("warning: only") == 2


def test_validate_json_lists_resources():
    result = reconciler("validate", str(EXAMPLES), "--json")
    report = json.loads(result.stdout)

    assert result.returncode == 0
    assert report["valid"] is True
    assert [r["name"] for r in report["resources"]][:2] == ["math-bot", "number-generator"]
    assert {d["severity"] for d in report["diagnostics"]} == {"warning"}


def test_validate_broken_manifests_exits_1_with_every_diagnostic(tmp_path: Path):
    (tmp_path / "bot.yaml").write_text(VERTEX.replace("epochCount", "epochs").replace("team", "Team"))
    (tmp_path / "bad.yaml").write_text("spec: [unclosed\n")

    result = reconciler("validate", str(tmp_path))

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == "3 errors"
    assert lines[0].startswith(f"{tmp_path}/bad.yaml:2:1: invalid YAML")
    assert f"{tmp_path}/bot.yaml:14:21: unknown field 'epochs'; did you mean 'epochCount'?" in lines
    assert "Traceback" not in result.stderr


def test_validate_json_reports_diagnostics_when_invalid(tmp_path: Path):
    (tmp_path / "bot.yaml").write_bytes(b"\xff\xfe")

    result = reconciler("validate", str(tmp_path), "--json")
    report = json.loads(result.stdout)

    assert result.returncode == 1
    assert report == {"valid": False, "resources": [], "diagnostics": [
        {"path": f"{tmp_path}/bot.yaml", "line": 1, "col": 1, "severity": "error",
         "message": "not valid UTF-8 (byte 0xff); save the file as UTF-8"}]}


def test_validate_a_missing_path_exits_1(tmp_path: Path):
    result = reconciler("validate", str(tmp_path / "missing"))

    assert result.returncode == 1
    assert "no such file or directory" in result.stderr and "Traceback" not in result.stderr


def test_schema_prints_a_json_schema():
    result = reconciler("schema")

    assert result.returncode == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(result.stdout))


def test_the_committed_schema_json_is_what_reconciler_schema_prints():
    """manifests/ point editors at ../../schema.json; it must not drift from the models."""
    committed = json.loads((ROOT / "schema.json").read_text(encoding="utf-8"))
    assert committed == json.loads(reconciler("schema").stdout), "regenerate: reconciler schema > schema.json"
