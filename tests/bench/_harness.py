"""Shared pieces of the plan and apply benchmarks: listings that count jobs per manifest, and the figures
table. The emulator and the reconciler CLI as subprocesses, and the manifests, come from tests.testing
(`emulators.EmulatorProcess`, `cli.run`, `manifests.write_manifests`).

Everything runs on loopback; every wait and loop here is bounded in time and in count. Every `reconciler` a
benchmark starts is exec'd, never forked from the test suite's zygote (`tests.testing.zygote`): a benchmark times
the command as a user runs it, interpreter start-up and imports included.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.testing.zygote import SWITCH

os.environ[SWITCH] = "off"  # see the module's docstring: this process's commands are exec'd

PROJECT, LOCATION = "bench-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MANAGED_FILTER = 'labels.managed-by="reconciler"'
MAX_PAGE_SIZE = 1000                       # the largest page the emulator (and Vertex) serves


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


def compiled() -> None:
    """The package's bytecode brought up to date before anything is timed: a child that inherits
    PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would otherwise recompile every module edited
    since its .pyc, in every run, and that would be measured as the command's start-up."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[2] / "reconciler"), quiet=1)


def finish(name: str, options: Any, run: Any, report: Any) -> int:
    """Run a benchmark, print its figures, write them as JSON; exit 2 when it broke, 1 on a miss with --strict."""
    compiled()
    try:
        figures = run(options)
    except RuntimeError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    report(figures)
    write_json(options.json_out, figures)
    missed = [k for k, t in figures["targets"].items() if not t["met"]]
    return 1 if options.strict and missed else 0


def apply_arguments(parser: Any) -> None:
    """The options every apply benchmark takes (after its own)."""
    parser.add_argument("--parallelism", type=int, help="apply --parallelism (default: the CLI's)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on every subprocess and loop (s)")
    parser.add_argument("--workdir", help="keep manifests and locks here (default: a temp dir)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")


def gemini_share(parser: Any, options: Any) -> None:
    """`--gemini` defaults to one manifest in 20, and must lie within `--manifests`."""
    if options.gemini is None:
        options.gemini = options.manifests // 20
    if not 0 <= options.gemini <= options.manifests:
        parser.error("--gemini must be between 0 and --manifests")
