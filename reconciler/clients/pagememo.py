"""Listing pages read before, kept between runs by the sha256 of their bytes: a plan of 10,000 resources whose
listings did not change is sent the same bytes again, and need not parse and check 30 MB of JSON again.

What a page reads as is a pure function of its bytes and of the code (`pickles.code()`, in every file's
header), so a page is recalled only when its bytes are the ones read, parsed and checked clean before. Its page
token is set apart first: Google writes `nextPageToken` last (its field number follows the items'), and a token
may differ between two listings of the same items. The body without it is the key; the token is the one this
answer carries. A page whose token cannot be set apart that way (escaped, not last) is keyed by all its bytes,
and recalled with the token it had.

One pickle per listing (URL, parameters and reader), kept where and as `reconciler.pickles` says (outside the
repository, trusted only when it is this user's alone; RECONCILER_CACHE=off turns it off).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler import pickles

FORMAT = 2
KIND = pickles.Kind("pages-", 64)  # listings kept: 12 for a root of 4 Vertex scopes
_TOKEN = b'"nextPageToken"'
_TAIL = re.compile(rb'"nextPageToken"\s*:\s*"([^"\\]*)"\s*\}\s*\Z')


def split(body: bytes) -> tuple[memoryview, str | None]:
    """`body` without its page token when that is the last member, unescaped (the key: a view, not a copy of a
    megabyte), and the token; else the whole body and None."""
    at = body.rfind(_TOKEN)
    found = _TAIL.match(body, at) if at >= 0 else None
    if found is None:
        return memoryview(body), None
    return memoryview(body)[:at], found.group(1).decode("utf-8", "replace")


class PageMemo:
    """The pages of one listing read before: `recall` each answer, `keep` each page read, `save` once the last
    page is read."""

    def __init__(self, url: str, params: Mapping[str, Any], read: Callable[[Any], Any]):
        listing = f"{url}?{sorted(params.items())!r}|{read.__module__}.{read.__qualname__}"
        self.file = KIND.file(listing)
        self.header = (FORMAT, pickles.code(), listing)
        stored = pickles.load(self.file) if self.file is not None else None
        self.pages: dict[bytes, tuple[list, str | None]] = {}
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == self.header and isinstance(stored[1], dict):
            self.pages = stored[1]
        self.used: dict[bytes, tuple[list, str | None]] = {}
        self.missed = False

    def recall(self, body: bytes) -> tuple[list, str | None] | None:
        """The items `body` was read as before, and its page token; None when it was not."""
        head, token = split(body)
        key = _digest(head, token)
        found = self.pages.get(key)
        if found is None:
            return None
        self.used[key] = found
        return found[0], token if token is not None else found[1]  # keyed whole: the token it had, in its bytes

    def keep(self, body: bytes, items: list, token: str | None) -> None:
        """Remember what `body` was read as, with `token` the page token parsing it gave (kept with the items of
        a page keyed whole). A token set apart that is not the one parsing gave is no page token: not kept."""
        head, said = split(body)
        if said is None or said == token:
            self.used[_digest(head, said)] = (items, token)
            self.missed = True

    def save(self) -> None:
        if self.file is None:
            return
        if not self.missed and self.used.keys() == self.pages.keys():
            pickles.touch(self.file)
        else:
            KIND.store(self.file, (self.header, self.used))


def _digest(head: memoryview, token: str | None) -> bytes:
    """A page with its token set apart and one keyed whole never share a key."""
    digest = hashlib.sha256(b"T" if token is not None else b"W")
    digest.update(head)  # not `prefix + head`: a second copy of the page
    return digest.digest()
