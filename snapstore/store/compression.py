"""lz4 block compression of single chunks; chunks lz4 cannot shrink are stored raw."""

from __future__ import annotations

import lz4.block

RAW = 0
LZ4 = 1


def compress(data: bytes | memoryview, *, copy: bool = True) -> tuple[bytes | memoryview, int]:
    """Return (stored bytes, method); raw when compression would not save anything.

    A raw chunk is ``data`` itself when it is ``bytes`` or when ``copy`` is false (the caller
    promises the buffer behind a memoryview never changes): incompressible data is often
    most of the bytes, and copying it is then the largest cost after reading it."""
    packed = lz4.block.compress(data, store_size=False)
    if len(packed) >= len(data):
        return (bytes(data) if copy and not isinstance(data, bytes) else data), RAW
    return packed, LZ4


def decompress(stored: bytes, method: int, raw_length: int) -> bytes:
    """Invert :func:`compress`; raises ValueError on damaged input."""
    if method == RAW:
        return stored
    if method == LZ4:
        try:
            return lz4.block.decompress(stored, uncompressed_size=raw_length)
        except lz4.block.LZ4BlockError as e:
            raise ValueError(f"lz4 data is damaged ({e})") from None
    raise ValueError(f"unknown compression method {method}")
