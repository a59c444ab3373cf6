"""lz4 block compression of single chunks; chunks lz4 cannot shrink are stored raw."""

from __future__ import annotations

from typing import overload

import lz4.block

RAW = 0
LZ4 = 1

# Chunks at least this big are probed before being compressed whole: lz4 runs slower on
# random data (about 400 MB/s on the benchmark machine) than on text, only to give it back
# unshrunk, and embeddings, images and archives are often half of a research tree.
PROBE_ABOVE = 256 * 1024
PROBE = 16 * 1024
# A probe must shrink by at least this fraction for the chunk to be compressed whole.
PROBE_MIN_SAVING = 0.02


def _incompressible(data: bytes | memoryview) -> bool:
    """Whether three slices (start, middle, end) all resist lz4: then the whole chunk is
    stored raw without trying. Content decides, so the result does not depend on timing."""
    view = memoryview(data)
    n = len(view)
    limit = PROBE * (1 - PROBE_MIN_SAVING)
    for start in (0, (n - PROBE) // 2, n - PROBE):
        if len(lz4.block.compress(view[start : start + PROBE], store_size=False)) < limit:
            return False
    return True


def compress(data: bytes | memoryview, *, copy: bool = True) -> tuple[bytes | memoryview, int]:
    """Return (stored bytes, method); raw when compression would not save anything.

    A raw chunk is ``data`` itself when it is ``bytes`` or when ``copy`` is false (the caller
    promises the buffer behind a memoryview never changes): incompressible data is often
    most of the bytes, and copying it is then the largest cost after reading it."""
    if len(data) < PROBE_ABOVE or not _incompressible(data):
        packed = lz4.block.compress(data, store_size=False)
        if len(packed) < len(data):
            return packed, LZ4
    return (bytes(data) if copy and not isinstance(data, bytes) else data), RAW


@overload
def decompress(stored: bytes, method: int, raw_length: int) -> bytes: ...
@overload
def decompress(stored: bytes | memoryview, method: int, raw_length: int) -> bytes | memoryview: ...
def decompress(stored: bytes | memoryview, method: int, raw_length: int) -> bytes | memoryview:
    """Invert :func:`compress`; raises ValueError on damaged input."""
    if method == RAW:
        return stored
    if method == LZ4:
        try:
            raw: bytes = lz4.block.decompress(stored, uncompressed_size=raw_length)
            return raw
        except lz4.block.LZ4BlockError as e:
            raise ValueError(f"lz4 data is damaged ({e})") from None
    raise ValueError(f"unknown compression method {method}")
