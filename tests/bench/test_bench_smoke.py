"""Each benchmark at a tiny size, so the scripts never rot (a few seconds; the figures are not judged here,
only that the benchmarks run end to end and count what they claim to count)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing.zygote import SWITCH

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HERE / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_bench_plan_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    done = _run("bench_plan.py", "--manifests", "8", "--scopes", "4", "--repeats", "1", "--latency-ms", "1",
                "--sdk-jobs", "4", "--fallback-manifests", "5", "--workdir", str(tmp_path / "work"),
                "--json-out", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["pages_needed"] == 12                                 # 3 managed listings x 4 scopes, 1 page each
    assert figures["plan"]["requests"] == [13]                          # + the dataset's metadata (one GET)
    assert set(figures["plan"]["requests_by_route"]) == {f"GET /v1/.../{c} 200"
                                                         for c in ("tuningJobs", "models", "endpoints")} | {
        "GET /storage/v1/b/cloud-samples-data/o/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl 200"}
    assert figures["sdk_loop"]["jobs"] == 4 and figures["sdk_loop"]["requests"] == 4
    assert figures["sdk_loop"]["states"] == {"JobState.JOB_STATE_SUCCEEDED": 4}
    assert figures["sdk_loop"]["scaled_wall_s"] == figures["sdk_loop"]["wall_s"] * 2
    assert figures["plan"]["rss_max_mb"] > 10 and figures["validate"]["wall_median_s"] > 0
    fallback = figures["fallback"]
    assert fallback["normal"]["requests"] == [4]                         # 3 listings + the dataset's metadata
    # one refused filtered listing, then the unfiltered one (filtered here), models and endpoints as usual
    assert fallback["fallback"]["requests"] == [5]
    assert fallback["fallback"]["requests_by_route"]["GET /v1/.../tuningJobs 400"] == 1
    assert set(figures["targets"]) == {"requests", "wall", "speedup", "rss", "validate"}
    assert "plan benchmark" in done.stdout and "speed-up" in done.stdout


def test_bench_status_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "status.json"
    done = _run("bench_status.py", "--manifests", "6", "--repeats", "1", "--latency-ms", "1", "--wait-seconds", "1",
                "--workdir", str(tmp_path / "work"), "--json-out", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["status"]["requests"] == [1]                          # one page of the tuningJobs listing
    assert figures["status"]["states"] == {"queued": 6}
    assert figures["wait"]["polls"] >= 1 and figures["wait"]["requests_per_poll"] == 1.0
    assert set(figures["targets"]) == {"wall", "requests", "per_poll"}
    assert "status benchmark" in done.stdout


def test_bench_apply_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "apply.json"
    done = _run("bench_apply.py", "--manifests", "9", "--gemini", "1", "--regions", "2", "--rate-limits", "50",
                "--latency-ms", "1", "--workdir", str(tmp_path / "work"), "--json-out", str(out))
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    [run] = figures["runs"]
    assert run["exit_code"] == 0 and run["outcomes"] == {"done": 9}
    assert run["jobs_per_manifest"] == {"1": 9} and run["duplicates"] == 0 and run["missing"] == []
    # per region: one listing per collection and one create per manifest; 429s not counted
    routes = run["requests_by_route"]
    assert {k: routes[k] for k in ("GET /v1/.../tuningJobs", "GET /v1/.../models", "GET /v1/.../endpoints",
                                   "POST /v1/.../tuningJobs", "POST /v1beta/tunedModels")} == {
        "GET /v1/.../tuningJobs": 2, "GET /v1/.../models": 2, "GET /v1/.../endpoints": 2,
        "POST /v1/.../tuningJobs": 8, "POST /v1beta/tunedModels": 1}
    assert run["requests_needed"] == sum(routes.values())
    assert run["requests_by_bucket"]["us-central1"] == run["requests_by_bucket"]["europe-west4"] == 3 + 4
    assert run["optimum_s"] == max(run["requests_by_bucket"].values()) / 50
    assert "apply benchmark" in done.stdout and "wall / optimum" in done.stdout


def test_bench_gcs_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "gcs.json"
    done = _run("bench_gcs.py", "--manifests", "4", "--gemini", "1", "--repeats", "1", "--latency-ms", "1",
                "--workdir", str(tmp_path / "work"), "--json-out", str(out))
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    local, gcs = (next(r for r in figures["runs"] if r["backend"] == b) for b in ("local", "gcs"))
    for run in (local, gcs):
        assert run["exit_code"] == 0 and run["duplicates"] == 0 and run["missing"] == []
        # 4 listings (3 Vertex, 1 Gemini API), the Gemini base model checked (models.get) + 4 creates, either backend
        assert run["requests_api"] == 9
    # local state: no Cloud Storage at all; gcs: one lock create and release, the state read before and under
    # the lock (absent: 404), and at least one write (intents, then every create recorded)
    # and the training dataset's metadata, read once (issue 14)
    assert local["dataset_reads"] == gcs["dataset_reads"] == 1
    assert local["requests_total"] == 10 and local["state_reads"] == local["state_writes"] == 0
    assert gcs["lock_by_kind"] == {"lock-create": 1, "lock-release": 1}
    assert gcs["state_reads"] == 2 and gcs["state_writes"] >= 2 and gcs["storage_other"] == 0
    assert gcs["requests_total"] == 10 + 2 + 2 + gcs["state_writes"]
    assert gcs["state_write_ms"] > 0
    assert set(figures["targets"]) == {"overhead", "correctness"} and figures["targets"]["correctness"]["met"]
    assert "gcs backend overhead" in done.stdout and "state object reads / writes" in done.stdout


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
    gcs = {"manifests": 4, "summary": {"local": {"wall_s": 1.0, "requests_total": 8},
                                       "gcs": {"wall_s": 1.05, "requests_total": 17, "state_reads": 2,
                                               "state_writes": 5, "lock_requests": 2}},
           "targets": {"overhead": {"value": 5.0, "target": "<= 10 %", "met": True},
                       "correctness": {"value": 0, "target": "0", "met": True}}}
    rows = runner.combined_rows({"gcs": gcs})
    assert rows[1][1] == "8 | 17 (2/5, 2)" and rows[2][1:] == ("+5.0", "<= 10 %", "yes")


def test_a_benchmark_times_reconciler_exec_d_never_forked_from_the_test_zygote() -> None:
    """A forked command has imported the package already: timing one leaves start-up and imports uncounted."""
    probe = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
             "from tests.testing import cli\n"
             "def forked():\n"
             "    process = cli.start('--version'); cli.finish(process, ('--version',)); return process.forked\n"
             "before = forked(); import _harness; print(before, forked())")
    done = subprocess.run([sys.executable, "-c", probe, str(HERE), str(ROOT)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    forks = str(sys.platform.startswith("linux") and os.environ.get(SWITCH) != "off")  # where the zygote forks
    assert done.returncode == 0 and done.stdout.split() == [forks, "False"], done.stderr
