"""Benchmark: the overhead of the gcs state backend over local state, on `reconciler apply --yes` (detached) of N new
manifests against an emulator with `--latency-ms 20` on every request, Cloud Storage included.

The same manifests (the apply benchmark's: 1 in 20 on the Gemini API) and the same reconciler.yaml but for
`state:` — `{backend: local}` against `{backend: gcs, bucket: bench-state, prefix: bench}` — each run on a fresh
emulator and a fresh copy of the manifests (the bucket created beforehand and not counted), REPEATS times,
alternating local and gcs. From the emulator's request log: state-object reads and writes, run-lock requests,
the tuning API requests and the total. Wall time is from spawn to exit (median of the repeats). After each gcs run,
the cost of one state-object write is measured from this process: the final state's bytes uploaded 20 times (to 20
distinct names: one name takes about one write a second) on the same emulator, its latency included.

    .venv/bin/python tests/bench/bench_gcs.py [--manifests 200] [--gemini 10] [--repeats 3] [--latency-ms 20]
                                              [--parallelism N] [--workdir DIR] [--json-out FILE] [--strict]

Target: gcs wall time <= 1.10 x local (overhead <= 10 %); both exit 0 with exactly one job per manifest.
Exit 0 unless --strict and a target is missed (a harness error always exits 2).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

import _harness as h  # noqa: E402
from tests.testing import cli  # noqa: E402
from tests.testing.emulators import EmulatorProcess  # noqa: E402
from tests.testing.manifests import write_manifests  # noqa: E402

OVERHEAD_TARGET = 10.0                     # percent of the local backend's median wall time
BUCKET, PREFIX = "bench-state", "bench"
STATE_OBJECT = f"{PREFIX}/default/reconciler.lock"
LOCK_OBJECT = f"{STATE_OBJECT}.lock"
STORAGE_AUTH = {"Authorization": "Bearer bench-token"}
WRITE_SAMPLES = 20


def configure(directory: Path, backend: str) -> None:
    state = (f"state: {{backend: gcs, bucket: {BUCKET}, prefix: {PREFIX}}}\n" if backend == "gcs"
             else "state: {backend: local}\n")
    (directory / "reconciler.yaml").write_text(
        f"stack: bench\ndefaults: {{project: {h.PROJECT}, location: {h.LOCATION}}}\n{state}", encoding="utf-8")


def classify(entry: dict[str, Any]) -> str:
    """state-read / state-write / lock-<create|renew|read|release> / storage-other / api."""
    path, method = entry["path"], entry["method"]
    query = dict(parse_qsl(entry.get("query", ""), keep_blank_values=True))
    if path.startswith("/upload/"):
        name = query.get("name", "")
        if name == LOCK_OBJECT:
            return "lock-create" if query.get("ifGenerationMatch") == "0" else "lock-renew"
        return "state-write" if name == STATE_OBJECT else "storage-other"
    if path.startswith(("/download/", "/storage/")):
        if path.endswith("/o/" + LOCK_OBJECT):
            return "lock-release" if method == "DELETE" else "lock-read"
        if path.endswith("/o/" + STATE_OBJECT):
            return "state-read" if method == "GET" else "storage-other"
        return "dataset-read" if method == "GET" and "/o/" in path else "storage-other"
    return "api"


def apply_once(source: Path, work: Path, backend: str, repeat: int, options: argparse.Namespace,
               names: tuple[list[str], list[str]]) -> dict[str, Any]:
    directory = work / f"{backend}-{repeat}"
    shutil.copytree(source, directory)
    configure(directory, backend)
    with EmulatorProcess("--latency-ms", str(options.latency_ms), "--job-duration", "3600") as emu:
        with h.api_client(emu.base_url) as http:
            if backend == "gcs":
                http.post("/storage/v1/b", params={"project": h.PROJECT}, json={"name": BUCKET}).raise_for_status()
            emu.clear_requests()
            argv = ["apply", str(directory), "--yes", "--api-endpoint", emu.base_url]
            if options.parallelism:
                argv += ["--parallelism", str(options.parallelism)]
            run = cli.run(*argv, timeout=options.timeout)
            log = h.api_requests(emu.requests())
            per_manifest = h.jobs_per_manifest(http, *names)
            cost = _write_cost(http) if backend == "gcs" and run.returncode == 0 else {}
    kinds = Counter(classify(entry) for entry in log)
    figures = {
        "backend": backend, "repeat": repeat, "exit_code": run.returncode, "wall_s": run.seconds,
        "requests_total": len(log), "requests_api": kinds["api"],
        "state_reads": kinds["state-read"], "state_writes": kinds["state-write"],
        "lock_requests": sum(n for k, n in kinds.items() if k.startswith("lock-")),
        "lock_by_kind": {k: n for k, n in sorted(kinds.items()) if k.startswith("lock-")},
        "storage_other": kinds["storage-other"], "dataset_reads": kinds["dataset-read"],
        "non_2xx": sum(1 for e in log if not 200 <= e.get("status", 0) < 300),
        "storage_429": sum(1 for e in log if e.get("status") == 429 and classify(e) != "api"),
        "duplicates": sum(max(0, n - 1) for n in per_manifest.values()),
        "missing": sorted(name for name, n in per_manifest.items() if n == 0)[:20],
        "state_write_ms": cost.get("upload_ms"), "state_bytes": cost.get("bytes"),
        "state_crc32c_ms": cost.get("crc32c_ms"), "state_encode_ms": cost.get("encode_ms"),
    }
    if run.returncode != 0:
        figures["stderr_tail"] = run.stderr.strip().splitlines()[-10:]
    h.log(f"  {backend} #{repeat}: {run.seconds:.2f}s, exit {run.returncode}, {len(log)} requests "
          f"({kinds['state-read']} state reads, {kinds['state-write']} state writes, "
          f"{figures['lock_requests']} lock), duplicates {figures['duplicates']}")
    return figures


def _write_cost(http) -> dict[str, float]:
    """What one journal write of the final state costs: the compare-and-swap upload as the emulator answers it
    (ms, its latency included), the object's size, the share of the emulator's pure-Python CRC32C of it, and
    the client's encoding of that state (reconciler's codec), which happens before every upload."""
    from urllib.parse import quote

    from reconciler.emulator.storage.checksums import crc32c
    from reconciler.state import codec, document

    url = f"/download/storage/v1/b/{BUCKET}/o/{quote(STATE_OBJECT, safe='')}"
    response = http.get(url, params={"alt": "media"}, headers=STORAGE_AUTH).raise_for_status()
    data = response.content
    started = time.perf_counter()
    for sample in range(WRITE_SAMPLES):  # distinct names: Cloud Storage (and the emulator) allow ~1 write/s per name
        http.post(f"/upload/storage/v1/b/{BUCKET}/o", content=data, headers={
            **STORAGE_AUTH, "content-type": "application/json"}, params={
            "uploadType": "media", "name": f"{PREFIX}/write-cost/{sample}", "ifGenerationMatch": "0"}
                  ).raise_for_status()
    upload_ms = (time.perf_counter() - started) * 1000 / WRITE_SAMPLES
    started = time.perf_counter()
    crc32c(data)
    crc_ms = (time.perf_counter() - started) * 1000
    lock, encoder = document.decode(data, STATE_OBJECT, "", ""), codec.Encoder()
    started = time.perf_counter()
    for _ in range(5):
        encoder.dumps(lock)
    encode_ms = (time.perf_counter() - started) * 1000 / 5
    return {"upload_ms": upload_ms, "bytes": len(data), "crc32c_ms": crc_ms, "encode_ms": encode_ms}


def run(options: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gcs-") as scratch:
        work = Path(options.workdir) if options.workdir else Path(scratch)
        source = work / "manifests"
        names = write_manifests(source, options.manifests - options.gemini, options.gemini, project=h.PROJECT,
                                location=h.LOCATION)
        for repeat in range(options.repeats):
            order = ("local", "gcs") if repeat % 2 == 0 else ("gcs", "local")
            for backend in order:
                h.log(f"apply of {options.manifests} manifests, {backend} state, repeat {repeat + 1}")
                runs.append(apply_once(source, work, backend, repeat, options, names))
    summary = {backend: _summary([r for r in runs if r["backend"] == backend]) for backend in ("local", "gcs")}
    local, gcs = summary["local"], summary["gcs"]
    overhead = (gcs["wall_s"] - local["wall_s"]) / local["wall_s"] * 100 if local["wall_s"] else float("inf")
    ok = all(r["exit_code"] == 0 and r["duplicates"] == 0 and not r["missing"] for r in runs)
    targets = {
        "overhead": {"value": overhead, "target": f"<= {OVERHEAD_TARGET:g} %", "met": overhead <= OVERHEAD_TARGET},
        "correctness": {"value": sum(r["duplicates"] + len(r["missing"]) for r in runs),
                        "target": "0 (exit 0, 1 job per manifest)", "met": ok},
    }
    return {"benchmark": "gcs", "manifests": options.manifests, "gemini": options.gemini,
            "latency_ms": options.latency_ms, "repeats": options.repeats,
            "parallelism": options.parallelism or "default", "runs": runs, "summary": summary,
            "overhead_pct": overhead, "targets": targets}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median_of(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return h.median(values) if values else None

    return {"wall_s": h.median([r["wall_s"] for r in runs]), "walls": [r["wall_s"] for r in runs],
            **{key: h.median([r[key] for r in runs]) for key in (
                "requests_total", "requests_api", "state_reads", "state_writes", "lock_requests", "storage_429")},
            **{key: median_of(key) for key in ("state_write_ms", "state_bytes", "state_crc32c_ms",
                                               "state_encode_ms")}}


def report(figures: dict[str, Any]) -> None:
    local, gcs = figures["summary"]["local"], figures["summary"]["gcs"]
    extra = gcs["requests_total"] - local["requests_total"]
    rows = [
        ("wall time, median (s)", f"local {local['wall_s']:.2f} | gcs {gcs['wall_s']:.2f}", "", ""),
        ("  each run (s)", "local " + ", ".join(f"{w:.2f}" for w in local["walls"])
         + " | gcs " + ", ".join(f"{w:.2f}" for w in gcs["walls"]), "", ""),
        ("gcs overhead, wall time", f"{figures['overhead_pct']:+.1f} %", f"<= {OVERHEAD_TARGET:g} %",
         h.verdict(figures["targets"]["overhead"]["met"])),
        ("requests, total", f"local {local['requests_total']:g} | gcs {gcs['requests_total']:g} "
                            f"(+{extra:g})", "", ""),
        ("  tuning API requests", f"local {local['requests_api']:g} | gcs {gcs['requests_api']:g}", "", ""),
        ("  state object reads / writes (gcs)", f"{gcs['state_reads']:g} / {gcs['state_writes']:g}", "", ""),
        ("  Cloud Storage 429s (per-object write rate)", f"{gcs['storage_429']:g}", "", ""),
        ("  run-lock requests (gcs)", f"{gcs['lock_requests']:g} ("
         + ", ".join(f"{k} {n}" for k, n in _lock_kinds(figures).items()) + ")", "", ""),
        *_write_rows(gcs),
        ("exit 0, 1 job per manifest, every run", str(figures["targets"]["correctness"]["value"]) + " problems",
         figures["targets"]["correctness"]["target"], h.verdict(figures["targets"]["correctness"]["met"])),
    ]
    h.print_table(f"gcs backend overhead: apply --yes of {figures['manifests']} new manifests "
                  f"({figures['gemini']} Gemini API), emulator --latency-ms {figures['latency_ms']:g}, "
                  f"--parallelism {figures['parallelism']}, {figures['repeats']} runs per backend", rows)


def _write_rows(gcs: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if gcs["state_write_ms"] is None:
        return [("one state write", "n/a (no gcs run succeeded)", "", "")]
    per_write = gcs["state_write_ms"] + gcs["state_encode_ms"]
    return [
        ("final state object size", f"{gcs['state_bytes'] / 1024:.0f} KiB", "", ""),
        ("one state write: upload (measured)", f"{gcs['state_write_ms']:.1f} ms", "", ""),
        ("  of which emulator CRC32C (pure Python)", f"{gcs['state_crc32c_ms']:.1f} ms", "", ""),
        ("  + client encoding of the state", f"{gcs['state_encode_ms']:.1f} ms", "", ""),
        ("state writes x (upload + encoding)", f"{gcs['state_writes']:g} x {per_write:.0f} ms = "
         f"{gcs['state_writes'] * per_write / 1000:.2f} s (serialized: one write at a time)", "", ""),
    ]


def _lock_kinds(figures: dict[str, Any]) -> dict[str, int]:
    runs = [r for r in figures["runs"] if r["backend"] == "gcs"]
    return {k: h.median([r["lock_by_kind"].get(k, 0) for r in runs])
            for k in sorted({k for r in runs for k in r["lock_by_kind"]})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=200)
    parser.add_argument("--gemini", type=int, help="how many of the manifests are Gemini API ones (default: 1 in 20)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per backend (median)")
    h.apply_arguments(parser)
    options = parser.parse_args(argv)
    h.gemini_share(parser, options)
    if options.repeats < 1:
        parser.error("--repeats must be at least 1")
    return h.finish("bench_gcs", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
