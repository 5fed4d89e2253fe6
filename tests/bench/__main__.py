"""Run every benchmark and print one figures table: `python -m tests.bench` (what `make bench` runs).

    .venv/bin/python -m tests.bench [--only emulator,plan,status,apply,gcs,dataset,datasets] [--json-out FILE]
                                    [--strict] [--plan-manifests 10000] [--status-manifests 1000]
                                    [--apply-manifests 1000] [--gcs-manifests 200] [--dataset-megabytes 100]
                                    [--datasets-manifests 1000]

Each benchmark runs as its own subprocess (bench_emulator.py, bench_plan.py, bench_status.py, bench_apply.py,
bench_gcs.py, bench_dataset.py, bench_datasets.py, in that order) and prints its own table as it finishes; the
combined table comes last. Exit 0 unless a benchmark could not run, or --strict and a target was missed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EMULATOR_LINE = re.compile(r"emulator: (\d+) get/list requests from (\d+) threads in ([\d.]+)s = (\d+) requests/s"
                           r".*floor (\d+)/s")
BENCHMARKS = ("emulator", "plan", "status", "apply", "gcs", "dataset", "datasets")


def run_script(name: str, args: list[str], timeout: float) -> tuple[int, str, float]:
    command = [sys.executable, str(HERE / f"bench_{name}.py"), *args]
    print(f"\n=== bench_{name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"bench_{name} did not finish within {timeout:.0f}s", flush=True)
        return 124, "", time.perf_counter() - started
    print(done.stdout, end="", flush=True)
    return done.returncode, done.stdout, time.perf_counter() - started


def emulator_figures(returncode: int, stdout: str) -> dict[str, Any]:
    match = EMULATOR_LINE.search(stdout)
    if not match:
        return {"benchmark": "emulator", "error": f"exit {returncode}, no figures line", "targets": {}}
    requests, threads, seconds, rate, floor = match.groups()
    return {"benchmark": "emulator", "requests": int(requests), "threads": int(threads), "wall_s": float(seconds),
            "requests_per_s": float(rate),
            "targets": {"requests/s": {"value": float(rate), "target": f">= {floor}",
                                       "met": returncode == 0 and float(rate) >= float(floor)}}}


def combined_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []

    def target(name: str, figures: dict[str, Any], key: str, label: str, fmt: str) -> None:
        t = figures["targets"][key]
        rows.append((f"{name}: {label}", format(t["value"], fmt), t["target"], "yes" if t["met"] else "NO"))

    for name, figures in results.items():
        if figures.get("error"):
            rows.append((name, "did not run", figures["error"], "NO"))
        elif name == "emulator":
            target(name, figures, "requests/s", "get/list requests/s", ".0f")
        elif name == "plan":
            n, scopes = figures["manifests"], figures["scopes"]
            target(name, figures, "requests", f"{n} in sync, {scopes} scopes: HTTP requests", "d")
            target(name, figures, "wall", f"{n} in sync: wall time, median (s)", ".3f")
            target(name, figures, "rss", f"{n} in sync: peak RSS (MB)", ".0f")
            target(name, figures, "validate", f"validate {n} files: wall time, median (s)", ".3f")
            sdk = figures["sdk_loop"]
            rows.append((f"{name}: SDK tunings.get loop, {sdk['jobs']} jobs scaled to {n} (s)",
                         f"{sdk['scaled_wall_s']:.1f}", "", ""))
            target(name, figures, "speedup", "speed-up over the SDK loop (x)", ".1f")
            fallback = figures.get("fallback")
            if fallback:
                rows.append((f"{name}: {fallback['manifests']} jobs, label filter refused: requests, wall (s)",
                             f"{max(fallback['fallback']['requests'])}, {fallback['fallback']['wall_median_s']:.3f} "
                             f"(normal: {max(fallback['normal']['requests'])}, "
                             f"{fallback['normal']['wall_median_s']:.3f})", "", ""))
        elif name == "status":
            n = figures["manifests"]
            target(name, figures, "requests", f"{n} in flight: HTTP requests", "d")
            target(name, figures, "per_poll", f"{n} in flight: requests per poll of wait", ".1f")
            target(name, figures, "wall", f"{n} in flight: status wall time, median (s)", ".3f")
        elif name == "apply":
            for run in figures["runs"]:
                key = f"rate {run['rate_limit']:g}"
                rows.append((f"{name} {figures['manifests']} in {figures.get('regions', 1)} regions, --rate-limit "
                             f"{run['rate_limit']:g}: wall, per-region bound, 429s",
                             f"{run['wall_s']:.2f} s, {run['optimum_s']:.2f} s, {run['requests_429']}", "", ""))
                target(name, figures, f"{key}: wall/optimum", f"  {key}: wall / optimum", ".2f")
                target(name, figures, f"{key}: failures", f"  {key}: failures", "d")
                target(name, figures, f"{key}: duplicates", f"  {key}: duplicates", "d")
        elif name == "gcs":
            local, gcs = figures["summary"]["local"], figures["summary"]["gcs"]
            rows.append((f"{name} {figures['manifests']}: wall local | gcs, median (s)",
                         f"{local['wall_s']:.2f} | {gcs['wall_s']:.2f}", "", ""))
            rows.append((f"{name} {figures['manifests']}: requests local | gcs (state reads/writes, lock)",
                         f"{local['requests_total']:g} | {gcs['requests_total']:g} ({gcs['state_reads']:g}/"
                         f"{gcs['state_writes']:g}, {gcs['lock_requests']:g})", "", ""))
            target(name, figures, "overhead", "  gcs overhead, wall time (%)", "+.1f")
            target(name, figures, "correctness", "  failures + duplicates", "d")
        elif name == "dataset":
            rows.append((f"{name}: check {figures['file']['bytes'] / 1e6:.0f} MB of JSONL: wall, check itself (s)",
                         f"{figures['wall_s']:.2f}, {figures['check_s']:.2f}", "", ""))
            target(name, figures, "rate", "  throughput of the check (MB/s)", ".1f")
            target(name, figures, "rss", "  peak RSS (MB)", ".0f")
        elif name == "datasets":
            n = figures["manifests"]
            rows.append((f"{name}: plan of {n}, 1 shared | {n} own gs:// datasets: requests",
                         f"{max(figures['shared']['requests'])} | {max(figures['own']['requests'])}", "", ""))
            target(name, figures, "extra_requests", "  extra requests (one metadata GET per dataset)", "+d")
            rows.append((f"{name}: plan wall, median, 1 shared | {n} own (s), --latency-ms {figures['latency_ms']:g}",
                         f"{figures['shared']['wall_median_s']:.3f} | {figures['own']['wall_median_s']:.3f}", "", ""))
            rows.append((f"  overhead of {n} remote datasets", f"{figures['overhead_s']:+.3f} s "
                         f"({figures['overhead_pct']:+.1f} %)", "", ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--plan-manifests", type=int, default=10_000)
    parser.add_argument("--status-manifests", type=int, default=1000)
    parser.add_argument("--apply-manifests", type=int, default=1000)
    parser.add_argument("--gcs-manifests", type=int, default=200)
    parser.add_argument("--dataset-megabytes", type=float, default=100.0)
    parser.add_argument("--datasets-manifests", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800.0, help="bound on each benchmark (s)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if b in {s.strip() for s in options.only.split(",")}]
    if not chosen:
        parser.error(f"--only: choose from {', '.join(BENCHMARKS)}")

    sys.path.insert(0, str(HERE))
    import _harness as h

    results: dict[str, dict[str, Any]] = {}
    broken = False
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        for name in chosen:
            out = Path(scratch, f"{name}.json")
            if name == "emulator":
                code, stdout, _ = run_script(name, [], options.timeout)
                results[name] = emulator_figures(code, stdout)
                broken |= "error" in results[name]
                continue
            if name == "dataset":
                args = ["--megabytes", f"{options.dataset_megabytes:g}", "--json-out", str(out)]
            else:
                size = {"plan": options.plan_manifests, "status": options.status_manifests,
                        "apply": options.apply_manifests, "gcs": options.gcs_manifests,
                        "datasets": options.datasets_manifests}[name]
                args = ["--manifests", str(size), "--json-out", str(out)]
            code, _, _ = run_script(name, args, options.timeout)
            if code == 2 or not out.exists():
                results[name] = {"error": f"exit {code}", "targets": {}}
                broken = True
            else:
                results[name] = json.loads(out.read_text(encoding="utf-8"))
    h.print_table("all benchmarks", combined_rows(results))
    h.write_json(options.json_out, results)
    missed = any(not t["met"] for figures in results.values() for t in figures["targets"].values())
    return 2 if broken else (1 if options.strict and missed else 0)


if __name__ == "__main__":
    raise SystemExit(main())
