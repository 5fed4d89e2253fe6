"""Numbers the emulator takes from its admin surface, its options and its state file must be finite and bounded
(issue 12 §5): `clock:advance` with 1e308 or NaN used to break every later call with 500, even after a restart."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from emulator_api import PARENT, assert_error
from reconciler.emulator import Emulator
from reconciler.emulator.limits import MAX_CLOCK_ADVANCE, YEAR
from tests.testing import ROOT

VERTEX = {"Authorization": "Bearer test-token"}
JSON = {"Content-Type": "application/json"}


def still_serving(api) -> None:
    assert api.vertex("GET", "tuningJobs").status_code == 200
    assert api.gemini("GET", "tunedModels").status_code == 200
    assert api.admin("GET", "clock").status_code == 200


@pytest.mark.parametrize("raw", ["1e308", "1e400", "NaN", "Infinity", "-Infinity", "-1", str(MAX_CLOCK_ADVANCE + 1),
                                 '"5"', "true", "null", "[5]"])
def test_clock_advance_takes_finite_bounded_seconds(api, raw):
    response = api.http.post("/__emulator__/clock:advance", content=f'{{"seconds": {raw}}}', headers=JSON)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert api.admin("GET", "clock").json()["offsetSeconds"] == 0
    still_serving(api)


def test_clock_advance_up_to_the_bounds(api, emulator):
    assert api.admin("POST", "clock:advance", {"seconds": MAX_CLOCK_ADVANCE}).status_code == 200
    for _ in range(9):
        api.admin("POST", "clock:advance", {"seconds": MAX_CLOCK_ADVANCE})
    assert api.admin("GET", "clock").json()["offsetSeconds"] == pytest.approx(100 * YEAR)
    error = assert_error(api.admin("POST", "clock:advance", {"seconds": 1}), 400, "INVALID_ARGUMENT")
    assert "100 years" in error["message"]
    api.create_job()
    still_serving(api)
    with pytest.raises(ValueError):
        emulator.advance(float("nan"))
    with pytest.raises(ValueError):
        emulator.advance(1e308)


@pytest.mark.parametrize("offset", ["NaN", "Infinity", "1e308", "-5", '"soon"'])
def test_a_state_file_with_a_broken_clock_is_refused(tmp_path, offset):
    state = tmp_path / "state.json"
    state.write_text('{"format": 1, "seq": 0, "clockOffset": %s}' % offset)
    with pytest.raises(ValueError, match="clockOffset"):
        Emulator(state_file=str(state))
    run = subprocess.run([sys.executable, "-m", "reconciler.emulator", "--state-file", str(state)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "error: cannot start the emulator" in run.stderr and "clockOffset" in run.stderr


@pytest.mark.parametrize("content", ["[1, 2]", "not json", '{"format": 1, "tuningJobs": []}'])
def test_other_broken_state_files_are_clear_errors(tmp_path, content):
    state = tmp_path / "state.json"
    state.write_text(content)
    with pytest.raises(ValueError, match="state"):
        Emulator(state_file=str(state))


def test_a_saved_clock_survives_a_restart_within_bounds(tmp_path):
    path = str(tmp_path / "state.json")
    with Emulator(state_file=path) as emu:
        emu.advance(3 * YEAR)
    with Emulator(state_file=path) as emu, httpx.Client(base_url=emu.base_url, headers=VERTEX) as http:
        assert emu.service.clock.offset == pytest.approx(3 * YEAR)
        assert http.get(f"/v1/{PARENT}/tuningJobs").status_code == 200
    assert json.loads((tmp_path / "state.json").read_text())["clockOffset"] == pytest.approx(3 * YEAR)


@pytest.mark.parametrize("rule", [
    {"latencyMs": 1e308}, {"latencyMs": -1}, {"latencyMs": 1e400}, {"latencyMs": 600_001},
    {"status": 503, "retryAfterSeconds": 1e400}, {"status": 503, "retryAfterSeconds": -2},
    {"status": 503, "retryAfterSeconds": 1e9}, {"status": 1e400}, {"status": 503, "times": 1e400},
    {"status": 503, "times": -1}, {"status": 503, "times": 1.5}, {"status": 503, "probability": 1e400},
    {"status": True}, {"latencyMs": "NaN"},
])
def test_fault_rule_numbers_are_finite_and_bounded(api, rule):
    raw = json.dumps([rule]).replace("Infinity", "1e400")      # json.dumps writes 1e400 as Infinity
    assert_error(api.http.post("/__emulator__/faults", content=raw, headers=JSON), 400, "INVALID_ARGUMENT")
    assert api.admin("GET", "faults").json()["faults"] == []
    still_serving(api)


def test_nan_is_not_json_on_the_admin_surface(api):
    response = api.http.post("/__emulator__/faults", content='[{"latencyMs": NaN}]', headers=JSON)
    assert "NaN" in assert_error(response, 400, "INVALID_ARGUMENT")["message"]
    still_serving(api)


def test_valid_fault_numbers_still_work(api):
    rules = [{"status": "429", "retryAfterSeconds": 2.5, "times": 2}, {"latencyMs": 1, "probability": 0.5}]
    added = api.admin("POST", "faults", rules).json()["faults"]
    assert [rule["id"] for rule in added] == [1, 2] and added[0]["remaining"] == 2
    response = api.vertex("GET", "tuningJobs")
    assert response.status_code == 429 and response.headers["retry-after"] == "3"


@pytest.mark.parametrize("options", [{"latency_ms": float("nan")}, {"latency_ms": -1}, {"job_duration": float("inf")},
                                     {"job_duration": float("nan")}, {"quota_rps": float("nan")}])
def test_embedding_options_are_finite_and_bounded(options):
    with pytest.raises(ValueError):
        Emulator(**options)


@pytest.mark.parametrize("flags", [["--job-duration", "nan"], ["--job-duration", "inf"], ["--latency-ms", "nan"],
                                   ["--latency-ms", "1e308"], ["--quota-rps", "nan"], ["--quota-rps", "inf"],
                                   ["--port", "70000"], ["--port", "-1"]])
def test_numeric_flags_are_finite_and_bounded(flags):
    run = subprocess.run([sys.executable, "-m", "reconciler.emulator", *flags], cwd=ROOT, capture_output=True,
                         text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert run.returncode == 1 and "must be a finite number" in run.stderr and "Traceback" not in run.stderr
