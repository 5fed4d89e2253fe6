"""The checksums Cloud Storage reports for an object: CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and
MD5, both base64 of their big-endian digest, as in `crc32c`/`md5Hash` and the `x-goog-hash` header."""

from __future__ import annotations

import base64
import hashlib


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ 0x82F63B78 if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_TABLE = _table()


def crc32c(data: bytes, value: int = 0) -> int:
    """CRC32C of `data` (continuing from `value`, the CRC of what came before)."""
    crc = value ^ 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(crc32c(data).to_bytes(4, "big")).decode("ascii")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")   # noqa: S324 - an integrity checksum
