"""Benchmark (issue 13): `reconciler status` and one poll of `reconciler wait` over N Vertex jobs in flight.

Seeded through the emulator's state file (`_seed`: one real apply per scope, cloned; hour-long jobs, the clock
not advanced, so every job is still queued or running). Then, at --latency-ms: `reconciler status DIR` as a
subprocess REPEATS times (wall time from spawn to exit, HTTP requests from the emulator's log), and
`reconciler wait DIR --timeout T` with a short poll interval, whose requests divided by its polls give the
requests per poll (a poll is one tuningJobs listing per scope, counted by its first page).

    .venv/bin/python tests/bench/bench_status.py [--manifests 1000] [--scopes 1] [--latency-ms 20] [--repeats 3]
        [--workdir DIR] [--json-out FILE] [--strict]

Targets: status wall (median) <= 1 s; requests per poll <= pages + 3 per scope. Before issue 13: 300 jobs took
300 sequential GETs and 6.8 s.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

import _harness as h  # noqa: E402
import _seed  # noqa: E402
from bench_plan import timed  # noqa: E402
from tests.testing.emulators import EmulatorProcess  # noqa: E402

WALL_TARGET_S = 1.0
CONSTANT_PER_SCOPE = 3
JOB_DURATION = 36_000.0      # ten virtual hours: nothing ends while measuring


def seed_or_reuse(work: Path, manifests: int, scopes: int, timeout: float) -> dict[str, Any]:
    return _seed.seed_or_reuse(work, manifests, scopes, job_duration=JOB_DURATION, advance=0, noun="jobs in flight", timeout=timeout)


def run(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-status-") as scratch:
        work = Path(options.workdir) if options.workdir else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        seeded = seed_or_reuse(work, options.manifests, options.scopes, options.timeout)
        directory, state_file = work / "manifests", work / "emulator-state.json"
        with EmulatorProcess("--state-file", str(state_file), "--latency-ms", str(options.latency_ms),
                             "--job-duration", str(JOB_DURATION)) as emu:
            h.log(f"measuring against {emu.base_url} at --latency-ms {options.latency_ms}")
            walls, cpu, requests, states = [], [], [], Counter()
            routes: Counter[str] = Counter()
            for attempt in range(options.repeats):
                emu.clear_requests()
                done = timed("status", str(directory), "--api-endpoint", emu.base_url, timeout=options.timeout)
                if done["code"] != 0:
                    raise RuntimeError(f"status exited {done['code']}: {done['stderr'][-2000:]}")
                log = h.api_requests(emu.requests())
                walls.append(done["wall_s"])
                cpu.append(done["cpu_s"])
                requests.append(len(log))
                routes = Counter(f"{e['method']} {e['path'].rsplit('/', 1)[-1]} {e['status']}" for e in log)
                states = Counter(word for line in done["stdout"].splitlines()[1:] for word in line.split()[1:2])
                h.log(f"  status run {attempt + 1}/{options.repeats}: {done['wall_s']:.3f}s, {len(log)} requests")
            emu.clear_requests()
            waited = timed("wait", str(directory), "--api-endpoint", emu.base_url, "--timeout",
                           str(options.wait_seconds), timeout=options.timeout)
            log = h.api_requests(emu.requests())
            polls = sum(1 for e in log if e["path"].endswith("/tuningJobs") and "pageToken" not in e["query"])
            polls //= max(1, options.scopes)
    per_scope_pages = math.ceil(max(seeded["per_scope"]) / h.MAX_PAGE_SIZE)
    pages = sum(math.ceil(n / h.MAX_PAGE_SIZE) for n in seeded["per_scope"])
    allowed = pages + CONSTANT_PER_SCOPE * options.scopes
    per_poll = len(log) / polls if polls else float("inf")
    return {
        "benchmark": "status", "manifests": options.manifests, "scopes": options.scopes,
        "latency_ms": options.latency_ms, "seed_s": seeded["seed_s"], "pages": pages,
        "pages_per_scope": per_scope_pages, "requests_allowed": allowed,
        "status": {"wall_s": walls, "wall_median_s": h.median(walls), "cpu_median_s": h.median(cpu),
                   "requests": requests, "requests_by_route": dict(sorted(routes.items())),
                   "states": dict(states)},
        "wait": {"seconds": options.wait_seconds, "code": waited["code"], "requests": len(log), "polls": polls,
                 "requests_per_poll": per_poll},
        "targets": {
            "wall": {"value": h.median(walls), "target": f"<= {WALL_TARGET_S}", "met": h.median(walls) <= WALL_TARGET_S},
            "requests": {"value": max(requests), "target": f"<= {allowed}", "met": max(requests) <= allowed},
            "per_poll": {"value": per_poll, "target": f"<= {allowed}", "met": per_poll <= allowed},
        },
    }


def report(figures: dict[str, Any]) -> None:
    status, wait, targets = figures["status"], figures["wait"], figures["targets"]
    h.print_table(
        f"status benchmark: {figures['manifests']} Vertex jobs in flight in {figures['scopes']} scope(s), emulator "
        f"--latency-ms {figures['latency_ms']:g} (before: 300 jobs = 300 requests, 6.8 s)",
        [("status HTTP requests (each run)", "/".join(map(str, status["requests"])),
          f"pages {figures['pages']} + {CONSTANT_PER_SCOPE}/scope = {figures['requests_allowed']}",
          h.verdict(targets["requests"]["met"])),
         ("status requests by route", "; ".join(f"{k} x{v}" for k, v in status["requests_by_route"].items()), "", ""),
         (f"status wall time, median of {len(status['wall_s'])} (CPU)",
          f"{status['wall_median_s']:.3f} s ({status['cpu_median_s']:.3f} s)", f"<= {WALL_TARGET_S} s",
          h.verdict(targets["wall"]["met"])),
         ("status wall times", ", ".join(f"{w:.3f}" for w in status["wall_s"]), "", ""),
         ("states shown", ", ".join(f"{k} x{v}" for k, v in sorted(status["states"].items())), "", ""),
         (f"wait --timeout {wait['seconds']:g}: requests / polls", f"{wait['requests']} / {wait['polls']} = "
          f"{wait['requests_per_poll']:.1f} per poll", f"<= {figures['requests_allowed']}",
          h.verdict(targets["per_poll"]["met"])),
         ("seeding through the state file", f"{figures['seed_s']:.1f} s", "", "")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--scopes", type=int, default=1, choices=range(1, len(_seed.LOCATIONS) + 1))
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wait-seconds", type=float, default=3.0, help="how long the `wait` run follows the jobs")
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on every subprocess and loop (s)")
    parser.add_argument("--workdir", help="keep manifests, lock and emulator state here, and reuse them")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    if options.manifests < options.scopes:
        parser.error("--manifests must be at least --scopes")
    return h.finish("bench_status", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
