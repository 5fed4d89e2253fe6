"""The checksums Cloud Storage reports for an object: CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and
MD5, both base64 of their big-endian digest, as in `crc32c`/`md5Hash` and the `x-goog-hash` header.

The standard library has no CRC32C (zlib's crc32 is another polynomial), and a byte-at-a-time Python loop runs
at a few MiB/s: a 30 MiB upload spent seconds here. So large inputs are checksummed many streams at a time,
with the per-byte work done by C-speed bytes and int operations: a block of LANES x LANE_BYTES bytes is cut
into LANES consecutive pieces whose CRC registers advance together, one byte of every piece per step (the
register bytes kept as four byte planes, the table lookup done by `bytes.translate`). CRCs are linear over
GF(2), so the pieces' registers are then folded pairwise into the block's: reg(A+B) = shift(reg(A), |B|) ^
reg(B), where shift(., n) (feeding n zero bytes) is itself a table lookup. Results are bit-for-bit those of
the plain loop (tests/emulator/test_checksums.py checks both against the RFC 3720 vectors and each other)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

_POLY = 0x82F63B78
LANE_BYTES = 256              # bytes of each piece of a block (a power of two: the fold doubles it)
MAX_LANES = 4096              # pieces per block (a power of two): 1 MiB blocks
MIN_LANES = 16                # below 16 pieces (4 KiB) the plain loop is as fast


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLY if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_TABLE = _table()
# _PLANES[k] maps an index byte to byte k of its table entry: one `translate` per register byte
_PLANES = tuple(bytes((entry >> (8 * k)) & 0xFF for entry in _TABLE) for k in range(4))


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32C of `data` (continuing from `value`, the CRC of what came before)."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    register = value ^ 0xFFFFFFFF
    position, size = 0, len(data)
    while (size - position) // LANE_BYTES >= MIN_LANES:
        lanes = min(MAX_LANES, 1 << (((size - position) // LANE_BYTES).bit_length() - 1))
        register = _block(data, position, lanes, register)
        position += lanes * LANE_BYTES
    return _bytewise(data[position:], register) ^ 0xFFFFFFFF


def _bytewise(data: bytes | bytearray, register: int) -> int:
    """The plain loop, on the raw (unconditioned) register."""
    table = _TABLE
    for byte in data:
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _block(data: bytes | bytearray, start: int, lanes: int, register: int) -> int:
    """The raw register after data[start:start + lanes * LANE_BYTES], from `register` (`lanes` a power of two)."""
    from_bytes, step, end = int.from_bytes, LANE_BYTES, start + lanes * LANE_BYTES
    plane0, plane1, plane2, plane3 = _PLANES
    # Byte k of every piece's register, little-endian over pieces; the first piece starts from `register`.
    r0, r1, r2, r3 = register & 0xFF, (register >> 8) & 0xFF, (register >> 16) & 0xFF, register >> 24
    for offset in range(start, start + step):
        index = (r0 ^ from_bytes(data[offset:end:step], "little")).to_bytes(lanes, "little")
        r0 = r1 ^ from_bytes(index.translate(plane0), "little")
        r1 = r2 ^ from_bytes(index.translate(plane1), "little")
        r2 = r3 ^ from_bytes(index.translate(plane2), "little")
        r3 = from_bytes(index.translate(plane3), "little")
    planes = [r.to_bytes(lanes, "little") for r in (r0, r1, r2, r3)]
    length = step
    while lanes > 1:               # fold neighbours: (A, B) -> shift(A, length) ^ B
        shift = _shift_planes(length)
        firsts = [plane[0::2] for plane in planes]
        lanes //= 2
        folded = []
        for k in range(4):
            byte_k = from_bytes(planes[k][1::2], "little")
            for source in range(4):
                byte_k ^= from_bytes(firsts[source].translate(shift[source][k]), "little")
            folded.append(byte_k.to_bytes(lanes, "little"))
        planes, length = folded, length * 2
    return planes[0][0] | planes[1][0] << 8 | planes[2][0] << 16 | planes[3][0] << 24


@lru_cache(maxsize=None)
def _shift_columns(length: int) -> tuple[int, ...]:
    """The GF(2)-linear map "feed `length` zero bytes" on a raw register, as the images of its 32 bits
    (`length` a power of two: squared from the one-byte map)."""
    if length == 1:
        return tuple(_bytewise(b"\0", 1 << bit) for bit in range(32))
    half = _shift_columns(length // 2)
    return tuple(_apply(half, column) for column in half)


def _apply(columns: tuple[int, ...], value: int) -> int:
    result = 0
    for column in columns:
        if value & 1:
            result ^= column
        value >>= 1
    return result


@lru_cache(maxsize=None)
def _shift_planes(length: int) -> tuple[tuple[bytes, ...], ...]:
    """[source byte][target byte] -> translate table: byte `target` of the shifted register's share from byte
    `source` of the register."""
    columns = _shift_columns(length)
    planes = []
    for source in range(4):
        images = [0] * 256
        for value in range(1, 256):
            low = value & -value
            images[value] = images[value ^ low] ^ columns[8 * source + low.bit_length() - 1]
        planes.append(tuple(bytes((image >> (8 * target)) & 0xFF for image in images) for target in range(4)))
    return tuple(planes)


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(crc32c(data).to_bytes(4, "big")).decode("ascii")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")   # noqa: S324 - an integrity checksum
