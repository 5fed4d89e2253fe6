"""reconciler.yaml kept between runs (reconciler/manifest/config.py): read clean once, it is neither parsed nor
validated again while its text, the workspace and the ${VAR}s it read are unchanged, so that `status` and `wait`
import neither YAML nor pydantic; what it names on disk (the lock file) is checked on every read, and a file with
any diagnostic or a credential in it is never kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import manifest, pickles
from reconciler.errors import ManifestError
from tests.testing.manifests import config


def _root(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    (root / "reconciler.yaml").write_text(text)
    return root


@pytest.mark.parametrize("change, parsed_again", [
    # (what changes between two reads of the root, whether reconciler.yaml is parsed again)
    ("nothing", False),
    ("text", True),
    ("variable", True),          # a ${VAR} it read has another value
    ("other variable", False),   # one it did not read
    ("workspace", True),
    ("code", True),
    ("off", True),
])
def test_what_parses_reconciler_yaml_again(tmp_path, cache_dir, parsed, monkeypatch, change, parsed_again):
    root = _root(tmp_path, config("demo-project") + "stack: ${TEAM}-bots\n")
    env = {"TEAM": "red", "OTHER": "1"}
    first = manifest.load_config(root, env=env)
    assert parsed == ["reconciler.yaml"]
    parsed.clear()
    if change == "text":
        (root / "reconciler.yaml").write_text(config("another-project") + "stack: ${TEAM}-bots\n")
    elif change == "variable":
        env = {**env, "TEAM": "blue"}
    elif change == "other variable":
        env = {**env, "OTHER": "2"}
    elif change == "workspace":
        env = {**env, "RECONCILER_WORKSPACE": "staging"}
    elif change == "code":
        monkeypatch.setattr(pickles, "_CODE", "another version of reconciler")
    elif change == "off":
        monkeypatch.setenv(pickles.SWITCH, "off")
    second = manifest.load_config(root, env=env)
    assert (parsed == ["reconciler.yaml"]) is parsed_again
    if not parsed_again:
        assert second.config == first.config
    assert second.config.stack == f"{env['TEAM']}-bots"
    assert second.config.defaults.project == ("another-project" if change == "text" else "demo-project")


def test_the_lock_file_it_names_is_checked_on_disk_on_every_read_and_located(tmp_path, cache_dir, parsed):
    root = _root(tmp_path, config("demo-project", lock_file="state/reconciler.lock"))
    (root / "state").mkdir()
    manifest.load_config(root, env={})
    (root / "state").rmdir()
    (root / "state").symlink_to(tmp_path)  # now a directory out of the root
    parsed.clear()
    with pytest.raises(ManifestError) as refused:
        manifest.load_config(root, env={})
    [problem] = [d for d in refused.value.diagnostics if "lockFile" in d.message]
    assert (problem.line, "outside the manifest root" in problem.message) == (4, True)  # where it says it
    assert parsed == ["reconciler.yaml"]  # composed only to say where


@pytest.mark.parametrize("text", [
    config("demo-project") + "unknown: 1\n",   # an error
    "defaults: {project: ${UNSET_PROJECT}}\n",  # an unset variable
])
def test_a_reconciler_yaml_with_a_diagnostic_is_never_kept(tmp_path, cache_dir, parsed, text):
    root = _root(tmp_path, text)
    for _ in range(2):
        with pytest.raises(ManifestError):
            manifest.load_config(root, env={})
    assert parsed == ["reconciler.yaml", "reconciler.yaml"]
    assert not list(cache_dir.glob("config-*"))


def test_a_reconciler_yaml_holding_a_credential_is_never_written_to_the_cache(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.not-for-any-disk-0123456789")
    root = _root(tmp_path, config("demo-project") + "stack: ya29.not-for-any-disk-0123456789\n")
    with pytest.raises(ManifestError):  # not a valid stack name; and said without the token
        manifest.load_config(root, env={})
    root = _root(tmp_path, config("demo-project") + "# ya29.not-for-any-disk-0123456789\n")
    manifest.load_config(root, env={})
    assert not list(cache_dir.glob("config-*"))


def test_status_reads_a_kept_reconciler_yaml_without_importing_yaml_or_pydantic(tmp_path, imports_twice):
    root = _root(tmp_path, config("demo-project"))
    runs = imports_twice("from reconciler.manifest import load_config; import reconciler.operations; "
                         "import reconciler.cli.main; import reconciler.render; "
                         f"print(load_config({str(root)!r}).config.defaults.project, end=' ')")
    assert runs == ["demo-project ['pydantic', 'yaml']\n", "demo-project []\n"]
