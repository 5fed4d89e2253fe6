"""Secrets never leave: a manifest value that is, or contains, a credential reconciler calls the APIs with is
refused at validate time (offline, before any API call), by variable name and by value, in manifests,
reconciler.yaml and JSONL example files; and no diagnostic ever quotes the credential."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.clients import auth
from reconciler.errors import ManifestError
from reconciler.manifest.diagnostics import CREDENTIAL_VARIABLES
from tests.testing import cli
from tests.testing.manifests import GEMINI, VERTEX, write_files

KEY = "AIzaSyD-not-a-real-key-0123456789abcdef"
TOKEN = "ya29.a0-not-a-real-oauth-token-0123456789"
CREDENTIALS = {"GEMINI_API_KEY": KEY, "GOOGLE_OAUTH_ACCESS_TOKEN": TOKEN}


def errors_of(root: Path, env: dict[str, str]) -> list[str]:
    from reconciler import manifest

    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env=env)
    reported = [str(d) for d in raised.value.diagnostics] + [json.dumps(d.to_json()) for d in raised.value.diagnostics]
    for text in reported:
        assert KEY not in text and TOKEN not in text
    return [f"{Path(d.path).relative_to(root)}:{d.line}:{d.col}: {d.message}"
            for d in raised.value.diagnostics if d.severity == "error"]


def test_the_credential_variables_are_those_the_clients_read():
    assert set(CREDENTIAL_VARIABLES) == {auth.TOKEN_ENV, *auth.API_KEY_ENVS}


@pytest.mark.parametrize("variable", CREDENTIAL_VARIABLES)
@pytest.mark.parametrize("reference", ["${%s}", "prefix ${%s} suffix", "${%s:-fallback}"])
def test_a_reference_to_a_credential_variable_is_refused_set_or_not(tmp_path, variable, reference):
    root = write_files(tmp_path, {"bot.yaml": GEMINI.replace("displayName: math-bot",
                                                             f'displayName: "{reference % variable}"')})
    for env in ({variable: KEY}, {}):
        (error,) = errors_of(root, env)
        assert error.startswith(f"bot.yaml:8:16: this value references ${{{variable}}}, a credential reconciler "
                                "calls the APIs with;")
        assert error.endswith("remove the reference")


def test_an_escaped_dollar_is_not_a_reference(tmp_path):
    from reconciler import manifest

    root = write_files(tmp_path, {"bot.yaml": GEMINI.replace("displayName: math-bot",
                                                             'description: "set $${GEMINI_API_KEY} first"')})
    (resource,) = manifest.load(root, env={"GEMINI_API_KEY": KEY}).resources.values()
    assert resource.mutable["description"] == "set ${GEMINI_API_KEY} first"


SUPPORT_DATASET = "gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl"


@pytest.mark.parametrize("edit, expected", [
    (("displayName: Support bot\n", f"displayName: Support bot\n  description: copied {TOKEN} by mistake\n"),
     "bot.yaml:12:16: this value contains the value of GOOGLE_OAUTH_ACCESS_TOKEN"),
    (("{team: support}", f"{{team: {KEY}}}"), "bot.yaml:5:18: this value contains the value of GEMINI_API_KEY"),
    (("{team: support}", f"{{{KEY}: x}}"), "bot.yaml:5:12: this key contains the value of GEMINI_API_KEY"),
    ((SUPPORT_DATASET, f"gs://bucket/{KEY}.jsonl"), "bot.yaml:13:14: this value contains the value of GEMINI_API_KEY"),
], ids=["description", "label value", "label key", "dataset"])
def test_a_literal_copy_of_a_credential_is_refused_anywhere(tmp_path, edit, expected):
    root = write_files(tmp_path, {"bot.yaml": VERTEX.replace(*edit)})
    (error,) = errors_of(root, CREDENTIALS)
    assert error.startswith(f"{expected}, a credential reconciler calls the APIs with;")
    assert error.endswith("remove it, and rotate the credential if this file was ever committed or shared")


def test_a_value_interpolated_from_another_variable_holding_a_credential_is_refused(tmp_path):
    root = write_files(tmp_path, {"bot.yaml": GEMINI.replace("displayName: math-bot", "displayName: ${COPY}")})
    (error,) = errors_of(root, {**CREDENTIALS, "COPY": KEY})
    assert error.startswith("bot.yaml:8:16: this value contains the value of GEMINI_API_KEY")


def test_a_credential_in_reconciler_yaml_is_refused(tmp_path):
    root = write_files(tmp_path, {
        "reconciler.yaml": f"defaults:\n  project: demo-project\n  labels: {{note: {KEY}}}\n",
        "bot.yaml": VERTEX})
    (error,) = errors_of(root, CREDENTIALS)
    assert error.startswith("reconciler.yaml:3:18: this value contains the value of GEMINI_API_KEY")


def test_a_credential_in_a_jsonl_examples_file_is_refused_at_its_row(tmp_path):
    rows = [{"textInput": f"q{i}", "output": f"a{i}"} for i in range(3)]
    rows[1]["output"] = f"the key is {KEY}"
    root = write_files(tmp_path, {
        "bot.yaml": GEMINI.replace('''examples:
      - {textInput: "2+2?", output: "4"}
      - {textInput: "3*3?", output: "9"}''', "examples: data/rows.jsonl"),
        "data/rows.jsonl": "".join(json.dumps(r) + "\n" for r in rows)})
    (error,) = errors_of(root, CREDENTIALS)
    assert error.startswith("data/rows.jsonl:2:43: row 2 contains the value of GEMINI_API_KEY, a credential")


def test_short_credentials_are_not_matched_by_value(tmp_path):
    """The emulator accepts any key (`GEMINI_API_KEY=x`): a value that short is everywhere, and no secret."""
    from reconciler import manifest

    root = write_files(tmp_path, {"bot.yaml": GEMINI})
    assert manifest.load(root, env={"GEMINI_API_KEY": "x", "GOOGLE_API_KEY": "math"}).resources


@pytest.mark.parametrize("text, at", [
    (f"spec: *{KEY}\n", "bot.yaml:1:7"),                                   # quoted by the YAML parser
    (f"a: 1\na: 2\n{KEY}: 1\n{KEY}: 2\n", None),                           # duplicate keys quote the key
    (VERTEX.replace("epochCount: 4", f"epochCount: {KEY}"), "bot.yaml:14:33"),  # a pydantic type error
    (VERTEX.replace("displayName: Support bot", f"displayName: ${{{KEY[:10]} }}"), "bot.yaml:11:16"),
])
def test_no_diagnostic_quotes_a_credential(tmp_path, monkeypatch, text, at):
    env = {**CREDENTIALS, "GOOGLE_API_KEY": KEY[:10]}
    for name, value in env.items():  # as the command line runs: the credentials of its own environment
        monkeypatch.setenv(name, value)
    root = write_files(tmp_path, {"bot.yaml": text})
    errors = errors_of(root, env)  # also asserts that no diagnostic holds a credential
    if at:
        assert any(e.startswith(at) for e in errors), errors


# ---------------------------------------------------------------------------------------- the command line


def gemini_root(tmp_path: Path, display: str, jsonl: str | None = None) -> Path:
    bot = GEMINI.replace("displayName: math-bot", f"displayName: {display}")
    files = {"bot.yaml": bot}
    if jsonl is not None:
        files["bot.yaml"] = bot.replace('''examples:
      - {textInput: "2+2?", output: "4"}
      - {textInput: "3*3?", output: "9"}''', "examples: rows.jsonl")
        files["rows.jsonl"] = jsonl
    return write_files(tmp_path, files)


def assert_refused(result: cli.Result, located: str, secret: str) -> None:
    assert result.code == 1, result
    assert located in result.err, result
    assert secret not in result.out + result.err
    assert "Traceback" not in result.err


def test_validate_refuses_an_interpolated_api_key_without_printing_it(tmp_path):
    root = gemini_root(tmp_path, '"${GEMINI_API_KEY}"')
    env = cli.bare_environment({"GEMINI_API_KEY": KEY})

    result = cli.run("validate", str(root), env=env)
    assert_refused(result, f"{root}/bot.yaml:8:16: this value references ${{GEMINI_API_KEY}}, a credential", KEY)
    assert result.err.splitlines()[-1] == "1 error, 1 warning"  # and: only 2 examples

    result = cli.run("validate", str(root), "--json", env=env)
    assert result.code == 1 and KEY not in result.out
    (diagnostic,) = [d for d in json.loads(result.out)["diagnostics"] if d["severity"] == "error"]
    assert (diagnostic["line"], diagnostic["col"]) == (8, 16)


@pytest.mark.parametrize("command", [("plan",), ("plan", "--markdown"), ("apply", "--yes")])
def test_plan_and_apply_stop_before_any_api_call(tmp_path, command):
    root = gemini_root(tmp_path, "${GEMINI_API_KEY}")
    # Nothing listens at the endpoint: reaching it would be a transport error, not the manifest's.
    env = cli.environment({"GEMINI_API_KEY": KEY, "RECONCILER_API_ENDPOINT": "http://127.0.0.1:9"})

    result = cli.run(*command, str(root), env=env, cwd=tmp_path)

    assert_refused(result, f"{root}/bot.yaml:8:16: this value references ${{GEMINI_API_KEY}}", KEY)
    assert not (tmp_path / "reconciler.lock").exists()


def test_validate_refuses_a_literal_token_in_a_jsonl_examples_file(tmp_path):
    jsonl = '{"textInput": "a", "output": "b"}\n' + json.dumps({"textInput": f"auth {TOKEN}", "output": "c"}) + "\n"
    root = gemini_root(tmp_path, "math-bot", jsonl)

    result = cli.run("validate", str(root), env=cli.bare_environment({"GOOGLE_OAUTH_ACCESS_TOKEN": TOKEN}))

    assert_refused(result, f"{root}/rows.jsonl:2:21: row 2 contains the value of GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
