"""Bounds on what the emulator accepts from the network and its options, and the loopback test behind the
warning printed when it listens on any other address (its admin surface has no authentication)."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

MIB = 1024 * 1024
MAX_BODY_BYTES = 32 * MIB          # a request body above this is 413 (Gemini inline examples can be large)
YEAR = 365.25 * 86400.0
MAX_CLOCK_ADVANCE = 10 * YEAR      # one clock:advance
MAX_CLOCK_OFFSET = 100 * YEAR      # the virtual clock in all (timestamps stay far from datetime's year 9999)
MAX_JOB_DURATION = 10 * YEAR       # --job-duration
MAX_LATENCY_MS = 600_000.0         # --latency-ms and a latency fault rule: 10 minutes
MAX_RETRY_AFTER = 86_400.0         # retryAfterSeconds of a fault rule: one day
MAX_QUOTA_RPS = 1_000_000.0        # --quota-rps
MAX_COUNT = 1_000_000_000          # times of a fault rule


def bounded(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> Any:
    """`value` as a finite number within [low, high] (an int when `integer`); ValueError naming `name` otherwise.
    Numbers may come as JSON numbers or numeric strings; booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be a finite number between {low:g} and {high:g}, not {value!r}")
    if integer:
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, not {value!r}")
        return int(number)
    return number


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost; an unspecified or other address is not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def exposure_warning(host: str, port: int) -> str:
    return (f"WARNING: the emulator listens on {host}:{port}, which is not a loopback address: other machines may "
            "reach it. Its admin API (/__emulator__/) has no authentication: anyone who can connect can reset its "
            "state, inject faults, move its clock and read its request log. Bind to 127.0.0.1 (the default) "
            "unless the network is trusted.")
