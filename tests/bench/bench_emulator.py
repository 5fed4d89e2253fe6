"""Benchmark: get/list requests per second the emulator serves on loopback.

Starts `python -m reconciler.emulator --port 0` as a subprocess, seeds tuning jobs (some finished, so models
and endpoints exist) and tuned models, then sends a fixed number of GET/list requests from a few threads,
each with its own keep-alive httpx client, and prints requests/s. Exits 1 if below the 500/s floor.

    .venv/bin/python tests/bench/bench_emulator.py [--requests 6000] [--threads 4] [--jobs 50]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.testing.emulators import EmulatorDidNotStart, EmulatorProcess  # noqa: E402

FLOOR = 500.0
PARENT = "projects/bench-project/locations/us-central1"
AUTH = {"Authorization": "Bearer bench", "x-goog-api-key": "bench"}


def seed(http: httpx.Client, jobs: int) -> list[str]:
    names = []
    for index in range(jobs):
        body = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": f"bench-{index}",
                "labels": {"team": f"t{index % 5}", "managed-by": "reconciler"},
                "supervisedTuningSpec": {"trainingDatasetUri": "gs://bench/train.jsonl",
                                         "exportLastCheckpointOnly": True}}
        names.append(http.post(f"/v1/{PARENT}/tuningJobs", json=body).raise_for_status().json()["name"])
        if index == jobs // 2:
            http.post("/__emulator__/clock:advance", json={"seconds": 61})   # first half finishes
    for index in range(10):
        http.post("/v1beta/tunedModels", params={"tunedModelId": f"bench-{index}"}, json={
            "baseModel": "models/gemini-1.5-flash-001-tuning",
            "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "a", "output": "b"}]}}}})
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=50)
    options = parser.parse_args()
    try:
        emulator = EmulatorProcess()
    except EmulatorDidNotStart as err:
        raise SystemExit(f"emulator did not start: {err}") from None
    base_url = emulator.base_url
    try:
        with httpx.Client(base_url=base_url, headers=AUTH) as http:
            jobs = seed(http, options.jobs)
            model = http.get(f"/v1/{PARENT}/models").json()["models"][0]["name"]
        paths = [f"/v1/{name}" for name in jobs[:10]] + [
            f"/v1/{PARENT}/tuningJobs?pageSize=20",
            f"/v1/{PARENT}/tuningJobs?filter=labels.team%3D%22t1%22",
            f"/v1/{PARENT}/models", f"/v1/{model}", f"/v1/{PARENT}/endpoints?pageSize=10",
            "/v1beta/tunedModels", "/v1beta/tunedModels/bench-3"]
        counter = itertools.count()
        failures: list[str] = []

        def worker() -> None:
            with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
                while (n := next(counter)) < options.requests:
                    response = client.get(paths[n % len(paths)])
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.request.url}")

        threads = [threading.Thread(target=worker) for _ in range(options.threads)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        emulator.stop()
    rate = options.requests / elapsed
    print(f"emulator: {options.requests} get/list requests from {options.threads} threads in {elapsed:.2f}s "
          f"= {rate:.0f} requests/s ({len(jobs)} jobs seeded; floor {FLOOR:.0f}/s)")
    if failures:
        print(f"{len(failures)} requests failed, e.g. {failures[0]}", file=sys.stderr)
        return 1
    return 0 if rate >= FLOOR else 1


if __name__ == "__main__":
    raise SystemExit(main())
