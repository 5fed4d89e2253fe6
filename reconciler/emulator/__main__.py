"""`python -m reconciler.emulator` / `reconciler emulator`: serve both tuning APIs on loopback."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .app import Emulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler emulator",
        description="Local emulator of the Vertex AI tuning API (/v1, /v1beta1) and the Gemini API tunedModels "
                    "(/v1beta). Admin surface under /__emulator__/ (see README).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    parser.add_argument("--job-duration", type=float, default=60.0, metavar="SECONDS",
                        help="virtual seconds from create to success (default 60)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="latency added to every API response (default 0)")
    parser.add_argument("--state-file", metavar="FILE",
                        help="load state from FILE on start and save it after every mutation (atomically)")
    parser.add_argument("--quota-rps", type=float, metavar="N",
                        help="answer 429 RESOURCE_EXHAUSTED + Retry-After above N API requests per second")
    parser.add_argument("--reject-job-label-filter", action="store_true",
                        help="tuningJobs.list answers 400 INVALID_ARGUMENT to a labels.* filter (as the service may)")
    parser.add_argument("--fault-seed", type=int, default=0, metavar="N",
                        help="seed of the RNG behind probabilistic fault rules (default 0)")
    parser.add_argument("--record-bodies", action="store_true",
                        help="keep every response body in the request log (for test suites)")
    parser.add_argument("--owner-email", default="owner@example.com",
                        help="the OWNER permission given to every new Gemini tuned model")
    parser.add_argument("--token-lifetime", type=float, metavar="SECONDS",
                        help="bearer tokens expire this many virtual seconds after their first use (issued ones: "
                             "after issue), answering 401; default: static tokens never expire")
    parser.add_argument("--operation-duration", type=float, default=3.0, metavar="SECONDS",
                        help="virtual seconds a Vertex delete or undeploy operation takes (default 3)")
    parser.add_argument("--gemini-tunable", default="seeds", metavar="seeds|none|MODEL,...",
                        help="which Gemini API base models support createTunedModel: the seed documents' "
                             "(default), none (as Google today), or the models listed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(argv) if argv is not None else sys.argv[1:]
    if arguments[:1] == ["--"]:          # `reconciler emulator -- --port 8080` forwards a leading "--"
        arguments = arguments[1:]
    args = build_parser().parse_args(arguments)
    try:
        emulator = Emulator(host=args.host, port=args.port, job_duration=args.job_duration,
                            latency_ms=args.latency_ms, state_file=args.state_file, quota_rps=args.quota_rps,
                            fault_seed=args.fault_seed, owner_email=args.owner_email,
                            record_bodies=args.record_bodies, token_lifetime=args.token_lifetime,
                            operation_duration=args.operation_duration, gemini_tunable=args.gemini_tunable,
                            reject_job_label_filter=args.reject_job_label_filter)
        base_url = emulator.start()
    except (OSError, ValueError) as err:
        print(f"error: cannot start the emulator: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    print(f"listening on {base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
