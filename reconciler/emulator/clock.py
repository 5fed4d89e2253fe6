"""Virtual clock: wall-clock time plus an offset that tests (and users) can push forward."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from functools import lru_cache


class Clock:
    """`now()` is wall time + `offset`; `advance(s)` moves virtual time forward without sleeping."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = float(offset)
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the virtual clock only moves forward")
        with self._lock:
            self._offset += float(seconds)
            return self._offset

    def reset(self, offset: float = 0.0) -> None:
        with self._lock:
            self._offset = float(offset)


@lru_cache(maxsize=65536)   # resource timestamps are rendered again and again on the get/list hot path
def rfc3339(timestamp: float) -> str:
    """Google's timestamp form: UTC, microseconds, trailing Z."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    cleaned = text.strip().replace("z", "Z")
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    if "." in cleaned:  # fromisoformat in 3.11 accepts at most 6 fractional digits
        head, _, rest = cleaned.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tail = rest[len(digits):]
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
