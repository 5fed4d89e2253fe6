"""Injected faults and the optional request quota: the basis of every reliability test.

A fault rule (JSON, keys camelCase or snake_case):
    {"method": "POST",                      # HTTP method, "*" (default) for any
     "path": "/v1/projects/*/tuningJobs",   # glob (fnmatch, case-sensitive; "*" also crosses "/"), or
     "pathRegex": "tuningJobs/[0-9]+$",     # a Python regex searched in the path; neither = every path
     "action": "error",                     # "error" | "latency" | "drop" (commit, then close the socket)
     "status": 429,                         # error: HTTP status (429, 503, 500, 504, ...), default 503
     "retryAfterSeconds": 2,                # error: Retry-After header + google.rpc.RetryInfo (429: default 1)
     "latencyMs": 250,                      # latency: extra delay before the response
     "probability": 0.5,                    # chance per matching call, from the seeded RNG (default 1)
     "times": 3}                            # only the next N triggering calls (default: unlimited)
`action` defaults to "error" when `status` is given, else "latency" when `latencyMs` is given.
Paths are matched decoded and without the query string; admin calls are never faulted.
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .names import project_number
from .limits import MAX_COUNT, MAX_LATENCY_MS, MAX_RETRY_AFTER, bounded
from .rpc import CODES, HTTP_DEFAULT_CODE, RpcError, invalid, retry_info
from .schema import camel

ACTIONS = {"error": "error", "latency": "latency", "drop": "drop", "commitThenDrop": "drop"}
# numeric fields: (key, maximum, whole number?); all have a minimum of 0
_NUMBERS = (("status", 599, True), ("retryAfterSeconds", MAX_RETRY_AFTER, False),
            ("latencyMs", MAX_LATENCY_MS, False), ("probability", 1.0, False), ("times", MAX_COUNT, True))
_KEYS = {"method", "path", "pathRegex", "action", "status", "retryAfterSeconds", "latencyMs", "probability",
         "times", "message", "id"}


@dataclass
class FaultRule:
    id: int
    action: str
    method: str = "*"
    path: str | None = None
    path_regex: re.Pattern[str] | None = None
    status: int = 503
    retry_after: float | None = None
    latency_ms: float = 0.0
    probability: float = 1.0
    remaining: int | None = None
    message: str | None = None
    hits: int = 0
    source: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method not in ("*", method):
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.path_regex is None or self.path_regex.search(path) is not None

    def describe(self) -> dict[str, Any]:
        return {**self.source, "id": self.id, "hits": self.hits,
                **({"remaining": self.remaining} if self.remaining is not None else {})}

    def error(self) -> RpcError:
        code = HTTP_DEFAULT_CODE.get(self.status, "UNAVAILABLE")
        retry = self.retry_after if self.retry_after is not None else (1.0 if self.status == 429 else None)
        message = self.message or {
            "RESOURCE_EXHAUSTED": "Quota exceeded (fault injected by the emulator).",
            "UNAVAILABLE": "The service is currently unavailable (fault injected by the emulator).",
        }.get(code, f"{code} (fault injected by the emulator).")
        status = self.status if self.status != CODES[code][1] else None  # 412: Cloud Storage's precondition
        if retry is None:
            return RpcError(code, message, http_status=status)
        return RpcError(code, message, [retry_info(retry)], {"Retry-After": str(max(1, math.ceil(retry)))},
                        http_status=status)


@dataclass
class Effects:
    latency_ms: float = 0.0
    error: RpcError | None = None
    drop: bool = False
    applied: list[str] = field(default_factory=list)


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.seed = seed
        self.rng = random.Random(seed)
        self._next_id = 1

    def reseed(self, seed: int) -> None:
        with self.lock:
            self.seed = seed
            self.rng = random.Random(seed)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [rule.describe() for rule in self.rules]

    def add(self, specs: list[Any]) -> list[dict[str, Any]]:
        rules = [self.parse(spec, index) for index, spec in enumerate(specs)]
        with self.lock:
            for rule in rules:
                rule.id = self._next_id
                self._next_id += 1
                self.rules.append(rule)
            return [rule.describe() for rule in rules]

    @staticmethod
    def parse(spec: Any, index: int) -> FaultRule:
        where = f"faults[{index}]"
        if not isinstance(spec, dict):
            raise invalid(where, "A fault rule is a JSON object.")
        spec = {camel(str(k)): v for k, v in spec.items()}
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise invalid(f"{where}.{unknown[0]}", f"Unknown fault rule field {unknown[0]!r}; known: "
                                                   + ", ".join(sorted(_KEYS - {'id'})) + ".")
        action = spec.get("action") or ("error" if "status" in spec else "latency" if "latencyMs" in spec else None)
        if action not in ACTIONS:
            raise invalid(f"{where}.action", "action must be one of error, latency, drop "
                                             "(or give status / latencyMs).")
        numbers: dict[str, Any] = {}
        for key, high, integer in _NUMBERS:   # finite and bounded: a NaN or 1e308 here broke every later call
            if spec.get(key) is not None:
                try:
                    numbers[key] = bounded(key, spec[key], 0, high, integer=integer)
                except ValueError as err:
                    raise invalid(f"{where}.{key}", f"{err}.") from None
        try:
            rule = FaultRule(id=0, action=ACTIONS[action], method=str(spec.get("method", "*")).upper(),
                             path=spec.get("path"),
                             path_regex=re.compile(spec["pathRegex"]) if spec.get("pathRegex") else None,
                             status=numbers.get("status", 503), retry_after=numbers.get("retryAfterSeconds"),
                             latency_ms=numbers.get("latencyMs", 0.0), probability=numbers.get("probability", 1.0),
                             remaining=numbers.get("times"), message=spec.get("message"),
                             source={k: v for k, v in spec.items() if k != "id"})
        except (ValueError, TypeError, re.error) as err:
            raise invalid(where, f"Invalid fault rule: {err}") from None
        if rule.action == "error" and rule.status not in HTTP_DEFAULT_CODE:
            raise invalid(f"{where}.status", f"status must be one of {sorted(HTTP_DEFAULT_CODE)}.")
        return rule

    def apply(self, method: str, path: str) -> Effects:
        effects = Effects()
        if not self.rules:
            return effects
        with self.lock:
            for rule in self.rules:
                if not rule.matches(method, path) or (rule.action == "error" and effects.error is not None):
                    continue   # only the first triggering error rule is consumed
                if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                effects.applied.append(f"{rule.action}#{rule.id}")
                if rule.action == "latency":
                    effects.latency_ms += rule.latency_ms
                elif rule.action == "error":
                    effects.error = rule.error()
                elif rule.action == "drop":
                    effects.drop = True
        return effects


class Quota:
    """A token bucket of `rps` requests per second (burst = rps) per quota bucket; empty -> 429 RESOURCE_EXHAUSTED.

    As Google counts them: Vertex AI per project and region (`projects/NUMBER/locations/L`, the project spelled
    either way), the Gemini API as one bucket, Cloud Storage as another; so one region's traffic never uses up
    another's quota."""

    def __init__(self, rps: float) -> None:
        self.rate = float(rps)
        self.capacity = max(1.0, float(rps))
        self.buckets: dict[str, list[float]] = {}    # key -> [tokens, stamp]
        self.lock = threading.Lock()

    def take(self, path: str = "") -> RpcError | None:
        key = quota_bucket(path)
        with self.lock:
            now = time.monotonic()
            bucket = self.buckets.setdefault(key, [self.capacity, now])
            bucket[0] = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if bucket[0] >= 1.0:
                bucket[0] -= 1.0
                return None
            wait = (1.0 - bucket[0]) / self.rate
        where = f" in {key}" if key.startswith("projects/") else ""
        return RpcError("RESOURCE_EXHAUSTED",
                        f"Quota exceeded{where}: at most {self.rate:g} requests per second per project and region "
                        "(emulator --quota-rps).",
                        [retry_info(wait)], {"Retry-After": str(max(1, math.ceil(wait)))})


_REGION = re.compile(r"^/v1(?:beta1)?/projects/([^/]+)/locations/([^/]+)")


def quota_bucket(path: str) -> str:
    """The quota bucket of an API path: `projects/NUMBER/locations/L` (Vertex AI), `generativelanguage` (the
    Gemini API), `storage` (Cloud Storage), "" for anything else."""
    match = _REGION.match(path)
    if match:
        return f"projects/{project_number(match.group(1))}/locations/{match.group(2)}"
    if path.startswith(("/storage/", "/upload/", "/download/")):
        return "storage"
    return "generativelanguage" if "/tunedModels" in path or path.startswith(("/v1beta/", "/v1/")) else ""
