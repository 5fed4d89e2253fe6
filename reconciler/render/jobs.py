"""A recorded job as a person reads it, whatever the output: the state word, percent, elapsed time, ETA, loss and
its sparkline, the data the job reports, and the resource. Pure (no rich): `progress` draws it on a terminal or in
CI lines, `status` turns it into JSON and Markdown.

Every string an API sent (an error message, a resource name) is made inert here, once (`_inert`), before any
renderer sees it; the Markdown renderer escapes again for Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from reconciler.observed import Generation, needs_attention, state_word
from reconciler.render.sparkline import sparkline
from reconciler.render.untrusted import for_terminal

RATE_WINDOW = 600.0  # seconds of (time, percent) samples an ETA is estimated from


@dataclass(frozen=True)
class JobView:
    name: str
    word: str  # observed.state_word: queued, training, cancelling, succeeded, failed, cancelled, expired, gone
    active: bool
    percent: float | None = None
    elapsed: float | None = None  # seconds since training (else the job) started; None when unknown
    eta: float | None = None  # seconds left at the observed rate; None when unknown
    loss: float | None = None
    losses: tuple[float, ...] = ()
    stats: dict | None = None  # {examples, tokens, steps}, where the job reports them
    resource: str = ""  # the job, or the model where there is no job apart from it
    model: str = ""
    attention: str = ""  # why a person should look ("" when nothing is wrong)

    @property
    def spark(self) -> str:
        return sparkline(self.losses)


def view(name: str, generation: Generation | None, *, now: float, samples: Sequence[tuple[float, float]] = (),
         ended_at: float | None = None) -> JobView:
    """`now`: wall-clock seconds (epoch), to measure elapsed time from the API's start time.
    `samples`: (seconds, percent) seen so far by whoever is watching, for the ETA.
    `ended_at`: wall-clock seconds when the watcher first saw the job end (its elapsed time stops there)."""
    if generation is None:
        return JobView(_inert(name), state_word(None), False, attention=needs_attention(None))
    g = generation
    started = _epoch(g.start_time) or _epoch(g.create_time)
    until = ended_at if ended_at is not None else now if g.active else None  # an end seen by nobody: unknown
    elapsed = max(0.0, until - started) if started and until is not None else None
    percent = 100.0 if state_word(g) == "succeeded" else g.progress
    eta = None
    if g.active and percent is not None:
        eta = estimate_eta(samples, percent, elapsed if g.start_time else None)
    return JobView(name=_inert(name), word=state_word(g), active=g.active, percent=percent, elapsed=elapsed,
                   eta=eta, loss=g.loss, losses=tuple(loss for _, loss in g.loss_history),
                   stats=dict(g.data_stats) or None, resource=_inert(g.key), model=_inert(g.model or ""),
                   attention=_inert(needs_attention(g)))


def estimate_eta(samples: Sequence[tuple[float, float]], percent: float, elapsed: float | None = None) -> float | None:
    """Seconds left from the rate observed over the last RATE_WINDOW seconds of (seconds, percent) samples, or,
    with fewer than two samples that moved, from the average rate since training started (`elapsed`)."""
    if percent >= 100.0:
        return 0.0
    recent = [(t, p) for t, p in samples if samples and t >= samples[-1][0] - RATE_WINDOW]
    if len(recent) >= 2:
        (t0, p0), (t1, p1) = recent[0], recent[-1]
        if t1 > t0 and p1 > p0:
            return (100.0 - percent) / ((p1 - p0) / (t1 - t0))
    if elapsed and percent > 0:
        return (100.0 - percent) * elapsed / percent
    return None


def duration(seconds: float | None) -> str:
    """`45s`, `3m12s`, `1h05m`, `2d03h`: two units at most; "" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    whole = int(round(max(0.0, seconds)))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def count(n: int) -> str:
    """1234 -> `1.2k`, 3_400_000 -> `3.4M`."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}".rstrip("0").rstrip(".") + unit
    return str(n)


def data(stats: dict | None) -> str:
    """`500 examples · 1.2M tokens`: what a job reports of its data ("" when nothing)."""
    if not stats:
        return ""
    parts = [f"{count(stats[key])} {key}" for key in ("examples", "tokens") if stats.get(key) is not None]
    return " · ".join(parts)


def percent_text(job: JobView) -> str:
    return "" if job.percent is None else f"{job.percent:.0f}%"


def loss_text(job: JobView) -> str:
    return "" if job.loss is None else f"{job.loss:.3f}"


def _inert(text: str) -> str:
    """The one place an API's string is made safe for a terminal line (no escapes, controls or line breaks)."""
    return for_terminal(text, newlines=False)


def _epoch(timestamp: str) -> float | None:
    """RFC 3339 (`2026-01-01T00:00:00.123456789Z`) -> epoch seconds; None when empty or not a timestamp."""
    if not timestamp:
        return None
    text = timestamp.strip().replace("z", "Z").replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def now_epoch() -> float:
    return datetime.now(timezone.utc).timestamp()
