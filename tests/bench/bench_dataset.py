"""Benchmark: checking a large Vertex AI dataset (`reconciler.datasets.vertex_jsonl.check_file`) in bounded memory.

A JSONL file of `--megabytes` MB (default 100) is generated in a scratch directory (multi-turn rows, one in three
with a systemInstruction, non-ASCII text, and one invalid row in 10,000 so the error path is exercised too), then
checked REPEATS times, each in a fresh child process (`python -c ...`): wall time from spawn to exit, MB/s of the
check itself (timed in the child: the interpreter's start is not the checker's speed), and the
child's peak RSS as the kernel reports it (`os.wait4` -> `ru_maxrss`, KiB on Linux), which includes the
interpreter and its imports. The figures of the median run are reported.

    .venv/bin/python tests/bench/bench_dataset.py [--megabytes 100] [--repeats 3] [--workdir DIR]
                                                  [--json-out FILE] [--strict]

Targets: peak RSS <= 100 MB whatever the file's size (the file is never held whole); >= 5 MB/s.
Exit 0 unless --strict and a target is missed (a harness error always exits 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

import _harness as h  # noqa: E402
from bench_plan import timed  # noqa: E402

RSS_TARGET_MB = 100.0
RATE_TARGET_MB_S = 5.0  # on a slow shared core; pure-Python row checks after json.loads
MB = 1_000_000
CHILD = """
import json, sys, time
from pathlib import Path
from reconciler.datasets.vertex_jsonl import check_file
from reconciler.manifest.diagnostics import Diagnostics
diagnostics = Diagnostics(secrets=())
started = time.perf_counter()
summary = check_file(Path(sys.argv[1]), "bench.jsonl", diagnostics)
print(json.dumps({"check_s": time.perf_counter() - started, "rows": summary.rows, "invalid": summary.invalid, "size": summary.size,
                  "characters": summary.characters, "errors": len(diagnostics.errors)}))
"""


def generate(path: Path, megabytes: float) -> dict[str, int]:
    """A dataset of about `megabytes` MB, written in blocks (the generator holds one block, not the file)."""
    target, size, rows, block = int(megabytes * MB), 0, 0, []
    with open(path, "wb") as out:
        while size < target:
            row: dict[str, Any] = {"contents": [
                {"role": "user", "parts": [{"text": f"Question {rows}: résumé of topic {rows % 97} — why? " * 3}]},
                {"role": "model", "parts": [{"text": f"Answer {rows}: it is so because of reason {rows % 13}. " * 4}]},
                {"role": "user", "parts": [{"text": "And then?"}]},
                {"role": "model", "parts": [{"text": f"Then step {rows % 7} follows."}]}]}
            if rows % 3 == 0:
                row["systemInstruction"] = {"role": "system", "parts": [{"text": "Answer briefly."}]}
            line = (json.dumps(row, ensure_ascii=False) if rows % 10_000 != 9_999 else '{"contents": []}') + "\n"
            data = line.encode()
            block.append(data)
            size += len(data)
            rows += 1
            if len(block) >= 1000:
                out.write(b"".join(block))
                block = []
        out.write(b"".join(block))
    return {"bytes": size, "rows": rows, "invalid": rows // 10_000}


def check_once(path: Path, timeout: float) -> dict[str, Any]:
    """The check of `path` in a fresh interpreter: wall and CPU seconds, peak RSS (wait4), the summary it printed."""
    run = timed(timeout=timeout, python=("-c", CHILD, str(path)))
    if run["code"] != 0:
        raise RuntimeError(f"the check failed: {run['stderr'][-2000:]}")
    return {"wall_s": run["wall_s"], "rss_mb": run["rss_mb"], "cpu_s": run["cpu_s"],
            "summary": json.loads(run["stdout"])}


def run(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-dataset-", dir=options.workdir) as scratch:
        path = Path(scratch, "train.jsonl")
        h.log(f"generating {options.megabytes:g} MB of JSONL")
        made = generate(path, options.megabytes)
        runs = []
        for attempt in range(options.repeats):
            result = check_once(path, options.timeout)
            if result["summary"]["rows"] != made["rows"] or result["summary"]["invalid"] != made["invalid"]:
                raise RuntimeError(f"the check counted {result['summary']}, the file holds {made}")
            h.log(f"run {attempt + 1}: {result['wall_s']:.2f}s, peak RSS {result['rss_mb']:.0f} MB")
            runs.append(result)
    median = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    rate = made["bytes"] / MB / median["summary"]["check_s"]  # the check itself, not the interpreter's start
    rss = max(r["rss_mb"] for r in runs)
    return {"file": made, "runs": runs, "wall_s": median["wall_s"], "check_s": median["summary"]["check_s"],
            "mb_per_s": rate, "rss_max_mb": rss,
            "targets": {"rss": {"value": rss, "target": f"<= {RSS_TARGET_MB:g}", "met": rss <= RSS_TARGET_MB},
                        "rate": {"value": rate, "target": f">= {RATE_TARGET_MB_S:g}",
                                 "met": rate >= RATE_TARGET_MB_S}}}


def report(figures: dict[str, Any]) -> None:
    made, targets = figures["file"], figures["targets"]
    size = f"{made['bytes'] / MB:.0f} MB, {made['rows']} rows"
    h.print_table("dataset check benchmark", [
        (f"check {size}: wall time, median (s)", f"{figures['wall_s']:.2f}", "", ""),
        ("  of which the check itself (s)", f"{figures['check_s']:.2f}", "", ""),
        ("  throughput of the check (MB/s)", f"{figures['mb_per_s']:.1f}", targets["rate"]["target"],
         h.verdict(targets["rate"]["met"])),
        ("  peak RSS of the checking process (MB)", f"{figures['rss_max_mb']:.0f}", targets["rss"]["target"],
         h.verdict(targets["rss"]["met"]))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on each check (s)")
    parser.add_argument("--workdir", help="generate the file here (default: the system's temp dir)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    if options.megabytes <= 0 or options.repeats < 1:
        parser.error("--megabytes must be > 0 and --repeats >= 1")
    return h.finish("dataset", options, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
