"""State that points elsewhere (issue 12 §4): a lock entry whose recorded resources lie outside its own
project and location (Vertex) or identity (Gemini API) is refused before planning, with the entry named and
nothing changed; and removal deletes only a model that carries this tool's ownership labels for the name."""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.errors import FailedPrecondition
from reconciler.observed import Generation
from reconciler.platforms.connect import connect
from reconciler.platforms.gemini import GEMINI
from reconciler.platforms.vertex import VERTEX
from reconciler.state import scope
from reconciler.state.model import AppliedSpec, Lock, LockEntry
from tests.testing import cli as reconciler_cli

HANG = 60.0
PARENT = "projects/acme/locations/us-central1"


def run(cli, *args: str) -> reconciler_cli.Result:
    return reconciler_cli.run(*args, "--api-endpoint", cli.endpoint, cwd=cli.cwd, env=reconciler_cli.environment(),
                              timeout=HANG)


def edit_lock(cli, name: str, edit) -> None:
    path = cli.cwd / "manifests" / "reconciler.lock"
    data = json.loads(path.read_text())
    edit(data["entries"][name])
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def applied(cli) -> None:
    result = run(cli, "apply", "manifests", "--yes")
    assert result.code == 0, result
    cli.emulator.advance(3600)
    result = run(cli, "apply", "manifests", "--yes")  # the continuation trains too
    assert result.code == 0, result
    cli.emulator.advance(3600)


def elsewhere(name: str) -> str:
    _, _, _, location, *rest = name.split("/")
    return "/".join(["projects", "victim-project", "locations", location, *rest])


@pytest.mark.parametrize("command", [("plan", "manifests"), ("apply", "manifests", "--yes"),
                                     ("status", "manifests")])
def test_a_vertex_entry_pointing_into_another_project_is_refused_before_planning(cli, command):
    applied(cli)

    def point_elsewhere(entry):
        current = entry["current"]
        current["job"], current["model"] = elsewhere(current["job"]), elsewhere(current["model"])
    edit_lock(cli, "support-bot", point_elsewhere)
    (cli.cwd / "manifests" / "vertex" / "support-bot-continued.yaml").unlink()  # would retire/delete
    cli.emulator.clear_requests()
    result = run(cli, *command)
    assert result.code == 1, result
    assert "entries.support-bot.current" in result.err and "victim-project" in result.err, result
    assert "outside the entry's project demo-project and location us-central1" in result.err, result
    assert "remove it from the lock" in result.err and "Nothing was changed" in result.err, result
    assert cli.emulator.requests() == []  # refused before any call, not just before a side effect


def test_a_vertex_entry_in_another_location_is_refused(cli):
    applied(cli)
    edit_lock(cli, "support-bot", lambda e: e["current"].update(
        job=e["current"]["job"].replace("/us-central1/", "/europe-west4/")))
    result = run(cli, "plan", "manifests")
    assert result.code == 1 and "entries.support-bot.current" in result.err, result


def test_a_gemini_entry_naming_another_models_id_is_refused(cli):
    applied(cli)
    edit_lock(cli, "math-bot", lambda e: e["current"].update(model="tunedModels/number-generator-0564bdb5"))
    cli.emulator.clear_requests()
    result = run(cli, "apply", "manifests", "--yes")
    assert result.code == 1, result
    assert "entries.math-bot.current" in result.err and "the only id entry 'math-bot' can own" in result.err
    assert cli.emulator.requests() == []


def test_the_locks_apply_writes_pass_the_check(cli):
    applied(cli)
    assert run(cli, "plan", "manifests", "--detailed-exitcode").code == 0


# --- the check itself ----------------------------------------------------------------------------------------

def entry(name: str, platform: str, generation: Generation, *, superseded=(), moved_from=()) -> LockEntry:
    scoped = platform == VERTEX.name
    return LockEntry(name=name, platform=platform, project="acme" if scoped else None,
                     location="us-central1" if scoped else None, digest="d", spec=AppliedSpec(),
                     current=generation, superseded=tuple(superseded), moved_from=tuple(moved_from))


def vertex(job: str, model: str = "", endpoints=()) -> Generation:
    return Generation(platform=VERTEX.name, owner="bot", digest="d", phase="succeeded", job=job,
                      model=model or None, endpoints=tuple(endpoints))


def lock_of(*entries: LockEntry) -> Lock:
    return Lock(version=1, lineage="l", serial=1, digest_algorithm="sha256-v1", entries={e.name: e for e in entries})


@pytest.mark.parametrize("generation", [
    vertex(f"{PARENT}/tuningJobs/1", f"{PARENT}/models/2@1", [f"{PARENT}/endpoints/3"]),
    # the API may spell the project by number, which cannot be mapped to the id offline: accepted
    vertex("projects/123456789012/locations/us-central1/tuningJobs/1"),
])
def test_resources_inside_the_entrys_scope_pass(generation):
    scope.check(lock_of(entry("bot", VERTEX.name, generation)))


@pytest.mark.parametrize(("generation", "where"), [
    (vertex("projects/other/locations/us-central1/tuningJobs/1"), "current"),
    (vertex(f"{PARENT}/tuningJobs/1", "projects/other/locations/us-central1/models/2@1"), "current"),
    (vertex(f"{PARENT}/tuningJobs/1", endpoints=["projects/123/locations/europe-west4/endpoints/3"]), "current"),
    (vertex("tuningJobs/1"), "current"),
])
def test_resources_outside_the_entrys_scope_are_refused(generation, where):
    with pytest.raises(scope.OutOfScope, match=rf"^entries\.bot\.{where}: "):
        scope.check(lock_of(entry("bot", VERTEX.name, generation)))


def test_superseded_generations_may_stay_where_the_manifest_moved_from_and_nowhere_else():
    old = vertex("projects/old/locations/us-east1/tuningJobs/1")
    new = vertex(f"{PARENT}/tuningJobs/2")
    with pytest.raises(scope.OutOfScope, match=r"^entries\.bot\.superseded\[0\]: "):
        scope.check(lock_of(entry("bot", VERTEX.name, new, superseded=[old])))
    scope.check(lock_of(entry("bot", VERTEX.name, new, superseded=[old], moved_from=[("old", "us-east1")])))
    with pytest.raises(scope.OutOfScope, match=r"^entries\.bot\.current: "):  # never the current one
        scope.check(lock_of(entry("bot", VERTEX.name, old, moved_from=[("old", "us-east1")])))


def test_a_retrain_into_another_scope_records_where_it_moved_from():
    before = entry("bot", VERTEX.name, vertex("projects/old/locations/us-east1/tuningJobs/1"))
    before = LockEntry(**{**before.__dict__, "project": "old", "location": "us-east1"})
    after = before.with_current(vertex(f"{PARENT}/tuningJobs/2"), project="acme", location="us-central1")
    assert after.moved_from == (("old", "us-east1"),)
    scope.check(lock_of(after))


@pytest.mark.parametrize(("model", "ok"), [("tunedModels/bot-0123abcd", True), ("tunedModels/other-0123abcd", False),
                                           ("tunedModels/bot", False), ("tunedModels/x/bot-0123abcd", False)])
def test_a_gemini_entry_owns_only_its_own_deterministic_id(model, ok):
    generation = Generation(platform=GEMINI.name, owner="bot", digest="0123abcd", phase="succeeded", model=model)
    if ok:
        scope.check(lock_of(entry("bot", GEMINI.name, generation)))
    else:
        with pytest.raises(scope.OutOfScope, match=r"the only id entry 'bot' can own"):
            scope.check(lock_of(entry("bot", GEMINI.name, generation)))


# --- removal deletes only what carries our labels ------------------------------------------------------------

class Steps:
    def before_request(self) -> None: ...
    def learned(self, generation: Generation) -> None: ...


def labelled_job(labels: dict) -> dict:
    return {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": "m", "labels": labels,
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://acme/train.jsonl", "exportLastCheckpointOnly": True}}


@pytest.mark.parametrize("labels", [{"team": "someone-else"},
                                    {"managed-by": "reconciler", "reconciler-name": "another-bot"}])
def test_vertex_remove_refuses_a_model_without_our_labels_for_the_name(labels):
    with Emulator(job_duration=10) as emu, connect({VERTEX.name}, api_endpoint=emu.base_url, emulator=True,
                                                   env={}) as clients:
        client = clients[VERTEX.name]
        job = client.create_tuning_job(PARENT, labelled_job(labels))
        emu.advance(60)
        tuned = client.get_tuning_job(job["name"])["tunedModel"]
        generation = Generation(platform=VERTEX.name, owner="bot", digest="d", phase="succeeded", job=job["name"],
                                model=tuned["model"], endpoints=(tuned["endpoint"],))
        with pytest.raises(FailedPrecondition, match="refusing to delete .* ownership labels for 'bot'"):
            VERTEX.remove(client, generation, Steps())
        http = httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"})
        assert http.get(f"/v1/{tuned['model']}").status_code == 200
        assert http.get(f"/v1/{tuned['endpoint']}").status_code == 200


def test_vertex_remove_deletes_a_model_with_our_labels():
    with Emulator(job_duration=10) as emu, connect({VERTEX.name}, api_endpoint=emu.base_url, emulator=True,
                                                   env={}) as clients:
        client = clients[VERTEX.name]
        job = client.create_tuning_job(PARENT, labelled_job({"managed-by": "reconciler", "reconciler-name": "bot"}))
        emu.advance(60)
        tuned = client.get_tuning_job(job["name"])["tunedModel"]
        generation = Generation(platform=VERTEX.name, owner="bot", digest="d", phase="succeeded", job=job["name"],
                                model=tuned["model"], endpoints=(tuned["endpoint"],))
        VERTEX.remove(client, generation, Steps())
        http = httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"})
        assert http.get(f"/v1/{tuned['model']}").status_code == 404


def test_gemini_remove_refuses_a_model_whose_id_is_not_the_names():
    generation = Generation(platform=GEMINI.name, owner="bot", digest="0123abcd", phase="succeeded",
                            model="tunedModels/other-0123abcd")
    with pytest.raises(FailedPrecondition, match="refusing to delete tunedModels/other-0123abcd"):
        GEMINI.remove(object(), generation, Steps())  # refused before any call: the client is never used
