"""Untrusted text in diagnostics (file names, quoted values) is shown escaped, never interpreted by a terminal
or CI log; `--json` keeps it exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import Diagnostic, ManifestError
from tests.testing import cli

ESC_NAME = "bot\x1b[2J\x1b]0;pwned\x07.yaml"


@pytest.mark.parametrize("raw, shown", [
    ("plain.yaml", "plain.yaml"),
    ("a\x1bb", "a\\x1bb"),
    ("tab\tnew\nline\rcr\x00nul\x7fdel\x9bcsi", "tab\\x09new\\x0aline\\x0dcr\\x00nul\\x7fdel\\x9bcsi"),
    ("rtl\u202eoverride\u2066isolate\u200f", "rtl\\u202eoverride\\u2066isolate\\u200f"),
    ("ünïcödé ✓ and a \\ backslash", "ünïcödé ✓ and a \\ backslash"),
])
def test_diagnostic_text_escapes_control_characters(raw, shown):
    diagnostic = Diagnostic(f"dir/{raw}", 3, 4, f"unknown field {raw!s}", "warning")
    assert str(diagnostic) == f"dir/{shown}:3:4: warning: unknown field {shown}"
    assert diagnostic.to_json()["path"] == f"dir/{raw}"  # JSON stays exact
    assert str(Diagnostic(raw, 0, 0, "m")) == f"{shown}: m"


def test_a_manifest_error_is_one_line_per_diagnostic():
    err = ManifestError([Diagnostic("a\nb.yaml", 1, 1, "x"), Diagnostic("c.yaml", 2, 1, "y\nz")])
    assert str(err) == "a\\x0ab.yaml:1:1: x\nc.yaml:2:1: y\\x0az"


def test_validate_escapes_an_esc_in_a_file_name(tmp_path: Path):
    (tmp_path / ESC_NAME).write_text("spec: [unclosed\n")

    result = cli.run("validate", str(tmp_path), env=cli.bare_environment(), timeout=60)

    assert result.code == 1
    assert "\x1b" not in result.err and "\x07" not in result.err
    assert result.err.splitlines() == [
        f"{tmp_path}/bot\\x1b[2J\\x1b]0;pwned\\x07.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence started at line 1, column 7)",
        "1 error"]


def test_validate_json_keeps_the_file_name_exact(tmp_path: Path):
    (tmp_path / ESC_NAME).write_text("spec: [unclosed\n")

    result = cli.run("validate", str(tmp_path), "--json", env=cli.bare_environment(), timeout=60)

    assert result.code == 1
    (diagnostic,) = json.loads(result.out)["diagnostics"]
    assert diagnostic["path"] == f"{tmp_path}/{ESC_NAME}"
