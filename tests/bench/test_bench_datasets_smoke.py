"""bench_datasets at a tiny size, so the script never rots (a few seconds; the wall times are not judged here, only
that both plans are in sync and the requests are counted as claimed: one metadata GET per distinct dataset)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
pytestmark = pytest.mark.slow
LISTINGS = {f"GET /v1/.../{c} 200" for c in ("tuningJobs", "models", "endpoints")}


def test_bench_datasets_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "datasets.json"
    done = subprocess.run([sys.executable, str(HERE / "bench_datasets.py"), "--manifests", "5", "--repeats", "1",
                           "--latency-ms", "1", "--workdir", str(tmp_path / "work"), "--json-out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    shared, own = figures["shared"], figures["own"]
    assert shared["requests"] == [4] and shared["dataset_reads"] == [1]  # 3 listings + the one dataset
    assert own["requests"] == [8] and own["dataset_reads"] == [5]        # 3 listings + 5 datasets
    assert shared["requests_by_route"] == dict.fromkeys(LISTINGS, 1) | {
        "GET /storage/v1/b/bench-datasets/o/shared/train.jsonl 200": 1}
    assert own["requests_by_route"] == dict.fromkeys(LISTINGS, 1) | {
        "GET /storage/v1/b/bench-datasets/o/{name}/train.jsonl 200": 5}
    assert figures["extra_requests"] == 4 and figures["targets"]["extra_requests"]["met"]
    assert figures["overhead_s"] == own["wall_median_s"] - shared["wall_median_s"]
    assert "datasets benchmark" in done.stdout and "extra requests per plan" in done.stdout


def test_the_runner_reports_the_datasets_figures() -> None:
    spec = importlib.util.spec_from_file_location("bench_runner", HERE / "__main__.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    assert "datasets" in runner.BENCHMARKS
    figures = {"manifests": 1000, "latency_ms": 20.0, "extra_requests": 999, "overhead_s": 2.5, "overhead_pct": 150.0,
               "shared": {"requests": [4, 4, 4], "wall_median_s": 1.0},
               "own": {"requests": [1003, 1003, 1003], "wall_median_s": 3.5},
               "targets": {"extra_requests": {"value": 999, "target": "== 999", "met": True}}}
    rows = runner.combined_rows({"datasets": figures})
    assert rows[0][1] == "4 | 1003" and rows[1][1:] == ("+999", "== 999", "yes")
    assert rows[2][1] == "1.000 | 3.500" and rows[3][1] == "+2.500 s (+150.0 %)"
