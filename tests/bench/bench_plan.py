"""Benchmark (issue 4): `reconciler plan` over N Vertex manifests already live and in sync, against a loop of
google-genai `client.tunings.get` over the same jobs, side by side on the same emulator.

1. Seed: an emulator without latency and with a --state-file; `reconciler apply --yes` on the N manifests
   (so the live state and the lock file are exactly what apply produces); advance the clock so every job
   succeeds; check that a plan now says "no changes"; count the pages a refresh needs at the largest page size.
2. Measure: restart the emulator from the same state file with --latency-ms; run `reconciler plan DIR
   --api-endpoint URL` as a subprocess REPEATS times (wall time from spawn to exit; HTTP requests from the
   emulator's request log); then a google-genai Vertex client loop of `tunings.get(name=...)` over every job.

    .venv/bin/python tests/bench/bench_plan.py [--manifests 1000] [--latency-ms 20] [--repeats 3]
                                               [--workdir DIR] [--json-out FILE] [--strict]

Targets: plan requests <= pages needed + a small constant per scope (here: 3 per scope, one per listing);
plan wall time <= 2 s; plan >= 20x faster than the SDK loop. Exit 0 unless --strict and a target is missed
(a harness error, such as a plan that does not come out "no changes", always exits 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

import _harness as h  # noqa: E402
from tests.testing import cli  # noqa: E402
from tests.testing.emulators import EmulatorProcess  # noqa: E402
from tests.testing.manifests import write_manifests  # noqa: E402

WALL_TARGET_S = 2.0
SPEEDUP_TARGET = 20.0
CONSTANT_PER_SCOPE = 3      # requests allowed above the pages needed, per scope
SCOPES = 1                  # every bench manifest lives in one (project, location)


def seed(directory: Path, state_file: Path, manifests: int, timeout: float) -> dict[str, Any]:
    """Make the N manifests live and in sync through `reconciler apply`; return the listing facts."""
    names, _ = write_manifests(directory, manifests, project=h.PROJECT, location=h.LOCATION)
    with EmulatorProcess("--state-file", str(state_file)) as emu:
        h.log(f"seeding {manifests} jobs with `reconciler apply --yes` on {emu.base_url} (no latency)")
        run = cli.run("apply", str(directory), "--yes", "--api-endpoint", emu.base_url,
                      "--rate-limit", "100000", "--parallelism", "16", timeout=timeout)
        if run.returncode != 0:
            raise RuntimeError("seeding failed: " + run.describe())
        seed_requests = len(emu.requests())
        h.log(f"seeded in {run.seconds:.1f}s ({seed_requests} requests); advancing the clock so every job succeeds")
        emu.advance(24 * 3600)
        with h.api_client(emu.base_url) as http:
            needed = h.pages_needed(http)
            jobs, _ = h.list_all(http, f"/v1/{h.PARENT}/tuningJobs", "tuningJobs", {"filter": h.MANAGED_FILTER})
        states = Counter(job.get("state") for job in jobs)
        if states != Counter({"JOB_STATE_SUCCEEDED": manifests}):
            raise RuntimeError(f"expected {manifests} succeeded jobs, found {dict(states)}")
        check = cli.run("plan", str(directory), "--api-endpoint", emu.base_url, "--detailed-exitcode",
                        timeout=timeout)
        if check.returncode != 0:
            raise RuntimeError("the seeded state is not in sync: " + check.describe())
    return {"names": names, "jobs": sorted(job["name"] for job in jobs), "pages": needed,
            "apply_s": run.seconds, "apply_requests": seed_requests}


def seed_or_reuse(work: Path, manifests: int, timeout: float) -> dict[str, Any]:
    """Seed, or reuse what an earlier run seeded in the same --workdir (seeding 1,000 is the slow part)."""
    directory, state_file, marker = work / "manifests", work / "emulator-state.json", work / "seeded.json"
    if marker.exists() and state_file.exists():
        seeded = json.loads(marker.read_text(encoding="utf-8"))
        if seeded.get("manifests") == manifests:
            h.log(f"reusing the {manifests} jobs seeded in {work}")
            return seeded
    if directory.exists() or state_file.exists():
        raise RuntimeError(f"{work} holds something other than a seeded state of {manifests} manifests; "
                           "give an empty --workdir")
    seeded = {"manifests": manifests, **seed(directory, state_file, manifests, timeout)}
    marker.write_text(json.dumps(seeded), encoding="utf-8")
    return seeded


def measure_plan(emu: EmulatorProcess, directory: Path, repeats: int, timeout: float) -> dict[str, Any]:
    walls, requests = [], []
    for attempt in range(repeats):
        emu.clear_requests()
        run = cli.run("plan", str(directory), "--api-endpoint", emu.base_url, timeout=timeout)
        if run.returncode != 0:
            raise RuntimeError("plan failed: " + run.describe())
        log = h.api_requests(emu.requests())
        walls.append(run.seconds)
        requests.append(log)
        h.log(f"plan run {attempt + 1}/{repeats}: {run.seconds:.3f}s, {len(log)} requests")
    last = requests[-1]
    by_route = Counter(f"{e['method']} {_route(e['path'])}" for e in last)
    return {"wall_s": walls, "wall_median_s": h.median(walls), "requests": [len(r) for r in requests],
            "requests_by_route": dict(sorted(by_route.items())),
            "non_200": sum(1 for e in last if e.get("status") != 200)}


def _route(path: str) -> str:
    """/v1/projects/P/locations/L/tuningJobs/123 -> /v1/.../tuningJobs/{id}."""
    parts = path.split("/")
    if len(parts) > 6 and parts[2] == "projects":
        return "/".join(parts[:2] + ["..."] + [parts[6]] + (["{id}"] if len(parts) > 7 else []))
    return path


def measure_sdk(emu: EmulatorProcess, job_names: list[str], deadline_s: float) -> dict[str, Any]:
    """What a user scripts today: one google-genai `tunings.get` per job, in a loop."""
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    client = genai.Client(vertexai=True, project=h.PROJECT, location=h.LOCATION,
                          credentials=Credentials(token="bench-token"),
                          http_options=types.HttpOptions(base_url=f"{emu.base_url}/", api_version="v1"))
    emu.clear_requests()
    states: Counter[str] = Counter()
    started = time.perf_counter()
    for count, name in enumerate(job_names, start=1):
        states[str(client.tunings.get(name=name).state)] += 1
        if time.perf_counter() - started > deadline_s:
            raise RuntimeError(f"the SDK loop took over {deadline_s:.0f}s after {count} gets")
    wall = time.perf_counter() - started
    log = h.api_requests(emu.requests())
    return {"jobs": len(job_names), "wall_s": wall, "requests": len(log), "states": dict(states)}


def run(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as scratch:
        work = Path(options.workdir) if options.workdir else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        directory, state_file = work / "manifests", work / "emulator-state.json"
        seeded = seed_or_reuse(work, options.manifests, options.timeout)
        pages = seeded["pages"]
        needed = sum(p["pages"] for p in pages.values())
        with EmulatorProcess("--state-file", str(state_file), "--latency-ms", str(options.latency_ms)) as emu:
            h.log(f"measuring against {emu.base_url} at --latency-ms {options.latency_ms}")
            plan = measure_plan(emu, directory, options.repeats, options.timeout)
            sdk = measure_sdk(emu, seeded["jobs"], options.timeout)
            h.log(f"SDK loop: {sdk['jobs']} gets in {sdk['wall_s']:.2f}s")
    allowed = needed + CONSTANT_PER_SCOPE * SCOPES
    worst_requests = max(plan["requests"])
    speedup = sdk["wall_s"] / plan["wall_median_s"]
    return {
        "benchmark": "plan", "manifests": options.manifests, "latency_ms": options.latency_ms,
        "scopes": SCOPES, "listing": pages, "pages_needed": needed, "requests_allowed": allowed,
        "plan": plan, "sdk_loop": sdk, "speedup": speedup,
        "seed_apply": {"wall_s": seeded["apply_s"], "requests": seeded["apply_requests"]},
        "targets": {
            "requests": {"value": worst_requests, "target": f"<= {allowed}", "met": worst_requests <= allowed},
            "wall": {"value": plan["wall_median_s"], "target": f"<= {WALL_TARGET_S}",
                     "met": plan["wall_median_s"] <= WALL_TARGET_S},
            "speedup": {"value": speedup, "target": f">= {SPEEDUP_TARGET}", "met": speedup >= SPEEDUP_TARGET},
        },
    }


def report(figures: dict[str, Any]) -> None:
    plan, sdk, targets = figures["plan"], figures["sdk_loop"], figures["targets"]
    listing = ", ".join(f"{k} {v['items']} in {v['pages']}" for k, v in figures["listing"].items())
    h.print_table(
        f"plan benchmark: {figures['manifests']} Vertex manifests live and in sync, emulator --latency-ms "
        f"{figures['latency_ms']}, {figures['scopes']} scope ({listing})",
        [("plan HTTP requests (each run)", "/".join(map(str, plan["requests"])),
          f"pages {figures['pages_needed']} + {CONSTANT_PER_SCOPE}/scope = {figures['requests_allowed']}",
          h.verdict(targets["requests"]["met"])),
         ("plan requests by route", "; ".join(f"{k} x{v}" for k, v in plan["requests_by_route"].items()), "", ""),
         ("plan wall time, median of {}".format(len(plan["wall_s"])), f"{plan['wall_median_s']:.3f} s",
          f"<= {WALL_TARGET_S} s", h.verdict(targets["wall"]["met"])),
         ("plan wall times", ", ".join(f"{w:.3f}" for w in plan["wall_s"]), "", ""),
         (f"SDK tunings.get loop ({sdk['jobs']} jobs)", f"{sdk['wall_s']:.2f} s ({sdk['requests']} requests)",
          "", ""),
         (f"seeding: apply --yes of {figures['manifests']} manifests, no latency, no quota",
          f"{figures['seed_apply']['wall_s']:.1f} s ({figures['seed_apply']['requests']} requests)", "", ""),
         ("speed-up (SDK loop / plan)", f"{figures['speedup']:.1f}x", f">= {SPEEDUP_TARGET:.0f}x",
          h.verdict(targets["speedup"]["met"]))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on every subprocess and loop (s)")
    parser.add_argument("--workdir", help="keep manifests, lock and emulator state here, and reuse them on the "
                                          "next run with the same --manifests (default: a temp dir)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    return h.finish("bench_plan", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
