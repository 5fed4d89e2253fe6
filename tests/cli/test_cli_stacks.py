"""Repository identity through the real CLI, against one emulator: roots (and workspaces of one root) that use
the same manifest names in the same project and account never adopt, retire or delete each other's resources,
and adding `stack:` to a root that was applied without one changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator import Emulator
from tests.testing import cli as reconciler_cli
from tests.testing.cli import Result
from tests.testing.emulators import AdminClient, running
from tests.testing.manifests import gemini_manifest, vertex_manifest, write_files

PROJECT, LOCATION = "stack-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
NAMES = ("bot", "gem")  # one Vertex AI manifest, one Gemini API manifest, in every root


class Live(AdminClient):
    """What the emulator holds: tuned models by owner and stack."""

    def __init__(self, emulator: Emulator) -> None:
        self.base_url = emulator.base_url

    def vertex_models(self) -> set[tuple[str, str | None]]:
        """(manifest name, stack label) of every Vertex AI model."""
        models = self.listing(f"/v1/{PARENT}/models", "models")
        return {(m["labels"]["reconciler-name"], m["labels"].get("reconciler-stack")) for m in models}

    def tuned_models(self) -> set[str]:
        return {m["name"].removeprefix("tunedModels/") for m in self.listing("/v1beta/tunedModels", "tunedModels")}


class Root:
    def __init__(self, path: Path, emulator: Emulator, stack: str | None) -> None:
        self.path, self.emulator = path, emulator
        self.write_config(stack)
        write_files(path, {"bot.yaml": vertex_manifest("bot", checkpoints=False), "gem.yaml": gemini_manifest("gem")})

    def write_config(self, stack: str | None) -> None:
        stack_line = f"stack: {stack}\n" if stack else ""
        write_files(self.path, {"reconciler.yaml": f"{stack_line}defaults:\n  project: {PROJECT}\n"
                                                   f"  location: {LOCATION}\n"})

    def remove_manifests(self) -> None:
        for name in NAMES:
            (self.path / f"{name}.yaml").unlink()

    def run(self, *args: str, workspace: str | None = None) -> Result:
        flags = ["--workspace", workspace] if workspace else []
        return reconciler_cli.run(*args, ".", *flags, "--api-endpoint", self.emulator.base_url, cwd=self.path)

    def apply(self, workspace: str | None = None) -> Result:
        result = self.run("apply", "--yes", workspace=workspace)
        assert result.code == 0, result
        self.emulator.advance(3600)  # every job started has succeeded
        return result

    def actions(self, workspace: str | None = None) -> list[tuple[str, str]]:
        result = self.run("plan", "--json", workspace=workspace)
        assert result.code == 0, result
        return sorted((c["name"], c["action"]) for c in json.loads(result.out)["changes"])

    def in_sync(self, workspace: str | None = None) -> bool:
        result = self.run("plan", "--detailed-exitcode", workspace=workspace)
        assert result.code in (0, 2), result
        return result.code == 0 and "Plan: no changes" in result.out


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running(job_duration=30) as emu:
        yield emu


TRAIN_BOTH = [("bot", "train"), ("gem", "train")]


def test_two_stacks_with_the_same_manifest_names_never_touch_each_other(tmp_path, emulator):
    live = Live(emulator)
    a, b = Root(tmp_path / "a", emulator, "a"), Root(tmp_path / "b", emulator, "b")
    a.apply()
    a_models = live.tuned_models()
    assert live.vertex_models() == {("bot", "a")} and len(a_models) == 1

    assert b.actions() == TRAIN_BOTH  # its own trains, not an adoption of a's
    b.apply()
    assert live.vertex_models() == {("bot", "a"), ("bot", "b")} and len(live.tuned_models()) == 2
    assert a.in_sync() and b.in_sync()

    stackless = Root(tmp_path / "c", emulator, None)
    assert stackless.actions() == TRAIN_BOTH  # adopts neither

    b.remove_manifests()
    assert b.actions() == [("bot", "delete"), ("gem", "delete")]
    b.apply()
    assert live.vertex_models() == {("bot", "a")} and live.tuned_models() == a_models  # only b's are gone
    assert a.in_sync() and b.in_sync()
    assert stackless.actions() == TRAIN_BOTH


def test_two_workspaces_of_one_root_never_touch_each_other(tmp_path, emulator):
    live = Live(emulator)
    root = Root(tmp_path / "root", emulator, "acme")
    root.apply()
    default_models = live.tuned_models()

    assert root.actions(workspace="staging") == TRAIN_BOTH
    root.apply(workspace="staging")
    assert (tmp_path / "root" / "reconciler.staging.lock").exists()
    assert live.vertex_models() == {("bot", "acme"), ("bot", "acme_staging")} and len(live.tuned_models()) == 2
    assert root.in_sync() and root.in_sync(workspace="staging")

    root.remove_manifests()
    assert root.actions(workspace="staging") == [("bot", "delete"), ("gem", "delete")]
    root.apply(workspace="staging")
    assert live.vertex_models() == {("bot", "acme")} and live.tuned_models() == default_models
    write_files(root.path, {"bot.yaml": vertex_manifest("bot", checkpoints=False), "gem.yaml": gemini_manifest("gem")})
    assert root.in_sync()  # the default workspace's resources were never touched


def test_adding_a_stack_to_an_applied_root_retrains_and_deletes_nothing(tmp_path, emulator):
    live = Live(emulator)
    root = Root(tmp_path / "root", emulator, None)
    root.apply()
    before = (live.vertex_models(), live.tuned_models())
    assert before[0] == {("bot", None)}

    root.write_config("x")
    assert root.in_sync()  # recognised through the lock: no label, no new id needed
    mutations = len(live.mutating())
    applied = root.run("apply", "--yes")
    assert applied.code == 0 and "no changes" in applied.out.lower(), applied
    assert len(live.mutating()) == mutations and (live.vertex_models(), live.tuned_models()) == before

    root.remove_manifests()  # still ours under the stack: removing the manifests deletes them
    assert root.actions() == [("bot", "delete"), ("gem", "delete")]
    root.apply()
    assert live.vertex_models() == set() and live.tuned_models() == set()


def test_a_recorded_vertex_job_without_any_labels_is_ours_and_in_sync(tmp_path, emulator):
    """A resource recorded in the lock (as `reconciler import` records one made by hand) needs no labels: the
    lock names its manifest and digest."""
    root = Root(tmp_path / "root", emulator, "x")
    root.apply()
    lock = json.loads((root.path / "reconciler.lock").read_text())
    job = lock["entries"]["bot"]["current"]["job"]
    emulator_admin = Live(emulator)
    model = emulator_admin.get(f"/v1/{job}")["tunedModel"]["model"].split("@")[0]
    emulator_admin.admin("POST", "resources:patch", {"name": job, "labels": {}})
    emulator_admin.admin("POST", "resources:patch", {"name": model, "labels": {"team": "rel"}})
    assert emulator_admin.get(f"/v1/{job}").get("labels") in (None, {})
    assert root.in_sync()
