"""The read pipeline: chunk ids in, verified chunk bytes out, in order (``read_many``).

Chunks that sit next to each other in one pack are fetched with one ranged read (restore
writes files in listing order, which for data written by one create is pack order, so each
pack is read about once), and decompressed and verified on the store's worker threads. The
reads ahead of the consumer sit in the bounded in-flight queue of store/concurrency.py, so
memory is bounded by ``READ_AHEAD`` whatever the number of chunks. Every chunk is verified
against its id; a damaged or missing one is raised when the consumer reaches it, not before.

The store is anything with the few methods of :class:`ChunkSource` (``ChunkStore`` is one),
so this module does not import the chunk store that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from snapstore.backend import Backend, Kind
from snapstore.base.errors import MissingChunk, ObjectNotFound
from snapstore.store.cache import Location
from snapstore.store.concurrency import InFlight
from snapstore.store.ids import short

# Stored bytes fetched ahead of the consumer, the longest single ranged read, the largest hole
# between two wanted chunks that is read through rather than split, and caps on the number of
# chunks ahead (queued, besides the run being collected) and in one run (many tiny chunks).
READ_AHEAD = 16 * 1024 * 1024
MAX_RUN = 4 * 1024 * 1024
MAX_GAP = 256 * 1024
MAX_AHEAD_CHUNKS = 4096
MAX_RUN_CHUNKS = 1024
LOOKUP_BATCH = 128  # chunk ids whose locations are looked up with one cache query


class ChunkSource(Protocol):
    """What ``read_many`` needs of a chunk store."""

    backend: Backend

    def workers(self) -> Executor: ...

    def durable_locations(self, cids: list[bytes]) -> list[Location | None]: ...

    def read(self, cid: bytes) -> bytes: ...

    def verify(
        self, cid: bytes, stored: bytes | memoryview, loc: Location, where: str
    ) -> bytes | memoryview: ...


@dataclass
class _Run:
    """Chunks of one pack fetched by one ranged read."""

    pack: str
    start: int
    end: int
    chunks: list[tuple[bytes, Location]] = field(default_factory=list)

    def accepts(self, loc: Location) -> bool:
        if loc.pack != self.pack or loc.offset < self.start:
            return False
        end = max(self.end, loc.offset + loc.length)
        return (
            loc.offset <= self.end + MAX_GAP
            and end - self.start <= MAX_RUN
            and len(self.chunks) < MAX_RUN_CHUNKS
        )

    def add(self, cid: bytes, loc: Location) -> None:
        self.chunks.append((cid, loc))
        self.end = max(self.end, loc.offset + loc.length)


def _fetch(store: ChunkSource, run: _Run) -> list[bytes | Exception]:
    """Read a run and verify each chunk; a failure is returned in the failing chunk's place,
    so it is raised when the consumer reaches that chunk (and names the right file)."""
    where = f"pack {run.pack[:16]}"
    try:
        blob = store.backend.get(Kind.PACKS, run.pack, run.start, run.end - run.start)
    except ObjectNotFound:
        err = MissingChunk(f"chunk {short(run.chunks[0][0])}: {where} is missing")
        return [err] * len(run.chunks)
    view = memoryview(blob)
    out: list[bytes | Exception] = []
    for cid, loc in run.chunks:
        at = loc.offset - run.start
        try:
            data = store.verify(cid, view[at : at + loc.length], loc, where)
            out.append(data if isinstance(data, bytes) else bytes(data))  # raw: own its bytes
        except Exception as e:  # CorruptData; raised in order by the consumer
            out.append(e)
    return out


def read_many(store: ChunkSource, cids: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the verified bytes of each chunk in ``cids``, in order (see the module doc).

    ``cids`` is consumed ahead of what has been yielded, by up to ``READ_AHEAD`` stored bytes.
    Chunks not in a durable pack (still in memory, or in a cold archive) are read with
    ``store.read`` on the calling thread when their turn comes.
    """
    return _Reader(store).run(cids)


@dataclass
class _Ahead:
    """One queued read: a run on a worker (``future``), or one chunk read inline (``cid``)."""

    future: Future[list[bytes | Exception]] | None
    cid: bytes | None


class _Reader:
    def __init__(self, store: ChunkSource) -> None:
        self.store = store
        self.pool = store.workers()
        # Cost: stored bytes of the queued runs; units: their chunks.
        self.ahead: InFlight[_Ahead] = InFlight(max_cost=READ_AHEAD, max_units=MAX_AHEAD_CHUNKS)
        self.open_run: _Run | None = None

    def run(self, cids: Iterable[bytes]) -> Iterator[bytes]:
        try:
            source = iter(cids)
            while batch := list(islice(source, LOOKUP_BATCH)):
                yield from self._run_batch(batch)
            self._close_run()
            while self.ahead:
                yield from self._pop()
        finally:  # the consumer stopped early or failed: no point reading the rest
            for item in self.ahead.clear():
                if item.future is not None:
                    item.future.cancel()

    def _run_batch(self, batch: list[bytes]) -> Iterator[bytes]:
        for cid, loc in zip(batch, self.store.durable_locations(batch), strict=True):
            if loc is None:
                self._close_run()
                self.ahead.push(_Ahead(None, cid), 0, 1)
            elif self.open_run is not None and self.open_run.accepts(loc):
                self.open_run.add(cid, loc)
            else:
                self._close_run()
                self.open_run = _Run(loc.pack, loc.offset, loc.offset)
                self.open_run.add(cid, loc)
            while self.ahead.over():
                yield from self._pop()

    def _close_run(self) -> None:
        run = self.open_run
        if run is None:
            return
        future = self.pool.submit(_fetch, self.store, run)
        self.ahead.push(_Ahead(future, None), run.end - run.start, len(run.chunks))
        self.open_run = None

    def _pop(self) -> Iterator[bytes]:
        item = self.ahead.pop()
        if item.future is None:
            assert item.cid is not None
            yield self.store.read(item.cid)
            return
        for result in item.future.result():
            if isinstance(result, Exception):
                raise result
            yield result
