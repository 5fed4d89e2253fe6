"""The tuning APIs behind one protocol (`base.Platform`): the only package that branches on a platform.

Adding a third platform means one module here and one line below.
"""

from __future__ import annotations

from reconciler.platforms.base import Platform
from reconciler.platforms.gemini import GEMINI
from reconciler.platforms.vertex import VERTEX

PLATFORMS: dict[str, Platform] = {platform.name: platform for platform in (VERTEX, GEMINI)}


def get(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}") from None


def owning(key: str) -> Platform | None:
    """The platform whose resources are named like `key` (a generation key recorded in the lock)."""
    return next((p for p in PLATFORMS.values() if p.owns_key(key)), None)
