"""Shared pieces of the plan and apply benchmarks: the emulator as a subprocess, the reconciler CLI as a
subprocess, manifest generation, listings that count jobs per manifest, and the figures table.

Everything runs on loopback; every wait and loop here is bounded in time and in count.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
PROJECT, LOCATION = "bench-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MANAGED_FILTER = 'labels.managed-by="reconciler"'
MAX_PAGE_SIZE = 1000                       # the largest page the emulator (and Vertex) serves
GEMINI_BASE_MODEL = "models/gemini-1.5-flash-001-tuning"


# ---------------------------------------------------------------------------------------------- processes

def child_env() -> dict[str, str]:
    """The environment of every child: credentials for a non-Google endpoint, no colour, nothing inherited
    that would redirect calls or change how the SDKs authenticate."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RECONCILER_API_ENDPOINT", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT",
                        "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS")}
    env.update(GOOGLE_OAUTH_ACCESS_TOKEN="bench-token", GEMINI_API_KEY="bench-key", NO_COLOR="1",
               PYTHONPATH=str(ROOT), COLUMNS="200")
    return env


class EmulatorProcess:
    """`python -m reconciler.emulator --port 0 ...` as a subprocess, with its admin surface."""

    def __init__(self, *args: str, start_timeout: float = 20.0) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "reconciler.emulator", "--port", "0", *args],
                                        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=start_timeout).strip()
        except queue.Empty:
            line = ""
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the emulator did not start within {start_timeout:.0f}s: {line!r}")
        self.url = line.removeprefix("listening on ")
        self.admin = httpx.Client(base_url=self.url, timeout=60)

    def requests(self) -> list[dict[str, Any]]:
        """The API request log (the admin surface is never logged)."""
        return self.admin.get("/__emulator__/requests").raise_for_status().json()["requests"]

    def clear_requests(self) -> None:
        self.admin.delete("/__emulator__/requests").raise_for_status()

    def advance(self, seconds: float) -> None:
        self.admin.post("/__emulator__/clock:advance", json={"seconds": seconds}).raise_for_status()

    def stop(self) -> None:
        if getattr(self, "admin", None) is not None:
            self.admin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def emulator(*args: str) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(*args)
    try:
        yield process
    finally:
        process.stop()


@dataclass
class CliRun:
    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    def describe(self) -> str:
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-5:]
        return f"`reconciler {' '.join(self.argv)}` exited {self.returncode}: " + " | ".join(tail)


def reconciler(*argv: str, timeout: float) -> CliRun:
    """Run the CLI as a real subprocess (`python -m reconciler ...`), timed from spawn to exit."""
    command = [sys.executable, "-m", "reconciler", *argv]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"`reconciler {' '.join(argv)}` did not finish within {timeout:.0f}s") from err
    return CliRun(list(argv), done.returncode, time.perf_counter() - started, done.stdout, done.stderr)


# ---------------------------------------------------------------------------------------------- manifests

def write_manifests(root: Path, vertex: int, gemini: int = 0,
                    prefix: str = "bench") -> tuple[list[str], list[str]]:
    """`vertex` + `gemini` manifests with distinct names and datasets in one directory, and a
    reconciler.yaml holding the Vertex project and location. Returns the (vertex, gemini) manifest names."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(
        f"defaults:\n  project: {PROJECT}\n  location: {LOCATION}\nlockFile: reconciler.lock\n", encoding="utf-8")
    names: list[str] = []
    for index in range(vertex):
        name = f"{prefix}-{index:04d}"
        (root / f"{name}.yaml").write_text(
            "apiVersion: reconciler/v1\nkind: TunedModel\n"
            f"metadata:\n  name: {name}\n  labels: {{team: t{index % 7}}}\n"
            "spec:\n  platform: vertex\n  baseModel: gemini-2.5-flash\n"
            f"  displayName: {name}\n"
            f"  training:\n    dataset: gs://bench-tuning-data/{name}/train.jsonl\n"
            "  exportLastCheckpointOnly: true\n", encoding="utf-8")
        names.append(name)
    gemini_names: list[str] = []
    for index in range(gemini):
        name = f"{prefix}-g{index:03d}"
        examples = "".join(f'      - {{textInput: "{name} q{row}", output: "a{row}"}}\n' for row in range(3))
        (root / f"{name}.yaml").write_text(
            "apiVersion: reconciler/v1\nkind: TunedModel\n"
            f"metadata:\n  name: {name}\n"
            f"spec:\n  platform: gemini-api\n  baseModel: {GEMINI_BASE_MODEL}\n  displayName: {name}\n"
            f"  training:\n    examples:\n{examples}"
            "  hyperParameters:\n    epochCount: 1\n    batchSize: 4\n", encoding="utf-8")
        gemini_names.append(name)
    return names, gemini_names


# ---------------------------------------------------------------------------------------------- listings

def api_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60,
                        headers={"Authorization": "Bearer bench-token", "x-goog-api-key": "bench-key"})


def list_all(http: httpx.Client, path: str, items_key: str, params: dict[str, Any] | None = None,
             *, max_pages: int = 1000, deadline_s: float = 120.0) -> tuple[list[dict], int]:
    """Every item of a listing at the largest page size, and the number of pages it took.

    A 429 (quota) is waited out as its Retry-After says; bounded in pages and in time."""
    items: list[dict] = []
    pages, token = 0, ""
    stop_at = time.monotonic() + deadline_s
    while pages < max_pages:
        if time.monotonic() > stop_at:
            raise RuntimeError(f"listing {path} took longer than {deadline_s:.0f}s")
        query = {**(params or {}), "pageSize": MAX_PAGE_SIZE, **({"pageToken": token} if token else {})}
        response = http.get(path, params=query)
        if response.status_code == 429:
            time.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
            continue
        body = response.raise_for_status().json()
        pages += 1
        items += body.get(items_key, [])
        token = body.get("nextPageToken", "")
        if not token:
            return items, pages
    raise RuntimeError(f"listing {path} did not end within {max_pages} pages")


def pages_needed(http: httpx.Client) -> dict[str, Any]:
    """What a refresh of the bench scope must read at least: each managed listing, at the largest page."""
    figures: dict[str, Any] = {}
    for collection in ("tuningJobs", "models", "endpoints"):
        items, pages = list_all(http, f"/v1/{PARENT}/{collection}", collection, {"filter": MANAGED_FILTER})
        figures[collection] = {"items": len(items), "pages": pages}
    return figures


def jobs_per_manifest(http: httpx.Client, vertex_names: Sequence[str],
                      gemini_names: Sequence[str] = ()) -> dict[str, int]:
    """How many tuning jobs (Vertex, by ownership label) or tuned models (Gemini API, by `NAME-digest` id)
    each manifest has live, however they got there."""
    counts: Counter[str] = Counter()
    jobs, _ = list_all(http, f"/v1/{PARENT}/tuningJobs", "tuningJobs")
    for job in jobs:
        labels = job.get("labels") or {}
        if labels.get("managed-by") == "reconciler":
            counts[labels.get("reconciler-name", "")] += 1
    if gemini_names:
        models, _ = list_all(http, "/v1beta/tunedModels", "tunedModels")
        for model in models:
            model_id = model.get("name", "").removeprefix("tunedModels/")
            counts[model_id.rsplit("-", 1)[0]] += 1
    return {name: counts.get(name, 0) for name in [*vertex_names, *gemini_names]}


def api_requests(log: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in log if not entry.get("path", "").startswith("/__emulator__/")]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ceil_div(a: int, b: int) -> int:
    return max(1, math.ceil(a / b))


# ---------------------------------------------------------------------------------------------- reporting

def print_table(title: str, rows: Sequence[tuple[str, str, str, str]]) -> None:
    """rows: (figure, value, target, verdict)."""
    header = ("figure", "value", "target", "met")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    sys.stdout.flush()


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


def write_json(path: str | None, figures: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def finish(name: str, options: Any, run: Any, report: Any) -> int:
    """Run a benchmark, print its figures, write them as JSON; exit 2 when it broke, 1 on a miss with --strict."""
    try:
        figures = run(options)
    except RuntimeError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    report(figures)
    write_json(options.json_out, figures)
    missed = [k for k, t in figures["targets"].items() if not t["met"]]
    return 1 if options.strict and missed else 0
