"""Which manifest root a path belongs to, what it selects, and when it is refused: a table of decisions.

Each case writes a tree (a `.git/` at its top bounds the upward search, as a repository would), loads one path
of it, and states the root (whose reconciler.yaml and lock apply) and the names selected (None: the whole
root), or what the refusal says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import manifest
from reconciler.errors import ManifestError
from tests.testing.manifests import config, gemini_manifest, vertex_manifest, write_files

ROOT = {
    "models/reconciler.yaml": config("shared-project", "europe-west4"),
    "models/vertex/support-bot.yaml": vertex_manifest("support-bot"),
    "models/vertex/support-bot-de.yaml": vertex_manifest("support-bot-de", from_manifest="support-bot",
                                                          display="German support bot"),
    "models/gemini/math-bot.yaml": gemini_manifest("math-bot"),
    "models/gemini/notes.txt": "not a manifest",
    "models/empty/.keep": "",
}

DECISIONS = [
    # name, extra files (None: delete), path loaded -> root, selected names (None: all of them)
    ("the root itself", {}, "models", "models", None),
    ("a sub-directory: the root's defaults and lock, its manifests",
     {}, "models/gemini", "models", {"math-bot"}),
    ("a single file finds the shared defaults", {}, "models/vertex/support-bot.yaml", "models", {"support-bot"}),
    ("a dependent's file: its upstream is read from the root, not selected",
     {}, "models/vertex/support-bot-de.yaml", "models", {"support-bot-de"}),
    ("reconciler.yaml names the root", {}, "models/reconciler.yaml", "models", None),
    ("a directory without manifests selects nothing (never everything)", {}, "models/empty", "models", set()),
    ("the nearest reconciler.yaml wins: a nested root is a root",
     {"models/gemini/reconciler.yaml": config("other-project")}, "models/gemini", "models/gemini", None),
    ("no reconciler.yaml anywhere, no lock above: the path is its own root (as before)",
     {"models/reconciler.yaml": None}, "models/gemini", "models/gemini", None),
    ("no reconciler.yaml, a lock of its own: its own root, whatever is above",
     {"models/reconciler.yaml": None, "models/reconciler.lock": "{}", "models/gemini/reconciler.lock": "{}"},
     "models/gemini", "models/gemini", None),
    ("the search stops at the top of a repository (.git), which is still searched",
     {"outer/reconciler.yaml": config("outer-project"), "outer/repo/.git/HEAD": "ref: refs/heads/main",
      "outer/repo/bot.yaml": vertex_manifest("bot") + "  project: repo-project\n  location: us-central1\n"},
     "outer/repo", "outer/repo", None),
]

REFUSED = [
    # name, extra files (None: delete), path loaded -> what the refusal names
    ("no reconciler.yaml, but the directory above holds a lock: that is the root",
     {"models/reconciler.yaml": None, "models/reconciler.lock": "{}"}, "models/gemini",
     ["refusing to use models/gemini as a manifest root", "models/reconciler.lock", "Run on models/"]),
    ("a workspace's lock above counts too",
     {"models/reconciler.yaml": None, "models/reconciler.staging.lock": "{}"}, "models/vertex/support-bot.yaml",
     ["models/reconciler.staging.lock"]),
]


def _tree(tmp_path: Path, extra: dict) -> None:
    write_files(tmp_path, {".git/HEAD": "ref: refs/heads/main", **ROOT,
                           **{k: v for k, v in extra.items() if v is not None}})
    for name in (k for k, v in extra.items() if v is None):
        (tmp_path / name).unlink()


@pytest.mark.parametrize(("name", "extra", "path", "root", "selected"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_root_and_selection(tmp_path, monkeypatch, name, extra, path, root, selected):
    _tree(tmp_path, extra)
    monkeypatch.chdir(tmp_path)
    loaded = manifest.load(path, env={})
    assert loaded.config.root == Path(root)
    assert loaded.config.lock_path == Path(root) / "reconciler.lock"
    assert loaded.selected == (None if selected is None else frozenset(selected))


@pytest.mark.parametrize(("name", "extra", "path", "says"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_and_the_real_root_named(tmp_path, monkeypatch, name, extra, path, says):
    _tree(tmp_path, extra)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as raised:
        manifest.load(path, env={})
    [refusal] = raised.value.diagnostics
    assert refusal.path == path
    for text in says:
        assert text in refusal.message


def test_a_file_selected_uses_the_roots_defaults_and_sees_every_name(tmp_path, monkeypatch):
    _tree(tmp_path, {})
    monkeypatch.chdir(tmp_path)
    loaded = manifest.load("models/vertex/support-bot-de.yaml", env={})
    dependent = loaded.resources["support-bot-de"]
    assert (dependent.project, dependent.location) == ("shared-project", "europe-west4")
    assert dependent.depends_on == "support-bot" and "support-bot" in loaded.resources  # read, not selected
    assert set(loaded.resources) == {"support-bot", "support-bot-de", "math-bot"}


def test_a_relative_path_from_inside_the_root(tmp_path, monkeypatch):
    _tree(tmp_path, {})
    monkeypatch.chdir(tmp_path / "models" / "gemini")
    loaded = manifest.load(".", env={})
    assert loaded.config.root == Path("..") and loaded.selected == frozenset({"math-bot"})
    assert loaded.resources["math-bot"].source == "../gemini/math-bot.yaml:1"


def test_an_error_anywhere_in_the_root_fails_a_sub_path(tmp_path, monkeypatch):
    """The root is checked as a whole (names are unique across it): a sub-path never hides its errors."""
    _tree(tmp_path, {"models/vertex/broken.yaml": vertex_manifest("math-bot")})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as raised:
        manifest.load("models/gemini", env={})
    assert "duplicate name 'math-bot'" in str(raised.value)


def test_a_lock_a_sub_directory_once_wrote_as_its_own_root_is_named_and_not_used(tmp_path, monkeypatch):
    _tree(tmp_path, {"models/gemini/reconciler.lock": "{}"})
    monkeypatch.chdir(tmp_path)
    loaded = manifest.load("models/gemini", env={})
    assert loaded.config.lock_path == Path("models/reconciler.lock")
    [warning] = [w for w in loaded.warnings if w.path == "models/gemini/reconciler.lock"]
    assert warning.message.startswith("not used: this root's state is models/reconciler.lock")


def test_the_roots_own_lock_under_a_sub_directory_is_no_stray(tmp_path, monkeypatch):
    _tree(tmp_path, {"models/reconciler.yaml": config("p-roject", lock_file="gemini/reconciler.lock"),
                     "models/gemini/reconciler.lock": "{}"})
    monkeypatch.chdir(tmp_path)
    loaded = manifest.load("models/gemini", env={})
    assert loaded.config.lock_path == Path("models/gemini/reconciler.lock")
    assert not [w for w in loaded.warnings if w.path.endswith(".lock")]
