"""File listings: the entries of one bulk root, stored as a msgpack stream cut into chunks.

Entries come in depth-first order with each directory's children sorted by name bytes (the
order ``sort_key`` gives), which lets diff and restore stream two listings side by side. The
stream is chunked with a smaller chunker than file data (``LISTING_DIVISOR``), so a change to
one entry re-stores about 16 KB rather than a megabyte (spec/manifest.md says why 64).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from snapstore.errors import CorruptData
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import ChunkerParams

LISTING_DIVISOR = 64
LISTING_BLOCK = 1024 * 1024  # encoded bytes per chunking round when storing a listing
FILE, DIR, SYMLINK = "f", "d", "l"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file, directory or symlink, with the metadata restore and diff need."""

    path: bytes  # relative to the root, b"/"-separated; b"" is the root directory itself
    type: str  # FILE, DIR or SYMLINK
    mode: int  # permission bits (stat.S_IMODE)
    mtime_ns: int
    size: int = 0
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    target: bytes | None = None  # symlink target
    chunks: tuple[bytes, ...] = ()
    inode: int = 0  # with ctime_ns: only for "unchanged since the parent snapshot" checks
    ctime_ns: int = 0

    def to_map(self) -> dict[str, object]:
        d: dict[str, object] = {"p": self.path, "t": self.type, "m": self.mode, "mt": self.mtime_ns}
        if self.type == FILE:
            d["s"] = self.size
            d["c"] = list(self.chunks)
        if self.type == SYMLINK:
            d["l"] = self.target
        if self.uid is not None:
            d["u"], d["g"] = self.uid, self.gid
        if self.user is not None:
            d["un"] = self.user
        if self.group is not None:
            d["gn"] = self.group
        d["i"], d["ct"] = self.inode, self.ctime_ns
        return d

    @classmethod
    def from_map(cls, d: dict[str, object]) -> FileEntry:
        return cls(
            path=bytes(d["p"]),  # type: ignore[arg-type]
            type=str(d["t"]),
            mode=int(d["m"]),  # type: ignore[call-overload]
            mtime_ns=int(d["mt"]),  # type: ignore[call-overload]
            size=int(d.get("s", 0)),  # type: ignore[call-overload]
            uid=d.get("u"),  # type: ignore[arg-type]
            gid=d.get("g"),  # type: ignore[arg-type]
            user=d.get("un"),  # type: ignore[arg-type]
            group=d.get("gn"),  # type: ignore[arg-type]
            target=d.get("l"),  # type: ignore[arg-type]
            chunks=tuple(bytes(c) for c in d.get("c", ())),  # type: ignore[attr-defined]
            inode=int(d.get("i", 0)),  # type: ignore[call-overload]
            ctime_ns=int(d.get("ct", 0)),  # type: ignore[call-overload]
        )


def sort_key(path: bytes) -> tuple[bytes, ...]:
    """The listing order: compare paths component by component."""
    return tuple(path.split(b"/")) if path else ()


def listing_params(params: ChunkerParams) -> ChunkerParams:
    """The chunker parameters for listings, derived from the repository's."""
    return ChunkerParams(
        min_size=max(64, params.min_size // LISTING_DIVISOR),
        avg_size=max(256, params.avg_size // LISTING_DIVISOR),
        max_size=max(1024, params.max_size // LISTING_DIVISOR),
        normalization=params.normalization,
        seed=params.seed,
    )


def encode_entries(entries: Iterable[FileEntry]) -> bytes:
    packer = msgpack.Packer(use_bin_type=True)
    return b"".join(packer.pack(e.to_map()) for e in entries)


class _EncodedEntries:
    """The msgpack stream of ``entries`` as a readable stream, encoded as it is read. An
    entry may also be given in ``to_map`` form (a dict), e.g. one reused from a listing."""

    def __init__(self, entries: Iterable[FileEntry | dict[str, Any]]) -> None:
        self._entries = iter(entries)
        self._packer = msgpack.Packer(use_bin_type=True)
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            entry = next(self._entries, None)
            if entry is None:
                break
            self._buf += self._packer.pack(entry if isinstance(entry, dict) else entry.to_map())
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def store_listing(store: ChunkStore, entries: Iterable[FileEntry | dict[str, Any]]) -> list[bytes]:
    """Store a listing; return the ids of its chunks.

    ``entries`` is consumed as a stream and the listing is chunked as it is encoded (the same
    cuts as chunking the whole encoding at once), so a listing of millions of entries is never
    held in memory whole.
    """
    chunker = Chunker(listing_params(store.config.chunker))
    stream = _EncodedEntries(entries)
    return [store.add(piece)[0] for piece in chunker.cut_stream(stream, block=LISTING_BLOCK)]


def load_listing(store: ChunkStore, chunk_ids: Iterable[bytes], where: str) -> Iterator[FileEntry]:
    """Stream the entries of a stored listing, verifying every chunk as it is read."""
    maps = load_listing_maps(store, chunk_ids, where)
    try:
        for d in maps:
            yield FileEntry.from_map(d)
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptData(f"{where}: file listing is damaged ({e})") from None


def load_listing_maps(
    store: ChunkStore, chunk_ids: Iterable[bytes], where: str
) -> Iterator[dict[str, Any]]:
    """``load_listing`` without building FileEntry objects: the decoded maps (``to_map``'s
    form), for callers that look at a few fields of many entries (stat-based reuse)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
    for cid in chunk_ids:
        try:
            data = store.read(cid)
        except CorruptData as e:
            # Name the snapshot and root: a bare chunk id tells the user nothing.
            raise type(e)(f"{where}: file listing: {e}") from None
        unpacker.feed(data)
        try:
            for d in unpacker:
                if not isinstance(d, dict):
                    raise TypeError(f"entry is a {type(d).__name__}, not a map")
                yield d
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise CorruptData(f"{where}: file listing is damaged ({e})") from None
