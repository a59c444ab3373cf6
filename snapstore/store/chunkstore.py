"""ChunkStore: add chunks (deduplicated, compressed, packed) and read them back verified.

Write order is the durability promise: a pack is put (atomic, fsynced) when it fills; ``flush``
puts the last pack and then one index object naming every pack written since the last flush.
Only after ``flush`` returns may a manifest that references these chunks be published.

Speed (the parallel paths are store/pipeline.py and store/reader.py): full packs go to
``PACK_WRITERS`` writer threads that name and put them (each put is one write and one fsync),
at most ``MAX_QUEUED_PACKS`` in flight (store/concurrency.py's bounded queue), so hashing and
compressing go on meanwhile; ``flush`` waits for every pack before it writes the index object.
``prepare`` (hash, and compress unless the chunk is already stored) may run on any thread;
``add_prepared`` applies its result on the owning thread. Past ``INDEX_CHECKPOINT_CHUNKS``
unindexed chunks an interim index object is written (after its packs are durable), which keeps
this process's bookkeeping bounded however many chunks one create adds; a crash leaves at
worst packs no snapshot uses.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import overload

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, MissingChunk, ObjectNotFound
from snapstore.store import compression, memory, reader
from snapstore.store.archives import ArchiveSet
from snapstore.store.cache import IndexCache, Location, default_cache_root
from snapstore.store.concurrency import (
    InFlight,
    Pool,
    default_workers,
    new_pool,
    shutdown_fully,
)
from snapstore.store.config import RepoConfig, read_config
from snapstore.store.ids import ChunkIdentity, short
from snapstore.store.index import IndexObject
from snapstore.store.packs import PackBuilder, PackEntry
from snapstore.store.sealing import codec_of, identity_of

# Threads putting packs: two keep a disk busier than one (each put ends with an fsync).
PACK_WRITERS = 2
# Full packs handed to the writers and not yet durable (each ``pack_size``): more makes add wait.
MAX_QUEUED_PACKS = 2
# Chunks in written packs that no index object names yet; past this, an interim index object.
INDEX_CHECKPOINT_CHUNKS = 65536


def _put_done(write: tuple[PackBuilder, Future[tuple[str, int]]]) -> bool:
    return write[1].done()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk hashed and, unless the store already had it, compressed (``ChunkStore.prepare``)."""

    id: bytes
    raw_length: int
    stored: bytes | memoryview | None  # None: the store already held the chunk
    method: int = compression.RAW


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

    def __init__(
        self,
        backend: Backend,
        config: RepoConfig,
        cache: IndexCache,
        identity: ChunkIdentity | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        # How chunks are cut and named (store/ids.py): every id this store computes is
        # ``self.identity.id``; plain BLAKE3 with the config's chunker unless told otherwise.
        self.identity = identity or identity_of(backend, config)
        # What seals each chunk and table of contents (nothing, unless encrypted).
        self.codec = codec_of(backend)
        self.cache = cache
        self.stats = StoreStats()
        self._builder = PackBuilder(self.codec)
        self._building: dict[bytes, int] = {}  # chunk id -> its index in self._builder
        self._written: dict[str, list[PackEntry]] = {}
        self._pending: dict[bytes, Location] = {}
        self._archives: ArchiveSet | None = None  # cold archives, loaded on first miss
        # Full packs handed to the writer threads (which hash and put them), with their
        # chunks: readable and known from memory until the put has returned.
        self._sealed: deque[tuple[PackBuilder, dict[bytes, int]]] = deque()
        self._writes: InFlight[tuple[PackBuilder, Future[tuple[str, int]]]] = InFlight(
            max_items=MAX_QUEUED_PACKS
        )
        self._writer: Pool | None = None
        self._checkpointed = False  # an interim index object was written by this process
        self._pool: Pool | None = None
        self._local = threading.local()  # per-thread read connection to the index cache
        self._readers: list[sqlite3.Connection] = []
        memory.one_arena()

    @classmethod
    def open(cls, backend: Backend, cache_root: str | None = None) -> ChunkStore:
        """Open the store of the repository ``backend`` holds, with that repository's chunk
        identity (``identity_of``: keyed for an encrypted repository)."""
        config = read_config(backend)
        cache = IndexCache(default_cache_root(cache_root) / config.id / "index.sqlite")
        cache.sync(backend)
        return cls(backend, config, cache)

    def resync(self) -> None:
        """Catch up with the repository as it is now: call once the lock is held. The store
        was opened (and its cache synced) before the lock, and an exclusive operation that
        held the lock meanwhile (gc, archive, rebuild-index) may have moved or deleted chunks
        the cache still lists: deduplicating or reading against those would lose data."""
        if self._building or self._sealed or self._pending or self._written:
            raise RuntimeError("resync with unflushed chunks")  # a bug: nothing to catch up
        self.cache.sync(self.backend)
        self._archives = None  # reloaded on the next miss

    def close(self) -> None:
        """Let handed-over pack writes finish (at most ``MAX_QUEUED_PACKS``; without a flush
        nothing indexes them, gc removes them), stop the threads, close the cache."""
        if self._writer is not None:
            shutdown_fully(self._writer, cancel=False)
            while self._writes:
                try:
                    self._finish_write()
                except Exception:  # raised to the caller already, or moot (we are closing)
                    self._writes.pop()
                    self._sealed.popleft()
        if self._pool is not None:
            shutdown_fully(self._pool)
        self._writer = self._pool = None
        for db in self._readers:
            db.close()
        self._readers.clear()
        self.cache.close()

    def workers(self) -> Pool:
        """The thread pool that hashes, compresses and verifies chunks (store/pipeline.py,
        store/reader.py, archive members)."""
        if self._pool is None:
            self._pool = new_pool(default_workers(), "cpu")
        return self._pool

    # -- writing ------------------------------------------------------------------------------

    def has(self, cid: bytes) -> bool:
        return self._in_memory(cid) or cid in self.cache

    def missing(self, ids: Iterable[bytes]) -> set[bytes]:
        """Which of ``ids`` the store does not have (``has`` for many ids at once)."""
        if self._building or self._sealed or self._pending:
            unknown = [cid for cid in ids if not self._in_memory(cid)]
        else:
            unknown = list(ids)  # nothing added yet (a snapshot of an unchanged tree)
        return set(unknown) - self.cache.present(unknown) if unknown else set()

    def _in_memory(self, cid: bytes) -> bool:
        """Added by this process and not yet in the cache. Safe on any thread: the owning
        thread moves chunks along (_building -> _sealed -> _pending -> cache) adding each to
        the next place before removing it from the previous one, and this reads in that order."""
        if cid in self._building:
            return True
        for _, chunks in tuple(self._sealed):
            if cid in chunks:
                return True
        return cid in self._pending

    def _has_from_any_thread(self, cid: bytes) -> bool:
        if self._in_memory(cid):
            return True
        return cid in self.cache.present((cid,), self._thread_db())

    def _thread_db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self.cache.reader()
            self._readers.append(db)
        return db

    def prepare(self, data: bytes | memoryview) -> Prepared:
        """Hash ``data`` and compress it unless already stored; safe on any thread."""
        cid = self.identity.id(data)
        if self._has_from_any_thread(cid):
            return Prepared(cid, len(data), None)
        # No copy of a raw chunk: pipeline buffers are never written again once cut.
        stored, method = compression.compress(data, copy=False)
        return Prepared(cid, len(data), self.codec.seal_chunk(cid, stored), method)

    def prepare_many(self, chunks: list[bytes | memoryview]) -> list[Prepared]:
        """``prepare`` for many (small) chunks, with one cache lookup for all; any thread."""
        ids = [self.identity.id(data) for data in chunks]
        stored = {cid for cid in ids if self._in_memory(cid)}
        rest = [cid for cid in ids if cid not in stored]
        if rest:
            stored |= self.cache.present(rest, self._thread_db())
        out = []
        for cid, data in zip(ids, chunks, strict=True):
            if cid in stored:
                out.append(Prepared(cid, len(data), None))
            else:
                stored.add(cid)  # the same chunk twice in one batch is compressed once
                packed, method = compression.compress(data, copy=False)
                out.append(Prepared(cid, len(data), self.codec.seal_chunk(cid, packed), method))
        return out

    def add_prepared(self, p: Prepared) -> tuple[bytes, bool]:
        """Apply a ``prepare`` result (on the owning thread); return (id, whether it was new)."""
        # The worker checked the cache; since then only this process can have added the chunk,
        # and it is in memory unless an interim index moved it to the cache.
        if p.stored is None or self._in_memory(p.id):
            return p.id, False
        if self._checkpointed and p.id in self.cache:
            return p.id, False
        self.add_stored(p.id, p.stored, p.raw_length, p.method)
        return p.id, True

    def add(self, data: bytes | memoryview) -> tuple[bytes, bool]:
        """Store ``data`` unless an identical chunk exists; return (id, whether it was new)."""
        cid = self.identity.id(data)
        if self.has(cid):
            return cid, False
        stored, method = compression.compress(data)
        self.add_stored(cid, self.codec.seal_chunk(cid, stored), len(data), method)
        return cid, True

    def add_stored(
        self, cid: bytes, stored: bytes | memoryview, raw_length: int, method: int
    ) -> None:
        """Append an already hashed, compressed and sealed chunk to the current pack."""
        self._building[cid] = len(self._builder)
        self._builder.add(cid, stored, raw_length, method)
        self.stats.new_chunks += 1
        self.stats.new_raw_bytes += raw_length
        self.stats.new_stored_bytes += len(stored)
        if self._builder.size >= self.config.pack_size:
            self._write_pack()

    def _write_pack(self) -> None:
        if not len(self._builder):
            return
        builder = self._builder
        self._sealed.append((builder, self._building))
        self._builder = PackBuilder(self.codec)
        self._building = {}
        if self._writer is None:
            self._writer = new_pool(PACK_WRITERS, "packs")
        self._writes.push((builder, self._writer.submit(self._seal_and_put, builder)))
        while self._writes.due(_put_done):
            self._finish_write()
        if len(self._pending) >= INDEX_CHECKPOINT_CHUNKS:
            self._write_index()
            self._checkpointed = True

    def _seal_and_put(self, builder: PackBuilder) -> tuple[str, int]:
        """On the writer thread: name the pack (BLAKE3 of its bytes) and put it."""
        name, data = builder.finish()
        self.backend.put(Kind.PACKS, name, data)
        return name, len(data)

    def _finish_write(self) -> None:
        """Wait for the oldest pack put (its error, disk full..., is raised here) and index
        its chunks in memory."""
        builder, future = self._writes.oldest()
        name, size = future.result()
        self._writes.pop()
        entries = builder.entries
        self._written[name] = entries
        for e in entries:
            self._pending[e.id] = Location(name, e.offset, e.length, e.raw_length, e.method)
        self._sealed.popleft()  # after _pending has them (see _in_memory)
        self.stats.packs_written += 1
        self.stats.pack_bytes += size

    def abandon(self) -> list[str]:
        """After a failed write (a full disk, an interrupt): let the pack puts in flight
        end, then forget every pack put since the last index object and return their names.
        No index object names them, so no other process can know their chunks: the caller
        may delete them (``store.discard``). Nothing may be added afterwards."""
        while self._writes:
            try:
                self._finish_write()
            except Exception:  # this put failed: nothing of it is stored
                self._writes.pop()
                self._sealed.popleft()
        names = list(self._written)
        self._written = {}
        self._pending = {}
        self._builder = PackBuilder(self.codec)
        self._building = {}
        return names

    def flush(self) -> None:
        """Make every chunk added so far durable and indexed."""
        self._write_pack()
        self._write_index()

    def _write_index(self) -> None:
        while self._writes:
            self._finish_write()  # packs durable first, then the index object that names them
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

    def durable_location(self, cid: bytes) -> Location | None:
        """Where the chunk is in a pack already in the repository; None when it is only in
        memory so far, or not in a pack (cold archive, or missing)."""
        if cid in self._building or any(cid in chunks for _, chunks in self._sealed):
            return None
        return self.locate(cid)

    def durable_locations(self, cids: list[bytes]) -> list[Location | None]:
        """``durable_location`` for many ids, with one cache query for all of them."""
        sealed = [chunks for _, chunks in self._sealed]
        memory = [cid in self._building or any(cid in c for c in sealed) for cid in cids]
        pending = [
            None if mem else self._pending.get(cid) for cid, mem in zip(cids, memory, strict=True)
        ]
        lookup = [
            c for c, mem, loc in zip(cids, memory, pending, strict=True) if not mem and loc is None
        ]
        found = self.cache.get_many(lookup) if lookup else {}
        return [
            None if mem else loc or found.get(cid)
            for cid, mem, loc in zip(cids, memory, pending, strict=True)
        ]

    def read_many(self, cids: Iterable[bytes]) -> Iterator[bytes]:
        """``read`` for each id in order, with ranged reads of neighbouring chunks and
        verification on the worker threads (store/reader.py)."""
        return reader.read_many(self, cids)

    def read(self, cid: bytes) -> bytes:
        """Return the chunk's bytes, verified against its id (CorruptData / MissingChunk)."""
        for builder, chunks in ((self._builder, self._building), *self._sealed):
            index = chunks.get(cid)
            if index is not None:
                e = builder.entries[index]
                stored = self.codec.open_chunk(cid, builder.stored(index), "memory")
                return bytes(compression.decompress(stored, e.method, e.raw_length))
        loc = self.locate(cid)
        if loc is None:
            # Not in a pack: it may have been moved to a cold archive (store/archives.py).
            if self._archives is None:
                self._archives = ArchiveSet(self.backend, self.identity, self.codec)
            return self._archives.read(cid)
        try:
            stored = self.backend.get(Kind.PACKS, loc.pack, loc.offset, loc.length)
        except ObjectNotFound:
            raise MissingChunk(f"chunk {short(cid)}: pack {loc.pack[:16]} is missing") from None
        return self.verify(cid, stored, loc, where=f"pack {loc.pack[:16]}")

    @overload
    def verify(self, cid: bytes, stored: bytes, loc: Location, where: str) -> bytes: ...
    @overload
    def verify(
        self, cid: bytes, stored: bytes | memoryview, loc: Location, where: str
    ) -> bytes | memoryview: ...
    def verify(
        self, cid: bytes, stored: bytes | memoryview, loc: Location, where: str
    ) -> bytes | memoryview:
        """Open (when sealed), decompress and check a stored chunk against its id; a chunk
        stored raw in an unencrypted repository comes back as the view it was given (a caller
        that keeps it copies it)."""
        try:
            stored = self.codec.open_chunk(cid, stored, where)
            data = compression.decompress(stored, loc.method, loc.raw_length)
        except ValueError as e:
            raise CorruptData(f"chunk {short(cid)} in {where}: {e}") from None
        if len(data) != loc.raw_length or self.identity.id(data) != cid:
            raise CorruptData(f"chunk {short(cid)} in {where} does not match its id")
        return data
