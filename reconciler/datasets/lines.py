"""The numbered lines of a stream of byte chunks, in bounded memory: a line is held only until its newline (and never
past `max_line` bytes), the file as a whole never. The bytes read are hashed and counted on the way through."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    """One line without its end of line (`\\n` or `\\r\\n`); `overlong`: its text was dropped past `max_line`."""

    number: int
    data: bytes
    overlong: bool = False


class Meter:
    """Wraps the chunks: their SHA-256 and size so far, and stops reading (`over`) once the size passes `limit`."""

    def __init__(self, chunks: Iterable[bytes], limit: int):
        self._chunks, self.limit = chunks, limit
        self._hash = hashlib.sha256()
        self.size = 0
        self.over = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if not chunk:
                continue
            self.size += len(chunk)
            self._hash.update(chunk)
            if self.size > self.limit:
                self.over = True
                return
            yield bytes(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def lines(chunks: Iterable[bytes], max_line: int) -> Iterator[Line]:
    """Every line of the stream, numbered from 1; a UTF-8 byte order mark at the start is dropped. The text of a
    line longer than `max_line` bytes is not kept (it comes out empty with `overlong`), so memory stays bounded."""
    pending: list[bytes] = []
    held, overlong, number = 0, False, 0
    for chunk in _without_bom(chunks):
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:
            number += 1
            yield _line(number, pending, piece, overlong or held + len(piece) > max_line)
            pending, held, overlong = [], 0, False
        tail = pieces[-1]
        if overlong or held + len(tail) > max_line:
            pending, held, overlong = [], 0, True
        elif tail:
            pending.append(tail)
            held += len(tail)
    if pending or overlong:
        yield _line(number + 1, pending, b"", overlong)


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, a byte order mark at the very start dropped (even when it comes split across chunks)."""
    start = b""
    iterator = iter(chunks)
    for chunk in iterator:
        start += chunk
        if len(start) >= len(BOM):
            break
    if start:
        yield start.removeprefix(BOM)
    yield from iterator


def _line(number: int, pending: list[bytes], piece: bytes, overlong: bool) -> Line:
    if overlong:
        return Line(number, b"", True)
    data = b"".join(pending) + piece if pending else piece
    return Line(number, data[:-1] if data.endswith(b"\r") else data)
