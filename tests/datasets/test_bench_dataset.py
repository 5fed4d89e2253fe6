"""The dataset benchmark at a tiny size, so that it never rots (the figures are not judged here, only that it runs
end to end and counts what it claims to count). Here rather than in tests/bench/test_bench_smoke.py, which other
work is editing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
ROOT = BENCH.parents[1]


@pytest.mark.slow
def test_bench_dataset_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "dataset.json"
    done = subprocess.run([sys.executable, str(BENCH / "bench_dataset.py"), "--megabytes", "0.5", "--repeats", "1",
                           "--workdir", str(tmp_path), "--json-out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    [run] = figures["runs"]
    assert figures["file"]["bytes"] >= 500_000 and run["summary"]["size"] == figures["file"]["bytes"]
    assert run["summary"]["rows"] == figures["file"]["rows"] and run["summary"]["errors"] == 0
    assert 10 < figures["rss_max_mb"] and figures["mb_per_s"] > 0
    assert set(figures["targets"]) == {"rss", "rate"}
    assert "dataset check benchmark" in done.stdout and "peak RSS" in done.stdout
    assert list(tmp_path.iterdir()) == [out]  # the generated file is gone


def test_the_runner_shows_dataset_figures() -> None:
    sys.path.insert(0, str(BENCH))
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_runner", BENCH / "__main__.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    figures = {"file": {"bytes": 100_000_000}, "wall_s": 7.0, "check_s": 6.5,
               "targets": {"rate": {"value": 15.4, "target": ">= 5", "met": True},
                           "rss": {"value": 25.0, "target": "<= 100", "met": True}}}
    rows = runner.combined_rows({"dataset": figures})
    assert rows == [("dataset: check 100 MB of JSONL: wall, check itself (s)", "7.00, 6.50", "", ""),
                    ("dataset:   throughput of the check (MB/s)", "15.4", ">= 5", "yes"),
                    ("dataset:   peak RSS (MB)", "25", "<= 100", "yes")]
