"""A training-loss curve as a small standalone SVG (`reconciler status PATH --plot NAME=FILE.svg`): axes, tick
labels, a title and one polyline. No dependency: a browser, an image viewer or a pull request shows it as is."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 44, 48  # margins: tick labels left and below, the title above
TICKS = 5
MARKED = 30  # up to this many points, each is marked with a dot
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'


def loss_svg(points: Sequence[tuple[float, float]], *, title: str, subtitle: str = "") -> str:
    """The SVG text of (step, loss) points, in step order. Raises ValueError when there is no point."""
    points = sorted((float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y))
    if not points:
        raise ValueError("no loss to plot")
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_ticks, y_ticks = _ticks(min(xs), max(xs), whole=True), _ticks(min(ys), max(ys))
    x_range, y_range = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])

    def at(x: float, y: float) -> tuple[float, float]:
        return _scale(x, x_range, LEFT, WIDTH - RIGHT), _scale(y, y_range, HEIGHT - BOTTOM, TOP)

    plotted = [at(x, y) for x, y in points]
    last_x, last_y = plotted[-1]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" {FONT} font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="15" font-weight="600" fill="#1f2328">{escape(title)}</text>',
        f'<text x="{LEFT}" y="36" fill="#59636e">{escape(subtitle)}</text>' if subtitle else "",
        *_grid(x_ticks, y_ticks, at),
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#59636e"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#59636e"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="#59636e">step</text>',
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2:.1f}" text-anchor="middle" fill="#59636e" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2:.1f})">mean training loss</text>',
        f'<polyline fill="none" stroke="#0969da" stroke-width="2" stroke-linejoin="round" '
        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in plotted)}"/>',
        *(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#0969da"/>' for x, y in plotted[:-1]
          if len(plotted) <= MARKED),
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3.5" fill="#0969da"/>',
        f'<text x="{min(last_x, WIDTH - RIGHT - 4):.1f}" y="{max(last_y - 8, TOP + 10):.1f}" text-anchor="end" '
        f'fill="#0969da">{_number(ys[-1])}</text>',
        "</svg>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _grid(x_ticks: list[float], y_ticks: list[float], at) -> list[str]:
    lines = []
    for y in y_ticks:
        _, py = at(x_ticks[0], y)
        lines.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" stroke="#d1d9e0"/>')
        lines.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" fill="#59636e">{_number(y)}</text>')
    for x in x_ticks:
        px, _ = at(x, y_ticks[0])
        lines.append(f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="#59636e">'
                     f"{_number(x)}</text>")
    return lines


def _scale(value: float, domain: tuple[float, float], start: float, end: float) -> float:
    low, high = domain
    return start + (end - start) * ((value - low) / (high - low) if high > low else 0.5)


def _ticks(low: float, high: float, *, whole: bool = False) -> list[float]:
    """About TICKS round values (1, 2, 2.5 or 5 × 10^n apart; whole numbers when `whole`) covering [low, high]."""
    if high - low <= 1e-12 * max(1.0, abs(high)):
        pad = 1.0 if whole else abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / (TICKS - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = [m * magnitude for m in (1, 2, 2.5, 5, 10)]
    step = next(s for s in steps if s >= raw and (not whole or s >= 1 and float(s).is_integer()))
    first = math.floor(low / step) * step
    count = math.ceil(round((high - first) / step, 9))
    return [round(first + i * step, 12) for i in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:.4g}"
