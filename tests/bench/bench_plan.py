"""Benchmark (issues 4, 13, 11): `reconciler plan` over N Vertex models live and in sync across S scopes, against a
loop of google-genai `client.tunings.get` on the same emulator; `validate` of the same files; and plan when the
service refuses label filters on tuningJobs.list (the client-side fallback), next to the normal plan.

1. Seed through the emulator's state file (`_seed`: one real apply per scope, cloned), so 10,000 take seconds;
   a first `plan --detailed-exitcode` checks that everything is in sync; the pages a refresh needs are counted
   per scope and collection at the largest page size.
2. Measure with the emulator at --latency-ms: `reconciler plan DIR` as a subprocess REPEATS times (wall time from
   spawn to exit, HTTP requests from the emulator's log, peak RSS from wait4); `reconciler validate DIR`; the
   interpreter and CLI start-up on their own; the SDK loop over --sdk-jobs jobs, scaled linearly to N.
3. The filter fallback: --fallback-manifests models in one scope, plan against the normal emulator and against one
   started with --reject-job-label-filter.

    .venv/bin/python tests/bench/bench_plan.py [--manifests 10000] [--scopes 4] [--latency-ms 20] [--repeats 3]
        [--sdk-jobs 1000] [--fallback-manifests 1000] [--workdir DIR] [--json-out FILE] [--strict]

Targets: requests <= pages + 3 per scope; plan wall (median) <= 2 s; >= 100x the SDK loop (scaled); peak RSS
<= 300 MB; validate (median) <= 2 s. Exit 0 unless --strict and a target is missed (a harness error exits 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

import _harness as h  # noqa: E402
import _seed  # noqa: E402
from tests.testing import cli  # noqa: E402
from tests.testing.emulators import EmulatorProcess  # noqa: E402

WALL_TARGET_S = 2.0
VALIDATE_TARGET_S = 2.0
SPEEDUP_TARGET = 100.0
RSS_TARGET_MB = 300.0
CONSTANT_PER_SCOPE = 3      # requests allowed above the pages needed, per scope
DATASETS = 1                # distinct gs:// datasets the manifests train on: one metadata GET each (issue 14)
COLLECTIONS = ("tuningJobs", "models", "endpoints")


# ---------------------------------------------------------------------------------------------- processes

def timed(*args: str, timeout: float, python: tuple[str, ...] | None = None,
          env: dict[str, str] | None = None) -> dict[str, Any]:
    """`reconciler ARGS` (or `python ARGS`): wall seconds from spawn to exit, exit code, peak RSS (MB, wait4)."""
    argv = [sys.executable, *python] if python is not None else cli.command(*args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=h_root(), env=cli.environment(env), stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise RuntimeError(f"{' '.join(argv[1:])} did not finish within {timeout:.0f}s")
            time.sleep(0.002)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"wall_s": wall, "code": process.returncode, "rss_mb": usage.ru_maxrss / 1024,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def h_root() -> Path:
    return Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------- seeding

def seed_or_reuse(work: Path, manifests: int, scopes: int, timeout: float) -> dict[str, Any]:
    return _seed.seed_or_reuse(work, manifests, scopes, job_duration=60, advance=86_400, noun="models", timeout=timeout)


def pages_needed(emu: EmulatorProcess, scopes: int) -> dict[str, dict[str, int]]:
    """Per scope and collection: items and pages of the managed listing at the largest page size."""
    figures: dict[str, dict[str, int]] = {}
    with h.api_client(emu.base_url) as http:
        for location in _seed.LOCATIONS[:scopes]:
            parent = f"projects/{h.PROJECT}/locations/{location}"
            for collection in COLLECTIONS:
                items, pages = h.list_all(http, f"/v1/{parent}/{collection}", collection,
                                          {"filter": h.MANAGED_FILTER})
                figures[f"{location} {collection}"] = {"items": len(items), "pages": pages}
    return figures


def job_names(directory: Path) -> list[str]:
    lock = json.loads((directory / _seed.LOCK_NAME).read_text(encoding="utf-8"))
    return sorted(e["current"]["job"] for e in lock["entries"].values())


# ---------------------------------------------------------------------------------------------- measuring

def measure_plan(emu: EmulatorProcess, directory: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """`repeats` plans with reconciler's caches warm (one untimed plan first), and one with them empty (`cold`: a
    first run, or the first after reconciler changed). The caches live in temporary directories of their own."""
    def plan(caches: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        emu.clear_requests()
        run = timed("plan", str(directory), "--api-endpoint", emu.base_url, "--detailed-exitcode", timeout=timeout,
                    env={"RECONCILER_CACHE_DIR": caches})
        if run["code"] != 0:
            raise RuntimeError(f"plan exited {run['code']} (not in sync?): {run['stderr'][-2000:] or run['stdout'][-2000:]}")
        return run, h.api_requests(emu.requests())

    walls, requests, rss, cpu = [], [], [], []
    last: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-plan-cold-") as cold_caches, \
            tempfile.TemporaryDirectory(prefix="bench-plan-warm-") as warm_caches:
        cold, _ = plan(cold_caches)
        h.log(f"  plan, caches empty: {cold['wall_s']:.3f}s ({cold['cpu_s']:.3f}s CPU), peak RSS {cold['rss_mb']:.0f} MB")
        plan(warm_caches)  # fills them
        for attempt in range(repeats):
            run, last = plan(warm_caches)
            walls.append(run["wall_s"])
            requests.append(len(last))
            rss.append(run["rss_mb"])
            cpu.append(run["cpu_s"])
            h.log(f"  plan run {attempt + 1}/{repeats}: {run['wall_s']:.3f}s ({run['cpu_s']:.3f}s CPU), {len(last)} "
                  f"requests, peak RSS {run['rss_mb']:.0f} MB")
    by_route = Counter(f"{e['method']} {_route(e['path'])} {e['status']}" for e in last)
    return {"wall_s": walls, "wall_median_s": h.median(walls), "cpu_s": cpu, "cpu_median_s": h.median(cpu),
            "requests": requests, "rss_mb": rss, "rss_max_mb": max(rss), "requests_by_route": dict(sorted(by_route.items())),
            "cold": {"wall_s": cold["wall_s"], "cpu_s": cold["cpu_s"], "rss_mb": cold["rss_mb"]}}


def measure_validate(directory: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """As measure_plan: `repeats` with the caches warm, one with them empty."""
    def validate(caches: str) -> dict[str, Any]:
        run = timed("validate", str(directory), timeout=timeout, env={"RECONCILER_CACHE_DIR": caches})
        if run["code"] != 0:
            raise RuntimeError(f"validate exited {run['code']}: {run['stdout'][-2000:]}")
        return run

    with tempfile.TemporaryDirectory(prefix="bench-validate-") as caches:
        cold = validate(caches)
        runs = [validate(caches) for _ in range(repeats)]
    walls, cpu = [r["wall_s"] for r in runs], [r["cpu_s"] for r in runs]
    return {"wall_s": walls, "wall_median_s": h.median(walls), "cpu_median_s": h.median(cpu),
            "cold_wall_s": cold["wall_s"]}


def measure_startup(repeats: int, timeout: float) -> dict[str, Any]:
    """What every command pays before its own work: the interpreter, and the CLI's imports (`--help`)."""
    python = h.median([timed(python=("-c", "pass"), timeout=timeout)["wall_s"] for _ in range(repeats)])
    cli_help = h.median([timed("--help", timeout=timeout)["wall_s"] for _ in range(repeats)])
    return {"python_s": python, "cli_help_s": cli_help}


def measure_sdk(emu: EmulatorProcess, names: list[str], deadline_s: float) -> dict[str, Any]:
    """What a user scripts today: one google-genai `tunings.get` per job, in a loop (one client per location)."""
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    clients: dict[str, Any] = {}

    def client(location: str) -> Any:
        if location not in clients:
            clients[location] = genai.Client(
                vertexai=True, project=h.PROJECT, location=location, credentials=Credentials(token="bench-token"),
                http_options=types.HttpOptions(base_url=f"{emu.base_url}/", api_version="v1"))
        return clients[location]

    client(names[0].split("/")[3]).tunings.get(name=names[0])    # warm-up (lazy imports), not counted
    emu.clear_requests()
    states: Counter[str] = Counter()
    started = time.perf_counter()
    for count, job in enumerate(names, start=1):
        states[str(client(job.split("/")[3]).tunings.get(name=job).state)] += 1
        if time.perf_counter() - started > deadline_s:
            raise RuntimeError(f"the SDK loop took over {deadline_s:.0f}s after {count} gets")
    wall = time.perf_counter() - started
    return {"jobs": len(names), "wall_s": wall, "requests": len(h.api_requests(emu.requests())),
            "states": dict(states)}


def _route(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 6 and parts[2] == "projects":
        return "/".join(parts[:2] + ["..."] + [parts[6]] + (["{id}"] if len(parts) > 7 else []))
    return path


def measure_fallback(work: Path, options: argparse.Namespace) -> dict[str, Any]:
    """Plan of --fallback-manifests models in one scope: normal, then with tuningJobs label filters refused."""
    seeded = seed_or_reuse(work, options.fallback_manifests, 1, options.timeout)
    directory, state_file = work / "manifests", work / "emulator-state.json"
    figures: dict[str, Any] = {"manifests": options.fallback_manifests, "seed_s": seeded["seed_s"]}
    for label, extra in (("normal", ()), ("fallback", ("--reject-job-label-filter",))):
        with EmulatorProcess("--state-file", str(state_file), "--latency-ms", str(options.latency_ms), *extra) as emu:
            h.log(f"plan of {options.fallback_manifests}, {label} listing")
            figures[label] = measure_plan(emu, directory, options.repeats, options.timeout)
    return figures


def run(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as scratch:
        work = Path(options.workdir) if options.workdir else Path(scratch)
        (work / "main").mkdir(parents=True, exist_ok=True)
        seeded = seed_or_reuse(work / "main", options.manifests, options.scopes, options.timeout)
        directory, state_file = work / "main" / "manifests", work / "main" / "emulator-state.json"
        with EmulatorProcess("--state-file", str(state_file), "--latency-ms", str(options.latency_ms)) as emu:
            h.log(f"measuring against {emu.base_url} at --latency-ms {options.latency_ms}")
            listing = pages_needed(emu, options.scopes)
            plan = measure_plan(emu, directory, options.repeats, options.timeout)
            names = job_names(directory)
            step = max(1, len(names) // max(1, options.sdk_jobs))
            sample = names[::step][:options.sdk_jobs]
            sdk = measure_sdk(emu, sample, options.timeout)
            h.log(f"SDK loop: {sdk['jobs']} gets in {sdk['wall_s']:.2f}s")
        validate = measure_validate(directory, options.repeats, options.timeout)
        startup = measure_startup(options.repeats, options.timeout)
        fallback = None
        if options.fallback_manifests:
            (work / "fallback").mkdir(parents=True, exist_ok=True)
            fallback = measure_fallback(work / "fallback", options)
    needed = sum(p["pages"] for p in listing.values())
    allowed = needed + CONSTANT_PER_SCOPE * options.scopes + DATASETS
    worst = max(plan["requests"])
    sdk_scaled = sdk["wall_s"] * options.manifests / sdk["jobs"]
    speedup = sdk_scaled / plan["wall_median_s"]
    return {
        "benchmark": "plan", "manifests": options.manifests, "scopes": options.scopes,
        "latency_ms": options.latency_ms, "listing": listing, "pages_needed": needed, "requests_allowed": allowed,
        "plan": plan, "sdk_loop": {**sdk, "scaled_to": options.manifests, "scaled_wall_s": sdk_scaled},
        "speedup": speedup, "validate": validate, "startup": startup, "fallback": fallback,
        "seed": {"wall_s": seeded["seed_s"], "template_apply_s": seeded["template_apply_s"]},
        "targets": {
            "requests": {"value": worst, "target": f"<= {allowed}", "met": worst <= allowed},
            "wall": {"value": plan["wall_median_s"], "target": f"<= {WALL_TARGET_S}",
                     "met": plan["wall_median_s"] <= WALL_TARGET_S},
            "speedup": {"value": speedup, "target": f">= {SPEEDUP_TARGET:g}", "met": speedup >= SPEEDUP_TARGET},
            "rss": {"value": plan["rss_max_mb"], "target": f"<= {RSS_TARGET_MB:g}",
                    "met": plan["rss_max_mb"] <= RSS_TARGET_MB},
            "validate": {"value": validate["wall_median_s"], "target": f"<= {VALIDATE_TARGET_S}",
                         "met": validate["wall_median_s"] <= VALIDATE_TARGET_S},
        },
    }


def report(figures: dict[str, Any]) -> None:
    plan, sdk, targets = figures["plan"], figures["sdk_loop"], figures["targets"]
    n = figures["manifests"]
    rows = [
        ("plan HTTP requests (each run)", "/".join(map(str, plan["requests"])),
         f"pages {figures['pages_needed']} + {CONSTANT_PER_SCOPE}/scope + {DATASETS} dataset = "
         f"{figures['requests_allowed']}",
         h.verdict(targets["requests"]["met"])),
        ("plan requests by route", "; ".join(f"{k} x{v}" for k, v in plan["requests_by_route"].items()), "", ""),
        (f"plan wall time, caches warm, median of {len(plan['wall_s'])} (CPU)", f"{plan['wall_median_s']:.3f} s "
         f"({plan['cpu_median_s']:.3f} s)",
         f"<= {WALL_TARGET_S} s", h.verdict(targets["wall"]["met"])),
        ("plan wall times", ", ".join(f"{w:.3f}" for w in plan["wall_s"]), "", ""),
        ("plan with reconciler's caches empty (not a target)", f"{plan['cold']['wall_s']:.3f} s "
         f"({plan['cold']['cpu_s']:.3f} s CPU), peak RSS {plan['cold']['rss_mb']:.0f} MB", "", ""),
        ("plan peak RSS (max of runs)", f"{plan['rss_max_mb']:.0f} MB", f"<= {RSS_TARGET_MB:g} MB",
         h.verdict(targets["rss"]["met"])),
        (f"validate of the {n} files, caches warm, median (CPU); caches empty", f"{figures['validate']['wall_median_s']:.3f} s "
         f"({figures['validate']['cpu_median_s']:.3f} s); {figures['validate']['cold_wall_s']:.3f} s",
         f"<= {VALIDATE_TARGET_S} s", h.verdict(targets["validate"]["met"])),
        ("start-up: python -c pass | reconciler --help", f"{figures['startup']['python_s']:.3f} s | "
         f"{figures['startup']['cli_help_s']:.3f} s", "", ""),
        (f"SDK tunings.get loop ({sdk['jobs']} jobs, measured)", f"{sdk['wall_s']:.2f} s ({sdk['requests']} requests)",
         "", ""),
        (f"SDK loop scaled linearly to {n} jobs", f"{sdk['scaled_wall_s']:.1f} s", "", ""),
        ("speed-up (scaled SDK loop / plan)", f"{figures['speedup']:.0f}x", f">= {SPEEDUP_TARGET:.0f}x",
         h.verdict(targets["speedup"]["met"])),
        (f"seeding through the state file ({figures['scopes']} template applies, cloned)",
         f"{figures['seed']['wall_s']:.1f} s", "", ""),
    ]
    fallback = figures.get("fallback")
    if fallback:
        for label in ("normal", "fallback"):
            run = fallback[label]
            rows.append((f"plan {fallback['manifests']} (1 scope), {label} listing: requests, wall median",
                         f"{'/'.join(map(str, run['requests']))}, {run['wall_median_s']:.3f} s", "", ""))
        rows.append(("  fallback requests by route", "; ".join(
            f"{k} x{v}" for k, v in fallback["fallback"]["requests_by_route"].items()), "", ""))
    h.print_table(f"plan benchmark: {n} Vertex models live and in sync in {figures['scopes']} scopes, emulator "
                  f"--latency-ms {figures['latency_ms']:g}", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=10_000)
    parser.add_argument("--scopes", type=int, default=4, choices=range(1, len(_seed.LOCATIONS) + 1))
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sdk-jobs", type=int, default=1000, help="jobs the SDK loop gets (scaled to --manifests)")
    parser.add_argument("--fallback-manifests", type=int, default=1000,
                        help="models of the label-filter fallback comparison (0: skip it)")
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on every subprocess and loop (s)")
    parser.add_argument("--workdir", help="keep manifests, lock and emulator state here, and reuse them on the "
                                          "next run with the same sizes (default: a temp dir)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    if options.manifests < options.scopes:
        parser.error("--manifests must be at least --scopes")
    return h.finish("bench_plan", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
