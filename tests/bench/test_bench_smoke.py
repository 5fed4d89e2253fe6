"""Each benchmark at a tiny size, so the scripts never rot (a few seconds; the figures are not judged here,
only that the benchmarks run end to end and count what they claim to count)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HERE / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_bench_plan_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    done = _run("bench_plan.py", "--manifests", "4", "--repeats", "1", "--latency-ms", "1",
                "--workdir", str(tmp_path / "work"), "--json-out", str(out))
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["pages_needed"] == 3                                  # one page per managed listing
    assert figures["plan"]["requests"] == [3] and figures["plan"]["non_200"] == 0
    assert figures["sdk_loop"]["jobs"] == 4 and figures["sdk_loop"]["requests"] == 4
    assert figures["sdk_loop"]["states"] == {"JobState.JOB_STATE_SUCCEEDED": 4}
    assert set(figures["targets"]) == {"requests", "wall", "speedup"}
    assert "plan benchmark" in done.stdout and "speed-up" in done.stdout


def test_bench_apply_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "apply.json"
    done = _run("bench_apply.py", "--manifests", "5", "--gemini", "1", "--rate-limits", "50",
                "--latency-ms", "1", "--workdir", str(tmp_path / "work"), "--json-out", str(out))
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    [run] = figures["runs"]
    assert run["exit_code"] == 0 and run["outcomes"] == {"done": 5}
    assert run["jobs_per_manifest"] == {"1": 5} and run["duplicates"] == 0 and run["missing"] == []
    # one listing per collection read (3 Vertex, 1 Gemini API) and one create per manifest; 429s not counted
    assert run["requests_by_route"] == {"GET /v1/.../tuningJobs": 1, "GET /v1/.../models": 1,
                                        "GET /v1/.../endpoints": 1, "GET /v1beta/tunedModels": 1,
                                        "POST /v1/.../tuningJobs": 4, "POST /v1beta/tunedModels": 1}
    assert run["requests_needed"] == 4 + 5 and run["optimum_s"] == run["requests_needed"] / 50
    assert "apply benchmark" in done.stdout and "wall / optimum" in done.stdout


def test_bench_emulator_runs_at_a_tiny_size() -> None:
    done = _run("bench_emulator.py", "--requests", "200", "--threads", "2", "--jobs", "4")
    assert "requests failed" not in done.stderr, done.stderr
    figures = re.fullmatch(r"emulator: 200 get/list requests from 2 threads in [\d.]+s = (\d+) requests/s "
                           r"\(4 jobs seeded; floor (\d+)/s\)\n", done.stdout)
    assert figures, done.stdout + done.stderr
    rate, floor = map(int, figures.groups())
    # the throughput itself is not judged here, only that the exit code says what the figures say (the rate is
    # printed rounded, so a rate that prints as the floor itself may be either side of it)
    assert done.returncode in ({0, 1} if rate == floor else {0 if rate > floor else 1}), done.stdout


def test_the_runner_parses_emulator_figures() -> None:
    spec = importlib.util.spec_from_file_location("bench_runner", HERE / "__main__.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    line = "emulator: 6000 get/list requests from 4 threads in 3.00s = 2000 requests/s (50 jobs seeded; floor 500/s)"
    figures = runner.emulator_figures(0, line + "\n")
    assert figures["requests_per_s"] == 2000.0 and figures["targets"]["requests/s"]["met"]
