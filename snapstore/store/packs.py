"""Pack objects: many stored chunks in one object, followed by their own table of contents.

Layout (spec/packs.md)::

    b"SSPACK01" | chunk bytes ... | TOC (msgpack) | uint64 LE TOC length | b"SSPKEND1"

The TOC is a msgpack array of ``[id, offset, length, raw_length, method]``, one per chunk, so the
index can be rebuilt from packs alone. A pack is named by the BLAKE3 hash of its whole content,
which makes it immutable and lets ``check --read-data`` verify it end to end.

In an encrypted repository (spec/encryption.md) each stored chunk and the TOC block are sealed
by the repository's ``ChunkCodec``; offsets and lengths are those of the sealed bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import blake3
import msgpack

from snapstore.base.errors import CorruptData
from snapstore.crypto.codec import PLAIN, ChunkCodec

HEADER = b"SSPACK01"
TRAILER_MAGIC = b"SSPKEND1"
TRAILER_SIZE = 16


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one chunk sits inside a pack."""

    id: bytes
    offset: int
    length: int
    raw_length: int
    method: int

    def as_list(self) -> list[object]:
        return [self.id, self.offset, self.length, self.raw_length, self.method]


class PackBuilder:
    """Accumulates stored chunks in memory until the pack is big enough to write."""

    def __init__(self, codec: ChunkCodec = PLAIN) -> None:
        self.codec = codec
        self._parts: list[bytes | memoryview] = [HEADER]
        self._size = len(HEADER)
        self.entries: list[PackEntry] = []
        self._data: bytes | None = None  # the whole pack, once finished

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, cid: bytes, stored: bytes | memoryview, raw_length: int, method: int) -> None:
        self.entries.append(PackEntry(cid, self._size, len(stored), raw_length, method))
        self._parts.append(stored)
        self._size += len(stored)

    def stored(self, index: int) -> bytes | memoryview:
        """The stored bytes of the ``index``-th chunk added, before or after ``finish`` (which
        may run on another thread: it sets the whole pack before it drops the parts)."""
        parts = self._parts
        data = self._data
        if data is None:
            return parts[index + 1]
        e = self.entries[index]
        return data[e.offset : e.offset + e.length]

    def finish(self) -> tuple[str, bytes]:
        """Return (pack name, pack bytes)."""
        toc = self.codec.seal_toc(
            msgpack.packb([e.as_list() for e in self.entries], use_bin_type=True)
        )
        self._parts.append(toc)
        self._parts.append(struct.pack("<Q", len(toc)) + TRAILER_MAGIC)
        data = b"".join(self._parts)
        self._data = data
        self._parts = []  # the chunks live on in ``data`` alone: half the memory
        return blake3.blake3(data).hexdigest(), data


def parse_toc(toc: bytes, where: str, codec: ChunkCodec = PLAIN) -> list[PackEntry]:
    """Decode a TOC block (opened first when the repository seals it)."""
    toc = codec.open_toc(toc, where)
    try:
        rows = msgpack.unpackb(toc, raw=False)
        return [PackEntry(bytes(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
    except Exception as e:
        raise CorruptData(f"pack {where}: table of contents is damaged ({e})") from None


def toc_span(trailer: bytes, pack_size: int, where: str) -> tuple[int, int]:
    """Given a pack's last 16 bytes and its size, return (TOC offset, TOC length)."""
    if len(trailer) != TRAILER_SIZE or trailer[8:] != TRAILER_MAGIC:
        raise CorruptData(f"pack {where}: trailer is damaged")
    (length,) = struct.unpack("<Q", trailer[:8])
    offset = pack_size - TRAILER_SIZE - length
    if offset < len(HEADER):
        raise CorruptData(f"pack {where}: table of contents length is impossible")
    return offset, length


def read_whole(data: bytes, where: str, codec: ChunkCodec = PLAIN) -> list[PackEntry]:
    """Parse a complete pack held in memory, checking header and trailer."""
    if not data.startswith(HEADER):
        raise CorruptData(f"pack {where}: bad header")
    offset, length = toc_span(data[-TRAILER_SIZE:], len(data), where)
    return parse_toc(data[offset : offset + length], where, codec)
