"""CRC32C of the emulated Cloud Storage: the RFC 3720 (iSCSI) test vectors, and the vectorised many-streams
path (inputs of 4 KiB and up) bit-for-bit equal to the plain byte-at-a-time loop around every block boundary."""

from __future__ import annotations

import base64
import random

import pytest

from reconciler.emulator.storage import checksums
from reconciler.emulator.storage.checksums import crc32c, crc32c_b64

BLOCK = checksums.LANE_BYTES * checksums.MAX_LANES
SMALLEST_BLOCK = checksums.LANE_BYTES * checksums.MIN_LANES


def reference(data: bytes, value: int = 0) -> int:
    """CRC32C bit by bit, straight from the reflected polynomial: shares nothing with the module."""
    crc = value ^ 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize(("data", "expected"), [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),                 # the CRC catalogue's check value
    (bytes(32), 0x8A9136AA),                    # RFC 3720 B.4: 32 bytes of zeros
    (b"\xff" * 32, 0x62A8AB43),                 # 32 bytes of ones
    (bytes(range(32)), 0x46DD794E),             # 32 incrementing bytes
    (bytes(range(31, -1, -1)), 0x113FDB5C),     # 32 decrementing bytes
])
def test_known_vectors(data, expected):
    assert crc32c(data) == expected == reference(data)


def test_base64_form_is_the_big_endian_digest():
    assert crc32c_b64(b"123456789") == base64.b64encode(bytes.fromhex("E3069283")).decode()


@pytest.mark.parametrize("size", [SMALLEST_BLOCK - 1, SMALLEST_BLOCK, SMALLEST_BLOCK + 1, 3 * SMALLEST_BLOCK + 77,
                                  BLOCK - 1, BLOCK, BLOCK + SMALLEST_BLOCK + 5])
def test_vectorised_path_matches_the_plain_loop(size):
    data = random.Random(size).randbytes(size)
    expected = checksums._bytewise(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
    assert crc32c(data) == expected
    assert crc32c(bytearray(data)) == crc32c(memoryview(data)) == expected


def test_vectorised_path_matches_the_bitwise_reference():
    data = random.Random(7).randbytes(2 * SMALLEST_BLOCK + 3)
    assert crc32c(data) == reference(data)
    assert crc32c(bytes(SMALLEST_BLOCK)) == reference(bytes(SMALLEST_BLOCK))
    assert crc32c(b"\xff" * SMALLEST_BLOCK) == reference(b"\xff" * SMALLEST_BLOCK)


def test_continuing_from_a_previous_crc():
    data = random.Random(3).randbytes(BLOCK + 1000)
    for cut in (0, 1, 5000, BLOCK):
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283
