"""`make demo`: the whole plan/apply tour against the embedded emulator, in a scratch copy of manifests/ whose
state lives in a Cloud Storage bucket (the emulator serves that too, and `--emulator` creates the bucket).

validate → plan → apply --wait → plan, each a real `reconciler` command; the last plan reports no changes.
No Google account and no network beyond loopback: `--emulator` serves both APIs in-process, with its state
under the scratch directory's .reconciler/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUCKET = "demo-reconciler-state"
STATE = f"state:\n  backend: gcs\n  bucket: {BUCKET}\n  prefix: demo\n"
STEPS = [
    ("Check the manifests offline (no credentials, no network)", ["validate", "manifests"], 0),
    ("Plan: what would change on the APIs, why, and what it costs (--remote reads the gs:// data to price it)",
     ["plan", "manifests", "--emulator", "--remote", "--detailed-exitcode"],
     2),
    ("Apply: start the tuning jobs and follow them until they end",
     ["apply", "manifests", "--emulator", "--yes", "--wait"], 0),
    ("Plan again: the live state now matches the manifests", ["plan", "manifests", "--emulator"], 0),
]


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    shutil.copytree(REPO / "manifests", scratch / "manifests")
    config = scratch / "manifests" / "reconciler.yaml"  # the state in a bucket, as a team with CI runners keeps it
    config.write_text(config.read_text().replace("state:\n  backend: local\n", STATE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_", "RECONCILER_"))}
    env.update({"RECONCILER_EMULATOR_JOB_DURATION": "8", "RECONCILER_POLL_INTERVAL": "1", "NO_GCE_CHECK": "True"})
    print(f"Demo workspace: {scratch} (a copy of manifests/; 3 Vertex AI and 2 Gemini API tuned models)")
    print("Every API call goes to the embedded emulator, where a tuning job takes 8 seconds.\n", flush=True)
    started = time.monotonic()
    output = ""
    for number, (title, args, expected) in enumerate(STEPS, 1):
        print(f"── {number}/{len(STEPS)}  {title}\n$ reconciler {' '.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=scratch, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = result.stdout
        print(output, flush=True)
        if result.returncode != expected:
            print(f"demo failed: `reconciler {' '.join(args)}` exited {result.returncode}, expected {expected}")
            return 1
    if "no changes" not in output:
        print("demo failed: the last plan still has changes")
        return 1
    print(f"Done in {time.monotonic() - started:.0f} s. The state is gs://{BUCKET}/demo/default/reconciler.lock in the "
          f"emulator's Cloud Storage (under {scratch / '.reconciler'});")
    print(f"edit a manifest in {scratch / 'manifests'} and run `reconciler plan manifests --emulator` from {scratch} "
          "to see a diff.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
