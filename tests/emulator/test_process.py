"""The emulator as a separate process: the `listening on` line, signals, --state-file persistence across a
restart, and the `reconciler emulator` entry point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx

from emulator_api import PARENT, assert_schema_valid
from reconciler.emulator import Emulator
from tests.testing import ROOT
from tests.testing.emulators import EmulatorProcess

JOB = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": "persisted", "labels": {"team": "a"},
       "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl", "exportLastCheckpointOnly": True}}
VERTEX = {"Authorization": "Bearer t"}


def test_subprocess_serves_and_exits_cleanly_on_sigterm(spawn_emulator):
    child = spawn_emulator("--job-duration", "5", "--record-bodies")
    with httpx.Client(base_url=child.base_url, headers=VERTEX) as http:
        job = http.post(f"/v1/{PARENT}/tuningJobs", json=JOB).json()
        assert job["state"] == "JOB_STATE_QUEUED"
        http.post("/__emulator__/clock:advance", json={"seconds": 5})
        assert http.get(f"/v1/{job['name']}").json()["state"] == "JOB_STATE_SUCCEEDED"
        assert_schema_valid(http.get("/__emulator__/requests").json()["requests"])
    assert child.stop() == 0


def test_sigint_also_exits_cleanly(spawn_emulator):
    child = spawn_emulator()
    child.process.send_signal(signal.SIGINT)
    assert child.process.wait(timeout=10) == 0


def test_state_file_survives_a_restart_including_the_virtual_clock(spawn_emulator, tmp_path):
    state = tmp_path / "state" / "emulator.json"
    first = spawn_emulator("--state-file", str(state))
    with httpx.Client(base_url=first.base_url, headers=VERTEX) as http:
        job = http.post(f"/v1/{PARENT}/tuningJobs", json=JOB).json()
        tuned = http.post("/v1beta/tunedModels", params={"tunedModelId": "kept"}, headers={"x-goog-user-project": "p"},
                          json={"baseModel": "models/gemini-1.5-flash-001-tuning", "tuningTask": {"trainingData": {
                              "examples": {"examples": [{"textInput": "a", "output": "b"}]}}}}).json()
        http.post("/__emulator__/clock:advance", json={"seconds": 61})
        done = http.get(f"/v1/{job['name']}").json()
    assert first.stop() == 0
    saved = json.loads(state.read_text())
    assert saved["clockOffset"] == 61 and len(saved["tuningJobs"]) == 1
    assert not list(state.parent.glob(".emulator-state.*"))            # no temporary file left behind

    second = spawn_emulator("--state-file", str(state))
    with httpx.Client(base_url=second.base_url, headers=VERTEX) as http:
        assert http.get(f"/v1/{job['name']}").json() == done
        model = http.get(f"/v1/{done['tunedModel']['model']}").json()
        labels = model["labels"]
        assert model["displayName"] == "persisted" and labels["team"] == "a" and labels["tune-type"] == "sft"
        assert http.get("/__emulator__/clock").json()["offsetSeconds"] == 61
        operation = http.get(f"/v1beta/{tuned['name']}", headers={"x-goog-user-project": "p"}).json()
        assert operation["done"] is True                                # the tune finished in restored time
    assert second.stop() == 0


def test_in_process_restart_with_a_state_file(tmp_path):
    path = str(tmp_path / "state.json")
    with Emulator(state_file=path) as emu, httpx.Client(base_url=emu.base_url, headers=VERTEX) as http:
        job = http.post(f"/v1/{PARENT}/tuningJobs", json=JOB).json()
        http.post(f"/v1/{job['name']}:cancel")
    with Emulator(state_file=path) as emu, httpx.Client(base_url=emu.base_url, headers=VERTEX) as http:
        assert http.get(f"/v1/{job['name']}").json()["state"] == "JOB_STATE_CANCELLING"
        emu.advance(10)
        assert http.get(f"/v1/{job['name']}").json()["state"] == "JOB_STATE_CANCELLED"


def test_reconciler_cli_entry_point_and_bad_options():
    # `reconciler emulator` (port 0 by default); options after `--` are forwarded as well.
    with EmulatorProcess(entry=("reconciler", "emulator", "--")) as child:
        assert child.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(child.base_url + "/__emulator__/health").json() == {"status": "ok"}
        assert child.stop() == 0
    refused = subprocess.run([sys.executable, "-m", "reconciler.emulator", "--job-duration", "-1"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and "must be" in refused.stderr
