"""Benchmark (issues 5, 13): `reconciler apply --yes` (detached) of N new manifests spread over R regions, against
an emulator that enforces a requests-per-second quota per quota bucket (each Vertex region, the Gemini API) with
429 + Retry-After, at several client `--rate-limit` settings (per bucket, as the flag means).

For each rate limit: a fresh emulator (`--latency-ms 20 --quota-rps 50` by default) and a fresh copy of the
manifests; `reconciler apply DIR --yes --api-endpoint URL --rate-limit R` as a subprocess, timed from spawn
to exit. From the emulator's request log: the requests the apply needed (everything but the 429s) per quota
bucket, and the 429s. The quota-bound optimum is the busiest bucket's needed requests / quota-rps seconds (the
per-region bound: the buckets fill in parallel); the figure is wall time / optimum. Then every manifest's live
jobs are counted from listings (Vertex: by ownership label, per region; Gemini API: by tuned model id).

    .venv/bin/python tests/bench/bench_apply.py [--manifests 1000] [--regions 4] [--gemini 50]
                        [--rate-limits 50,100] [--latency-ms 20] [--quota-rps 50] [--json-out FILE] [--strict]

Targets: wall / optimum <= 1.3, exit 0 with every outcome done, exactly 1 job per manifest. Exit 0 unless
--strict and a target is missed (a harness error always exits 2).
"""

from __future__ import annotations

import argparse
import re
import shutil
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
from tests.testing.manifests import gemini_manifest  # noqa: E402

RATIO_TARGET = 1.3
SUMMARY = re.compile(r"^Apply: (.*)\.$")                  # "Apply: 198 done, 2 failed."
SUMMARY_PART = re.compile(r"(\d+) (\w+)")


def apply_once(source: Path, work: Path, rate_limit: float, options: argparse.Namespace,
               names: tuple[list[str], list[str]]) -> dict[str, Any]:
    directory = work / f"rate-{rate_limit:g}"
    shutil.copytree(source, directory)
    args = ["--latency-ms", str(options.latency_ms), "--quota-rps", str(options.quota_rps)]
    with EmulatorProcess(*args) as emu:
        argv = ["apply", str(directory), "--yes", "--api-endpoint", emu.base_url,
                "--rate-limit", f"{rate_limit:g}"]
        if options.parallelism:
            argv += ["--parallelism", str(options.parallelism)]
        h.log(f"apply of {sum(map(len, names))} manifests at --rate-limit {rate_limit:g} on {emu.base_url}")
        run = cli.run(*argv, timeout=options.timeout)
        log = h.api_requests(emu.requests())
        time.sleep(0.2)                  # a few quota tokens back before the (uncounted) listing
        with h.api_client(emu.base_url) as http:
            per_manifest = jobs_per_manifest(http, options.regions, *names)
    throttled = [e for e in log if e.get("status") == 429]
    needed = len(log) - len(throttled)
    by_bucket = Counter(_bucket(e["path"]) for e in log if e.get("status") != 429)
    optimum = max(by_bucket.values(), default=0) / options.quota_rps
    outcomes = _outcomes(run.stdout)
    failed_lines = [line for line in run.stdout.splitlines() if "fail" in line.lower()]
    by_route = Counter(f"{e['method']} {_route(e)}" for e in log if e.get("status") != 429)
    jobs_hist = Counter(per_manifest.values())
    figures = {
        "rate_limit": rate_limit, "exit_code": run.returncode, "wall_s": run.seconds,
        "requests_needed": needed, "requests_429": len(throttled), "requests_total": len(log),
        "requests_other_errors": sum(1 for e in log if e.get("status") not in (200, 429)),
        "requests_by_route": dict(sorted(by_route.items())),
        "requests_by_bucket": dict(sorted(by_bucket.items())),
        "throttled_by_bucket": dict(sorted(Counter(_bucket(e["path"]) for e in throttled).items())),
        "optimum_s": optimum, "ratio": run.seconds / optimum if optimum else float("inf"),
        "outcomes": dict(outcomes), "failed_lines": failed_lines[:10],
        "jobs_per_manifest": {str(k): v for k, v in sorted(jobs_hist.items())},
        "duplicates": sum(max(0, n - 1) for n in per_manifest.values()),
        "missing": sorted(name for name, n in per_manifest.items() if n == 0)[:20],
        "request_span_s": _span(log),
    }
    if run.returncode != 0:
        figures["stderr_tail"] = run.stderr.strip().splitlines()[-10:]
    h.log(f"  {run.seconds:.2f}s, exit {run.returncode}, {needed} requests + {len(throttled)} x 429, "
          f"ratio {figures['ratio']:.2f}, duplicates {figures['duplicates']}")
    return figures


def write_manifests(directory: Path, vertex: int, gemini: int, regions: int) -> tuple[list[str], list[str]]:
    """`vertex` manifests spread round-robin over `regions` (project and location in each), and `gemini` ones."""
    per_region = [vertex // regions + (1 if r < vertex % regions else 0) for r in range(regions)]
    vertex_names = [n for names in _seed.write_manifests(directory, per_region).values() for n in names]
    gemini_names = [f"bench-g{index:04d}" for index in range(gemini)]
    for name in gemini_names:
        (directory / f"{name}.yaml").write_text(gemini_manifest(
            name, display=name, examples=[(f"{name} q{row}", f"a{row}") for row in range(3)], epochs=1,
            batch_size=4, learning_rate=None), encoding="utf-8")
    return vertex_names, gemini_names


def jobs_per_manifest(http: Any, regions: int, vertex_names: list[str], gemini_names: list[str]) -> dict[str, int]:
    """Live jobs (Vertex, by ownership label, in every region) or tuned models (Gemini API, by id) per manifest."""
    counts: Counter[str] = Counter()
    for location in _seed.LOCATIONS[:regions]:
        jobs, _ = h.list_all(http, f"/v1/projects/{h.PROJECT}/locations/{location}/tuningJobs", "tuningJobs")
        for job in jobs:
            labels = job.get("labels") or {}
            if labels.get("managed-by") == "reconciler":
                counts[labels.get("reconciler-name", "")] += 1
    if gemini_names:
        models, _ = h.list_all(http, "/v1beta/tunedModels", "tunedModels")
        for model in models:
            counts[model.get("name", "").removeprefix("tunedModels/").rsplit("-", 1)[0]] += 1
    return {name: counts.get(name, 0) for name in [*vertex_names, *gemini_names]}


def _bucket(path: str) -> str:
    """The emulator's quota bucket of a call: the Vertex region, or the Gemini API."""
    parts = path.split("/")
    return parts[5] if len(parts) > 5 and parts[2] == "projects" else "gemini-api"


def _outcomes(stdout: str) -> dict[str, int]:
    """The counts of apply's closing summary line, e.g. {"done": 198, "failed": 2}."""
    for line in reversed(stdout.splitlines()):
        match = SUMMARY.match(line.strip())
        if match:
            return {status: int(n) for n, status in SUMMARY_PART.findall(match.group(1))}
    return {}


def _route(entry: dict[str, Any]) -> str:
    parts = entry["path"].split("/")
    if len(parts) > 6 and parts[2] == "projects":
        return "/".join(parts[:2] + ["...", parts[6]] + (["{id}"] if len(parts) > 7 else []))
    if entry["path"].startswith("/v1beta/tunedModels/"):
        return "/v1beta/tunedModels/{id}" + ("/operations" if "/operations" in entry["path"] else "")
    return entry["path"]


def _span(log: list[dict[str, Any]]) -> float | None:
    """Seconds between the first and the last API request the emulator saw (its own clock)."""
    from datetime import datetime

    stamps = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in log if e.get("time")]
    return (max(stamps) - min(stamps)).total_seconds() if stamps else None


def run(options: argparse.Namespace) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as scratch:
        work = Path(options.workdir) if options.workdir else Path(scratch)
        source = work / "manifests"
        names = write_manifests(source, options.manifests - options.gemini, options.gemini, options.regions)
        for rate_limit in options.rate_limits:
            results.append(apply_once(source, work, rate_limit, options, names))
    targets = {}
    for result in results:
        key = f"rate {result['rate_limit']:g}"
        done = result["outcomes"].get("done", 0)
        targets[f"{key}: wall/optimum"] = {"value": result["ratio"], "target": f"<= {RATIO_TARGET}",
                                           "met": result["ratio"] <= RATIO_TARGET}
        targets[f"{key}: failures"] = {"value": options.manifests - done, "target": "0 (exit 0, all done)",
                                       "met": result["exit_code"] == 0 and done == options.manifests}
        targets[f"{key}: duplicates"] = {"value": result["duplicates"], "target": "0, and 1 job per manifest",
                                         "met": result["duplicates"] == 0 and not result["missing"]}
    return {"benchmark": "apply", "manifests": options.manifests, "gemini": options.gemini, "regions": options.regions,
            "vertex": options.manifests - options.gemini, "latency_ms": options.latency_ms,
            "quota_rps": options.quota_rps, "parallelism": options.parallelism or "default",
            "runs": results, "targets": targets}


def report(figures: dict[str, Any]) -> None:
    rows = []
    for result in figures["runs"]:
        key = f"--rate-limit {result['rate_limit']:g}"
        ratio_ok = result["ratio"] <= RATIO_TARGET
        done = result["outcomes"].get("done", 0)
        rows += [
            (f"{key}: wall time", f"{result['wall_s']:.2f} s", "", ""),
            (f"{key}: requests needed (non-429)", str(result["requests_needed"]), "", ""),
            *((f"{key}:   {route}", str(count), "", "") for route, count in result["requests_by_route"].items()),
            (f"{key}: requests per quota bucket (429s)", ", ".join(
                f"{b} {n} ({result['throttled_by_bucket'].get(b, 0)})" for b, n in result["requests_by_bucket"].items()),
             "", ""),
            (f"{key}: per-region bound (busiest bucket)", f"{result['optimum_s']:.2f} s "
             f"({max(result['requests_by_bucket'].values(), default=0)} / {figures['quota_rps']:g} rps)", "", ""),
            (f"{key}: wall / optimum", f"{result['ratio']:.2f}x", f"<= {RATIO_TARGET}x", h.verdict(ratio_ok)),
            (f"{key}: 429s seen", str(result["requests_429"]), "", ""),
            (f"{key}: exit code, outcomes", f"{result['exit_code']}, " + ", ".join(
                f"{n} {k}" for k, n in sorted(result["outcomes"].items())), "0, all done",
             h.verdict(result["exit_code"] == 0 and done == figures["manifests"])),
            (f"{key}: jobs per manifest", ", ".join(f"{n} manifests x{k}" for k, n in
                                                    result["jobs_per_manifest"].items()),
             "exactly 1 each", h.verdict(result["duplicates"] == 0 and not result["missing"])),
        ]
    h.print_table(f"apply benchmark: {figures['manifests']} new manifests ({figures['vertex']} Vertex in "
                  f"{figures['regions']} regions, "
                  f"{figures['gemini']} Gemini API), emulator --latency-ms {figures['latency_ms']:g} "
                  f"--quota-rps {figures['quota_rps']:g} per region, --parallelism {figures['parallelism']}", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(_seed.LOCATIONS) + 1),
                        help="Vertex regions the manifests are spread over (one quota bucket each)")
    parser.add_argument("--gemini", type=int, help="how many of the manifests are Gemini API ones "
                                                   "(default: 1 in 20)")
    parser.add_argument("--rate-limits", default="50,100",
                        type=lambda s: [float(x) for x in s.split(",") if x.strip()],
                        help="client --rate-limit values to try, comma-separated")
    parser.add_argument("--quota-rps", type=float, default=50.0)
    h.apply_arguments(parser)
    options = parser.parse_args(argv)
    h.gemini_share(parser, options)
    return h.finish("bench_apply", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
