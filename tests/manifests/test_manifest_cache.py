"""The cache of validated manifest documents (reconciler/manifest/cache.py): a second load of unchanged files reads
and hashes them but parses nothing, and gives the same DesiredState; anything validation read that changed (the
text, a ${VAR}, reconciler.yaml's defaults, the code, a credential) reads the file again; a file with any
diagnostic is never cached; and a cache another user could have written is never unpickled."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from reconciler import manifest
from reconciler.errors import ManifestError
from reconciler import pickles
from reconciler.manifest import cache, loader
from tests.testing.manifests import VERTEX, config

ROOT_FILES = {"reconciler.yaml": config("demo-project"), "bot.yaml": VERTEX,
              "other.yaml": VERTEX.replace("support-bot", "other-bot").replace("  project: demo-project\n", "")}


def _root(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _digests(state) -> dict[str, tuple[str, str]]:
    return {name: (r.digest, r.source) for name, r in state.resources.items()}


def test_a_second_load_parses_nothing_and_gives_the_same_state(tmp_path, cache_dir, parsed):
    root = _root(tmp_path, ROOT_FILES)
    first = manifest.load(root, env={})
    assert sorted(parsed) == ["bot.yaml", "other.yaml", "reconciler.yaml"]
    parsed.clear()
    second = manifest.load(root, env={})
    assert parsed == []  # reconciler.yaml and the manifests came from their caches
    assert second.resources == first.resources and second.config == first.config
    assert sorted(p.name[:p.name.index("-")] for p in cache_dir.iterdir()) == ["config", "manifests"]


def test_a_load_from_the_cache_imports_neither_yaml_nor_pydantic(tmp_path, imports_twice):
    root = _root(tmp_path, ROOT_FILES)
    runs = imports_twice(f"from reconciler import manifest; print(len(manifest.load({str(root)!r}, env={{}}).resources), "
                         "end=' ')")
    assert runs == ["2 ['pydantic', 'yaml']\n", "2 []\n"]


@pytest.mark.parametrize("change, reread, expect", [
    # (what changes between the loads, the files read again, a fact of the second state)
    ("edit", ["bot.yaml"], lambda s: s.resources["support-bot"].mutable["displayName"] == "Support bot 2"),
    ("move", [], lambda s: s.resources["support-bot"].source.endswith("moved.yaml:1")),
    ("variable", ["bot.yaml"], lambda s: s.resources["support-bot"].mutable["displayName"] == "bot of blue"),
    ("defaults", ["bot.yaml", "other.yaml"], lambda s: s.resources["other-bot"].project == "another-project"),
    ("code", ["bot.yaml", "other.yaml"], lambda s: len(s.resources) == 2),
    ("off", ["bot.yaml", "other.yaml"], lambda s: len(s.resources) == 2),
])
def test_what_reads_a_file_again(tmp_path, cache_dir, parsed, monkeypatch, change, reread, expect):
    files = dict(ROOT_FILES)
    env = {}
    if change == "variable":
        files["bot.yaml"] = VERTEX.replace("displayName: Support bot", "displayName: bot of ${COLOUR}")
        env = {"COLOUR": "red"}
    root = _root(tmp_path, files)
    manifest.load(root, env=env)
    parsed.clear()
    if change == "edit":
        (root / "bot.yaml").write_text(VERTEX.replace("Support bot", "Support bot 2"))
    elif change == "move":
        (root / "bot.yaml").rename(root / "moved.yaml")
    elif change == "variable":
        env = {"COLOUR": "blue"}
    elif change == "defaults":
        (root / "reconciler.yaml").write_text(config("another-project"))
    elif change == "code":
        monkeypatch.setattr(pickles, "_CODE", "another version of reconciler")
    elif change == "off":
        monkeypatch.setenv(pickles.SWITCH, "off")
    state = manifest.load(root, env=env)
    assert sorted(p for p in parsed if p != "reconciler.yaml") == reread
    assert expect(state)


def test_the_checks_across_manifests_warn_on_every_load_even_of_cached_files(tmp_path, cache_dir, parsed):
    warned = VERTEX.replace("gemini-2.5-flash", "gemini-1.0-pro-002")  # a base model Vertex does not tune: a warning
    root = _root(tmp_path, {**ROOT_FILES, "bot.yaml": warned})
    first = manifest.load(root, env={})
    assert [w.message for w in first.warnings if "gemini-1.0-pro-002" in w.message]
    parsed.clear()
    second = manifest.load(root, env={})
    assert parsed == ["bot.yaml"]  # cached (it read clean); composed again only to say where the checks' warning is
    assert second.warnings == first.warnings  # located as before: its nodes composed again to say where


def test_an_unset_variable_is_never_cached(tmp_path, cache_dir, parsed):
    root = _root(tmp_path, {**ROOT_FILES, "bot.yaml": VERTEX.replace("Support bot", "${UNSET_COLOUR}")})
    for _ in range(2):
        with pytest.raises(ManifestError, match="UNSET_COLOUR"):
            manifest.load(root, env={})
    assert not list(cache_dir.glob("manifests-*"))  # a load that fails writes no cache


def test_a_value_that_became_a_credential_is_read_and_masked(tmp_path, cache_dir, monkeypatch):
    root = _root(tmp_path, {**ROOT_FILES, "bot.yaml": VERTEX.replace("Support bot", "sk-not-yet-a-secret-0123")})
    manifest.load(root, env={})
    monkeypatch.setenv("GEMINI_API_KEY", "sk-not-yet-a-secret-0123")
    with pytest.raises(ManifestError) as raised:
        manifest.load(root, env={})
    text = "\n".join(str(d) for d in raised.value.diagnostics)
    assert "GEMINI_API_KEY" in text and "sk-not-yet-a-secret-0123" not in text


class _Planted:
    """Unpickling this writes a file: proof that a cache was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_cache_others_may_write_is_never_unpickled(tmp_path, cache_dir, parsed, mode):
    root = _root(tmp_path, ROOT_FILES)
    manifest.load(root, env={})
    [stored] = cache_dir.glob("manifests-*.pickle")
    marker = tmp_path / "marker"
    stored.write_bytes(pickle.dumps(_Planted(marker)))
    os.chmod(stored, mode)
    parsed.clear()
    assert len(manifest.load(root, env={}).resources) == 2
    assert not marker.exists()
    assert sorted(parsed) == ["bot.yaml", "other.yaml"]


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps(("header", {}))[:-3], pickle.dumps(42)])
def test_a_broken_cache_is_a_miss(tmp_path, cache_dir, parsed, content):
    root = _root(tmp_path, ROOT_FILES)
    manifest.load(root, env={})
    [stored] = cache_dir.glob("manifests-*.pickle")
    stored.write_bytes(content)
    parsed.clear()
    assert len(manifest.load(root, env={}).resources) == 2
    assert sorted(parsed) == ["bot.yaml", "other.yaml"]
    assert manifest.load(root, env={}).resources  # and it was written again, whole
    assert pickle.loads(stored.read_bytes())[0][0] == cache.FORMAT


def test_an_unwritable_cache_directory_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(pickles.DIRECTORY, str(blocker / "cache"))  # below a file: cannot be created
    root = _root(tmp_path, ROOT_FILES)
    assert len(manifest.load(root, env={}).resources) == 2
    assert len(manifest.load(root, env={}).resources) == 2


def test_only_the_last_roots_are_kept(tmp_path, cache_dir):
    for index in range(cache.KEEP + 3):
        root = tmp_path / f"root-{index}"
        root.mkdir()
        (root / "bot.yaml").write_text(VERTEX)
        manifest.load(root, env={})
    assert len(list(cache_dir.glob("manifests-*.pickle"))) == cache.KEEP


# ------------------------------------------------------------------------------ recalled by status, not even read

@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The manifest files the loader read (read_text): those its cache did not recall by their status."""
    seen: list[str] = []
    read_text = loader.read_text

    def counting(file, shown, *args, **options):
        seen.append(Path(shown).name)
        return read_text(file, shown, *args, **options)

    monkeypatch.setattr(loader, "read_text", counting)
    return seen


@pytest.fixture
def exact_times(monkeypatch):
    """As if the file system's timestamps were exact: a file is settled once the cache is written after it (the
    real margin, cache.SETTLED_NS, would make these tests wait two seconds for it)."""
    monkeypatch.setattr(cache, "SETTLED_NS", 0)


@pytest.mark.parametrize("change, read, parsed_again", [
    # (what changes after a load whose files are settled, the files read again, those parsed again)
    ("nothing", [], []),
    ("edit", ["bot.yaml"], ["bot.yaml"]),
    ("edit, times put back", ["bot.yaml"], ["bot.yaml"]),   # the change time cannot be put back
    ("touch", ["bot.yaml"], []),                             # read and hashed: the same text
    ("credential", ["bot.yaml", "other.yaml"], []),          # checked against the new value, by reading
    ("variable", ["bot.yaml"], ["bot.yaml"]),
    ("link", ["bot.yaml"], []),                              # a symlink now: resolved and read, as any link
])
def test_a_settled_file_is_not_even_read_until_its_status_or_inputs_change(tmp_path, cache_dir, parsed, reads, exact_times,
                                                                           monkeypatch, change, read, parsed_again):
    files = {**ROOT_FILES, "bot.yaml": VERTEX.replace("displayName: Support bot", "displayName: bot of ${COLOUR}")}
    root = _root(tmp_path, files)
    env = {"COLOUR": "red"}
    first = manifest.load(root, env=env)
    bot = root / "bot.yaml"
    before = os.stat(bot)
    if change.startswith("edit"):
        bot.write_text(bot.read_text().replace("bot of", "bot in"))
        if change.endswith("put back"):
            os.utime(bot, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif change == "touch":
        os.utime(bot)
    elif change == "credential":
        monkeypatch.setenv("GEMINI_API_KEY", "a-key-that-no-manifest-holds")
    elif change == "variable":
        env = {"COLOUR": "blue"}
    elif change == "link":
        bot.rename(root / "target.yml.txt")
        bot.symlink_to(root / "target.yml.txt")
    parsed.clear()
    reads.clear()
    second = manifest.load(root, env=env)
    assert (sorted(reads), sorted(p for p in parsed if p != "reconciler.yaml")) == (read, parsed_again)
    assert (second.resources == first.resources) == (change in ("nothing", "touch", "credential", "link"))


def test_a_file_written_just_before_the_cache_is_read_again(tmp_path, cache_dir, reads):
    root = _root(tmp_path, ROOT_FILES)
    manifest.load(root, env={})  # written within SETTLED_NS of the files: a write in the same tick could hide
    reads.clear()
    manifest.load(root, env={})
    assert sorted(reads) == ["bot.yaml", "other.yaml"]


def test_a_message_about_a_recalled_document_still_says_where(tmp_path, cache_dir, reads, exact_times):
    warned = VERTEX.replace("gemini-2.5-flash", "gemini-1.0-pro-002")  # a warning of the checks across manifests
    root = _root(tmp_path, {**ROOT_FILES, "bot.yaml": warned})
    first = manifest.load(root, env={})
    reads.clear()
    second = manifest.load(root, env={})
    assert reads == [] and second.warnings == first.warnings  # its text read only to locate the warning
