"""Benchmark (issue 14): the extra requests of a plan for N remote datasets (one metadata GET each, concurrent) and
the wall time they add at 20 ms RTT.

Two sets of N Vertex models, live and in sync in one scope, each seeded through the emulator's state file like
bench_plan's (`_seed`: one real apply of a template manifest, its records and lock entry cloned):

- shared: every manifest trains on ONE dataset, `gs://bench-datasets/shared/train.jsonl`: one metadata GET;
- own:    each manifest trains on its OWN dataset, `gs://bench-datasets/<name>/train.jsonl`: N metadata GETs.

Both emulator states hold the same bucket `bench-datasets` and the same N + 1 objects (written straight into
`gcsObjects`, cloned from the one the template apply trained on), so the two differ only in what the manifests
name. Each lock entry's `trainedOn` records its own object's generation and checksums, so both plans are in sync.
With the emulator at --latency-ms, `reconciler plan DIR --detailed-exitcode` runs REPEATS times per set (it must
exit 0): wall time from spawn to exit and HTTP requests from the emulator's log; the medians are compared.

    .venv/bin/python tests/bench/bench_datasets.py [--manifests 1000] [--latency-ms 20] [--repeats 3]
        [--workdir DIR] [--json-out FILE] [--strict]

Targets: the own-datasets plan makes exactly N - 1 more requests than the shared one (one GET per distinct
dataset, nothing else). The wall-time overhead is reported, not judged. Exit 0 unless --strict and a target is
missed (a harness error exits 2).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
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
from bench_plan import timed  # noqa: E402
from reconciler.refresh import DATA_WORKERS as REFRESH_WORKERS  # noqa: E402 (the metadata GETs at a time)
from tests.testing import cli  # noqa: E402
from tests.testing.emulators import EmulatorProcess  # noqa: E402

BUCKET = "bench-datasets"
SHARED = f"gs://{BUCKET}/shared/train.jsonl"
SCOPE = 0                    # us-central1
ROWS = 20                    # examples in every seeded dataset
VARIANTS = ("shared", "own")
STORAGE_PREFIX = f"/storage/v1/b/{BUCKET}/o/"


def own(manifest_name: str) -> str:
    return f"gs://{BUCKET}/{manifest_name}/train.jsonl"


def dataset_bytes() -> bytes:
    return "".join(json.dumps({"contents": [{"role": "user", "parts": [{"text": f"What is {i} + 1?"}]},
                                            {"role": "model", "parts": [{"text": str(i + 1)}]}]}) + "\n"
                   for i in range(ROWS)).encode()


# ---------------------------------------------------------------------------------------------- seeding

def dataset_of(variant: str, manifest_name: str) -> str:
    return SHARED if variant == "shared" else own(manifest_name)


def seed(work: Path, variant: str, count: int, timeout: float) -> dict[str, Any]:
    """Manifests, emulator state and lock of `count` in-sync models of `variant` under `work`."""
    directory, state_file = work / "manifests", work / "emulator-state.json"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "reconciler.yaml").write_text(f"lockFile: {_seed.LOCK_NAME}\n", encoding="utf-8")
    names = [_seed.name(SCOPE, i) for i in range(count)]
    for index, manifest_name in enumerate(names):
        text = _seed.manifest(SCOPE, index, dataset_of(variant, manifest_name))
        (directory / f"{manifest_name}.yaml").write_text(text, encoding="utf-8")
    template = names[_seed.TEMPLATE_INDEX]
    template_dir = work / "template"
    shutil.rmtree(template_dir, ignore_errors=True)
    template_dir.mkdir(parents=True)
    shutil.copy(directory / "reconciler.yaml", template_dir)
    shutil.copy(directory / f"{template}.yaml", template_dir)
    template_state = template_dir / "emulator-state.json"
    started = time.perf_counter()
    with EmulatorProcess("--state-file", str(template_state), "--job-duration", "60") as emu:
        _upload(emu.base_url, dataset_of(variant, template), dataset_bytes())
        run = cli.run("apply", str(template_dir), "--yes", "--api-endpoint", emu.base_url, timeout=timeout)
        if run.returncode != 0:
            raise RuntimeError("seeding the template failed: " + run.describe())
        emu.advance(86_400)
    state = json.loads(template_state.read_text(encoding="utf-8"))
    lock = json.loads((template_dir / _seed.LOCK_NAME).read_text(encoding="utf-8"))
    _seed.clone(state, lock, {SCOPE: names}, _seed._digests(directory))
    objects = _seed_objects(state, dataset_of(variant, template), names)
    for manifest_name, entry in lock["entries"].items():
        [trained] = entry["trainedOn"] = [dict(t) for t in entry["trainedOn"]]  # clone() shares one list
        uri = dataset_of(variant, manifest_name)
        record = objects[uri]
        trained.update(uri=uri, generation=str(record["generation"]), crc32c=record["crc32c"],
                       md5=record["md5Hash"], size=record["size"])
    state_file.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
    (directory / _seed.LOCK_NAME).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"names": names, "seed_s": time.perf_counter() - started, "template_apply_s": run.seconds}


def _upload(base_url: str, uri: str, data: bytes) -> None:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    with h.api_client(base_url) as http:
        made = http.post("/storage/v1/b", params={"project": h.PROJECT}, json={"name": bucket})
        if made.status_code != 200:
            raise RuntimeError(f"creating bucket {bucket}: {made.status_code} {made.text[:300]}")
        put = http.post(f"/upload/storage/v1/b/{bucket}/o", params={"uploadType": "media", "name": name},
                        content=data, headers={"content-type": "application/jsonl"})
        if put.status_code != 200:
            raise RuntimeError(f"uploading {uri}: {put.status_code} {put.text[:300]}")


def _seed_objects(state: dict[str, Any], uploaded: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """The shared object and every manifest's own, cloned from the one the template apply trained on, each with
    a generation of its own (above every one handed out): the same objects whatever the variant."""
    objects = state["gcsObjects"]
    source = objects[uploaded.removeprefix("gs://")]
    found: dict[str, dict[str, Any]] = {}
    for uri in [SHARED, *(own(n) for n in names)]:
        key = uri.removeprefix("gs://")
        if key not in objects:
            state["gcsGeneration"] += 1
            record = copy.deepcopy(source)
            record.update(name=key.partition("/")[2], generation=state["gcsGeneration"])
            objects[key] = record
        found[uri] = objects[key]
    assert base64.b64decode(source["media"]) == dataset_bytes()
    return found


def seed_or_reuse(work: Path, variant: str, count: int, timeout: float) -> dict[str, Any]:
    marker = work / "seeded.json"
    if marker.exists() and (work / "emulator-state.json").exists():
        seeded = json.loads(marker.read_text(encoding="utf-8"))
        if seeded.get("manifests") == count:
            h.log(f"reusing the {count} models ({variant} datasets) seeded in {work}")
            return seeded
    h.log(f"seeding {count} models ({variant} datasets) through the emulator's state file")
    facts = seed(work, variant, count, timeout)
    seeded = {"manifests": count, "seed_s": facts["seed_s"], "template_apply_s": facts["template_apply_s"]}
    marker.write_text(json.dumps(seeded), encoding="utf-8")
    h.log(f"seeded in {seeded['seed_s']:.1f}s")
    return seeded


# ---------------------------------------------------------------------------------------------- measuring

def _route(entry: dict[str, Any]) -> str:
    path = entry["path"]
    if path.startswith(STORAGE_PREFIX):
        path = STORAGE_PREFIX + ("shared/train.jsonl" if path.endswith("/shared/train.jsonl") else "{name}/train.jsonl")
    else:
        parts = path.split("/")
        if len(parts) > 6 and parts[2] == "projects":
            path = "/".join(parts[:2] + ["..."] + [parts[6]] + (["{id}"] if len(parts) > 7 else []))
    return f"{entry['method']} {path} {entry['status']}"


def measure(emu: EmulatorProcess, directory: Path, repeats: int, timeout: float, label: str) -> dict[str, Any]:
    walls, cpu, requests, reads = [], [], [], []
    by_route: Counter[str] = Counter()
    for attempt in range(repeats):
        emu.clear_requests()
        run = timed("plan", str(directory), "--api-endpoint", emu.base_url, "--detailed-exitcode", timeout=timeout)
        if run["code"] != 0:
            raise RuntimeError(f"plan ({label}) exited {run['code']} (not in sync?): "
                               f"{run['stderr'][-2000:] or run['stdout'][-2000:]}")
        log = h.api_requests(emu.requests())
        by_route = Counter(_route(e) for e in log)
        walls.append(run["wall_s"])
        cpu.append(run["cpu_s"])
        requests.append(len(log))
        reads.append(sum(1 for e in log if e["path"].startswith(STORAGE_PREFIX)))
        h.log(f"  plan ({label}) {attempt + 1}/{repeats}: {run['wall_s']:.3f}s ({run['cpu_s']:.3f}s CPU), "
              f"{len(log)} requests ({reads[-1]} dataset reads)")
    return {"wall_s": walls, "wall_median_s": h.median(walls), "cpu_s": cpu, "cpu_median_s": h.median(cpu),
            "requests": requests, "dataset_reads": reads, "requests_by_route": dict(sorted(by_route.items()))}


def run(options: argparse.Namespace) -> dict[str, Any]:
    n = options.manifests
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as scratch:
        work = Path(options.workdir) if options.workdir else Path(scratch)
        seeded, plans = {}, {}
        for variant in VARIANTS:
            (work / variant).mkdir(parents=True, exist_ok=True)
            seeded[variant] = seed_or_reuse(work / variant, variant, n, options.timeout)
        for variant in VARIANTS:
            state_file, directory = work / variant / "emulator-state.json", work / variant / "manifests"
            with EmulatorProcess("--state-file", str(state_file), "--latency-ms", str(options.latency_ms)) as emu:
                h.log(f"measuring plan of {n} ({variant} datasets) at --latency-ms {options.latency_ms:g}")
                plans[variant] = measure(emu, directory, options.repeats, options.timeout, variant)
    shared, mine = plans["shared"], plans["own"]
    extra = max(mine["requests"]) - max(shared["requests"])
    overhead = mine["wall_median_s"] - shared["wall_median_s"]
    # what N GETs cost at best, REFRESH_WORKERS at a time, each one RTT (the listings run beside them)
    bound = -(-n // REFRESH_WORKERS) * options.latency_ms / 1000
    return {
        "benchmark": "datasets", "manifests": n, "scopes": 1, "latency_ms": options.latency_ms,
        "refresh_workers": REFRESH_WORKERS, "shared": shared, "own": mine,
        "extra_requests": extra, "extra_dataset_reads": max(mine["dataset_reads"]) - max(shared["dataset_reads"]),
        "overhead_s": overhead, "overhead_pct": 100 * overhead / shared["wall_median_s"],
        "overhead_per_dataset_ms": 1000 * overhead / max(1, n - 1), "serial_gets_bound_s": bound,
        "seed": {v: {"wall_s": s["seed_s"], "template_apply_s": s["template_apply_s"]} for v, s in seeded.items()},
        "targets": {
            "extra_requests": {"value": extra, "target": f"== {n - 1}", "met": extra == n - 1},
        },
    }


def report(figures: dict[str, Any]) -> None:
    n, shared, mine = figures["manifests"], figures["shared"], figures["own"]
    target = figures["targets"]["extra_requests"]
    storage_routes = {k: v for k, v in mine["requests_by_route"].items() if STORAGE_PREFIX in k}
    rows = [
        ("plan HTTP requests, 1 shared dataset (each run)", "/".join(map(str, shared["requests"])), "", ""),
        (f"plan HTTP requests, {n} own datasets (each run)", "/".join(map(str, mine["requests"])), "", ""),
        ("  extra requests per plan", f"+{figures['extra_requests']}", target["target"],
         h.verdict(target["met"])),
        ("  own: dataset reads by route", "; ".join(f"{k} x{v}" for k, v in storage_routes.items()), "", ""),
        (f"plan wall time, 1 shared dataset, median of {len(shared['wall_s'])} (CPU)",
         f"{shared['wall_median_s']:.3f} s ({shared['cpu_median_s']:.3f} s)", "", ""),
        ("  wall times", ", ".join(f"{w:.3f}" for w in shared["wall_s"]), "", ""),
        (f"plan wall time, {n} own datasets, median of {len(mine['wall_s'])} (CPU)",
         f"{mine['wall_median_s']:.3f} s ({mine['cpu_median_s']:.3f} s)", "", ""),
        ("  wall times", ", ".join(f"{w:.3f}" for w in mine["wall_s"]), "", ""),
        (f"overhead of {n} remote datasets, wall time", f"{figures['overhead_s']:+.3f} s "
         f"({figures['overhead_pct']:+.1f} %)", "", ""),
        ("  per extra dataset", f"{figures['overhead_per_dataset_ms']:.2f} ms", "", ""),
        (f"  floor: {n} GETs, {figures['refresh_workers']} at a time, 1 RTT each",
         f"{figures['serial_gets_bound_s']:.3f} s", "", ""),
    ]
    h.print_table(f"datasets benchmark: plan of {n} Vertex models in sync in 1 scope, 1 shared vs {n} own gs:// "
                  f"datasets, emulator --latency-ms {figures['latency_ms']:g}", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on every subprocess and loop (s)")
    parser.add_argument("--workdir", help="keep manifests, locks and emulator states here, and reuse them on the "
                                          "next run with the same size (default: a temp dir)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    if options.manifests < 2:
        parser.error("--manifests must be at least 2")
    return h.finish("bench_datasets", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
