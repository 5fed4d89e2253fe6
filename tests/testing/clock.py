"""A clock tests move by hand: call it for the time, `sleep` advances it (and records how long)."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 0.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
