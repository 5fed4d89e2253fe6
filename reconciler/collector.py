"""The cyclic garbage collector, paused while a command builds a large value at once (a decoded lock, an
unpickled cache): a 10,000-entry lock or manifest cache is a million small objects and no reference cycle, and
the collector, triggered over and over while they are made, walked them all again each time to free nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No collection while the block runs. Once it is done, what it made would still be walked when the collector
    runs again, so it goes straight to the oldest generation instead (what freeze then unfreeze do): such a value
    lives as long as the command."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()
