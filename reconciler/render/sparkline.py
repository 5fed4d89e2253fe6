"""A loss history as one line of unicode blocks (`█▆▄▃▂▁▁`), for the live rows, `status` and its Markdown."""

from __future__ import annotations

import math
from collections.abc import Iterable

BLOCKS = "▁▂▃▄▅▆▇█"
WIDTH = 16  # cells: enough to see a curve's shape, small enough for a table column


def sparkline(values: Iterable[float], width: int = WIDTH) -> str:
    """One block per value, lowest ▁ to highest █; longer series are averaged into `width` buckets.

    Non-finite values are left out; a flat series is a row of middle blocks; nothing gives ""."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite or width < 1:
        return ""
    points = _buckets(finite, width) if len(finite) > width else finite
    low, high = min(points), max(points)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return BLOCKS[len(BLOCKS) // 2 - 1] * len(points)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - low) / (high - low) * top)] for v in points)


def _buckets(values: list[float], width: int) -> list[float]:
    """`width` means of consecutive runs of nearly equal length, in order."""
    size = len(values) / width
    runs = [values[round(i * size):round((i + 1) * size)] for i in range(width)]
    return [sum(run) / len(run) for run in runs if run]
