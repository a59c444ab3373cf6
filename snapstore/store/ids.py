"""Chunk ids: the 32-byte BLAKE3 hash of a chunk's uncompressed bytes."""

from __future__ import annotations

import blake3

ID_SIZE = 32


def chunk_id(data: bytes | memoryview) -> bytes:
    """Return the id of ``data``."""
    return blake3.blake3(data).digest()


def short(cid: bytes) -> str:
    """A chunk id as 16 hex digits, for messages."""
    return cid.hex()[:16]
