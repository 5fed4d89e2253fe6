"""Virtual clock: wall-clock time plus an offset that tests (and users) can push forward."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from functools import lru_cache

from .limits import MAX_CLOCK_ADVANCE, MAX_CLOCK_OFFSET, bounded


class Clock:
    """`now()` is wall time + `offset`; `advance(s)` moves virtual time forward without sleeping."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = bounded("clock offset", offset, 0, MAX_CLOCK_OFFSET)
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move virtual time forward by `seconds` (finite, 0 to 10 years; the clock only moves forward, and
        its offset stays within 100 years); ValueError otherwise, the clock unchanged."""
        seconds = bounded("seconds", seconds, 0, MAX_CLOCK_ADVANCE)
        with self._lock:
            if self._offset + seconds > MAX_CLOCK_OFFSET:
                raise ValueError(f"the virtual clock offset would exceed {MAX_CLOCK_OFFSET:g} seconds (100 years)")
            self._offset += seconds
            return self._offset

    def reset(self, offset: float = 0.0) -> None:
        offset = bounded("clock offset", offset, 0, MAX_CLOCK_OFFSET)
        with self._lock:
            self._offset = offset


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
