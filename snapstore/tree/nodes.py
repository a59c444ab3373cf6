"""Nodes of a snapshot tree and the content of its files.

A ``Node`` is one directory, file or symlink with the metadata ``ls -l`` shows. A file node
carries a ``Content``: its bytes, read on demand, verified as they are read. Content comes
from chunks (``ChunkContent``: a bulk file), from bytes made on the spot (``BytesContent``:
``metadata.json``), or from a source (the database's files, see ``sources.arangodb.export``).
Content offers the ids of its stored chunks (``chunk_ids``: what a read plan fetches together
with other files' chunks when a whole tree is written, tree/output.py), streaming
(``chunks``), streaming from an offset with read-ahead (``pieces``: a mount's sequential
reads) and random access (``read``). Every chunk is verified against its id, and a damaged
one is an error naming the snapshot and the path (``where``).
"""

from __future__ import annotations

import bisect
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from snapstore.base.errors import CorruptData
from snapstore.manifest.listing import DIR, FILE, SYMLINK, FileEntry
from snapstore.store.chunkstore import ChunkStore

__all__ = [
    "DIR",
    "FILE",
    "SYMLINK",
    "BytesContent",
    "ChunkContent",
    "Content",
    "Node",
    "named",
    "with_where",
]

# A mount's sequential read fetches the next 1, 2, 4, ... chunks of the file at once, up to
# this many: a short read costs one chunk, a long one is read a window ahead.
MAX_WINDOW = 16


class Content(Protocol):
    """The bytes of one file of a snapshot tree."""

    size: int
    where: str  # "snapshot NAME: ROOT: PATH", for errors ("" for bytes made on the spot)

    def chunk_ids(self) -> Iterator[bytes] | None:
        """The ids of the stored chunks whose verified bytes, in order, are the content;
        None for content held in memory."""
        ...

    def chunks(self) -> Iterator[bytes]:
        """The whole content, in pieces, in order (verified)."""
        ...

    def pieces(self, offset: int) -> Iterator[bytes]:
        """The content from ``offset`` to its end, in pieces, read ahead (verified)."""
        ...

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer at the end of the file)."""
        ...


def named(pieces: Iterable[bytes], where: str) -> Iterator[bytes]:
    """``pieces``, with a damaged or missing chunk's error prefixed by ``where`` (the
    snapshot and the path), as every read of a file reports it."""
    try:
        yield from pieces
    except CorruptData as e:
        raise with_where(e, where) from None


def with_where(e: CorruptData, where: str) -> CorruptData:
    """The error ``e`` prefixed by ``where``, unless it names it already."""
    if not where or str(e).startswith(where):
        return e
    return type(e)(f"{where}: {e}")


@dataclass
class BytesContent:
    """Content held in memory (small generated files)."""

    data: bytes
    size: int = field(init=False)
    where: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.size = len(self.data)

    def chunk_ids(self) -> Iterator[bytes] | None:
        return None

    def chunks(self) -> Iterator[bytes]:
        if self.data:
            yield self.data

    def pieces(self, offset: int) -> Iterator[bytes]:
        if offset < self.size:
            yield self.data[offset:]

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]


class ChunkContent:
    """A bulk file's content: its chunks, read through the store (verified).

    Random access needs each chunk's length: it is taken from the index (or, for a chunk
    moved to a cold archive, by reading the chunk) the first time a ``read`` needs it.
    """

    def __init__(self, store: ChunkStore, ids: tuple[bytes, ...], size: int, where: str) -> None:
        self.store = store
        self.ids = ids
        self.size = size
        self.where = where
        self._starts: list[int] | None = None

    def chunk_ids(self) -> Iterator[bytes] | None:
        return iter(self.ids)

    def chunks(self) -> Iterator[bytes]:
        return named(self.store.read_many(self.ids), self.where)

    def pieces(self, offset: int) -> Iterator[bytes]:
        if offset >= self.size or not self.ids:
            return
        starts = self._offsets()
        i = bisect.bisect_right(starts, offset) - 1
        skip = offset - starts[i]
        for piece in named(self._windows(i), self.where):
            yield piece[skip:] if skip else piece
            skip = 0

    def _windows(self, i: int) -> Iterator[bytes]:
        """The chunks from the ``i``-th on, fetched in batches that double in size."""
        window = 1
        while i < len(self.ids):
            yield from self.store.read_many(self.ids[i : i + window])
            i += window
            window = min(2 * window, MAX_WINDOW)

    def _offsets(self) -> list[int]:
        if self._starts is None:
            starts, pos = [], 0
            for cid in self.ids:
                starts.append(pos)
                loc = self.store.locate(cid)
                pos += loc.raw_length if loc is not None else len(self.store.read(cid))
            self._starts = starts
        return self._starts

    def read(self, offset: int, size: int) -> bytes:
        if size <= 0 or offset >= self.size or not self.ids:
            return b""
        starts = self._offsets()
        i = bisect.bisect_right(starts, offset) - 1
        out = bytearray()
        end = min(offset + size, self.size)
        while i < len(self.ids) and starts[i] < end:
            data = self._chunk(i)
            lo = max(0, offset - starts[i])
            hi = min(len(data), end - starts[i])
            out += data[lo:hi]
            i += 1
        return bytes(out)

    def _chunk(self, i: int) -> bytes:
        try:
            return self.store.read(self.ids[i])
        except CorruptData as e:
            raise with_where(e, self.where) from None


@dataclass
class Node:
    """One entry of a snapshot tree. ``path`` is relative to the tree's root (b"" is the
    root), components separated by b"/"."""

    path: bytes
    type: str  # FILE, DIR or SYMLINK
    mode: int  # permission bits
    mtime_ns: int
    size: int = 0
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    target: bytes | None = None
    content: Content | None = field(default=None, repr=False)

    @property
    def name(self) -> bytes:
        return self.path.rsplit(b"/", 1)[-1]

    @property
    def st_mode(self) -> int:
        kind = {FILE: stat.S_IFREG, DIR: stat.S_IFDIR, SYMLINK: stat.S_IFLNK}[self.type]
        return kind | self.mode

    @classmethod
    def from_entry(cls, entry: FileEntry, path: bytes, store: ChunkStore, where: str) -> Node:
        content = None
        if entry.type == FILE:
            content = ChunkContent(store, entry.chunks, entry.size, where)
        return cls(
            path=path,
            type=entry.type,
            mode=entry.mode,
            mtime_ns=entry.mtime_ns,
            size=entry.size if entry.type == FILE else 0,
            uid=entry.uid,
            gid=entry.gid,
            user=entry.user,
            group=entry.group,
            target=entry.target,
            content=content,
        )

    @classmethod
    def directory(cls, path: bytes, mtime_ns: int, mode: int = 0o755) -> Node:
        return cls(path=path, type=DIR, mode=mode, mtime_ns=mtime_ns)

    @classmethod
    def file(cls, path: bytes, content: Content, mtime_ns: int, mode: int = 0o644) -> Node:
        return cls(
            path=path, type=FILE, mode=mode, mtime_ns=mtime_ns, size=content.size, content=content
        )
