"""ChunkStore: add chunks (deduplicated, compressed, packed) and read them back verified.

Write order is the durability promise: a pack is put (atomic, fsynced) when it fills; ``flush``
puts the last pack and then one index object naming every pack written since the last flush.
Only after ``flush`` returns may a manifest that references these chunks be published.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapstore.backend import Backend, Kind
from snapstore.errors import CorruptData, MissingChunk, ObjectNotFound
from snapstore.store import compression
from snapstore.store.cache import IndexCache, Location, default_cache_root
from snapstore.store.config import RepoConfig, read_config
from snapstore.store.ids import chunk_id, short
from snapstore.store.index import IndexObject
from snapstore.store.packs import PackBuilder, PackEntry


@dataclass
class StoreStats:
    """What this process added to the repository."""

    new_chunks: int = 0
    new_raw_bytes: int = 0
    new_stored_bytes: int = 0
    packs_written: int = 0
    pack_bytes: int = 0
    index_bytes: int = 0


class ChunkStore:
    """The repository's chunks, as seen by one process."""

    def __init__(self, backend: Backend, config: RepoConfig, cache: IndexCache) -> None:
        self.backend = backend
        self.config = config
        self.cache = cache
        self.stats = StoreStats()
        self._builder = PackBuilder()
        self._building: dict[bytes, tuple[bytes, int, int]] = {}
        self._written: dict[str, list[PackEntry]] = {}
        self._pending: dict[bytes, Location] = {}

    @classmethod
    def open(cls, backend: Backend, cache_root: str | None = None) -> ChunkStore:
        config = read_config(backend)
        cache = IndexCache(default_cache_root(cache_root) / config.id / "index.sqlite")
        cache.sync(backend)
        return cls(backend, config, cache)

    def close(self) -> None:
        self.cache.close()

    # -- writing ------------------------------------------------------------------------------

    def has(self, cid: bytes) -> bool:
        return cid in self._building or cid in self._pending or cid in self.cache

    def add(self, data: bytes | memoryview) -> tuple[bytes, bool]:
        """Store ``data`` unless an identical chunk exists; return (id, whether it was new)."""
        cid = chunk_id(data)
        if self.has(cid):
            return cid, False
        stored, method = compression.compress(data)
        self.add_stored(cid, stored, len(data), method)
        return cid, True

    def add_stored(self, cid: bytes, stored: bytes, raw_length: int, method: int) -> None:
        """Append an already hashed and compressed chunk to the current pack."""
        self._builder.add(cid, stored, raw_length, method)
        self._building[cid] = (stored, raw_length, method)
        self.stats.new_chunks += 1
        self.stats.new_raw_bytes += raw_length
        self.stats.new_stored_bytes += len(stored)
        if self._builder.size >= self.config.pack_size:
            self._write_pack()

    def _write_pack(self) -> None:
        if not len(self._builder):
            return
        name, data = self._builder.finish()
        self.backend.put(Kind.PACKS, name, data)
        entries = self._builder.entries
        self._written[name] = entries
        for e in entries:
            self._pending[e.id] = Location(name, e.offset, e.length, e.raw_length, e.method)
        self.stats.packs_written += 1
        self.stats.pack_bytes += len(data)
        self._builder = PackBuilder()
        self._building = {}

    def flush(self) -> None:
        """Make every chunk added so far durable and indexed."""
        self._write_pack()
        if not self._written:
            return
        obj = IndexObject(packs=self._written)
        name, data = obj.encode()
        self.backend.put(Kind.INDEX, name, data)
        self.stats.index_bytes += len(data)
        self.cache.record(name, obj)
        self._written = {}
        self._pending = {}

    # -- reading ------------------------------------------------------------------------------

    def locate(self, cid: bytes) -> Location | None:
        return self._pending.get(cid) or self.cache.get(cid)

    def read(self, cid: bytes) -> bytes:
        """Return the chunk's bytes, verified against its id (CorruptData / MissingChunk)."""
        if cid in self._building:
            stored, raw_length, method = self._building[cid]
            return compression.decompress(stored, method, raw_length)
        loc = self.locate(cid)
        if loc is None:
            raise MissingChunk(f"chunk {short(cid)} is not in the index")
        try:
            stored = self.backend.get(Kind.PACKS, loc.pack, loc.offset, loc.length)
        except ObjectNotFound:
            raise MissingChunk(f"chunk {short(cid)}: pack {loc.pack[:16]} is missing") from None
        return self.verify(cid, stored, loc, where=f"pack {loc.pack[:16]}")

    @staticmethod
    def verify(cid: bytes, stored: bytes, loc: Location, where: str) -> bytes:
        """Decompress and check a stored chunk against its id."""
        try:
            data = compression.decompress(stored, loc.method, loc.raw_length)
        except ValueError as e:
            raise CorruptData(f"chunk {short(cid)} in {where}: {e}") from None
        if len(data) != loc.raw_length or chunk_id(data) != cid:
            raise CorruptData(f"chunk {short(cid)} in {where} does not match its id")
        return data
