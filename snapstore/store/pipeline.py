"""Parallel hashing, compression and verification around a ChunkStore.

BLAKE3, lz4 and pyfastcdc release the GIL, so worker threads can hash and compress chunks on
every core while the main thread reads and cuts the next block, and verify chunks while it
writes restored files. Two pieces:

- :class:`AddPipeline` (writing): ``submit_file(path)`` has a file read, cut, hashed and
  (unless the store already has the chunk) compressed off the calling thread: small files in
  batches by I/O threads that ask the kernel to read a batch ahead, big files block by block
  by a reader thread per file feeding the CPU workers; ``submit(chunk)`` does the same for one
  chunk. Results are applied to the store strictly in submission order, so pack contents do
  not depend on thread timing. Bytes, jobs and files in flight are bounded, which bounds
  memory whatever the tree.
- :func:`read_many` (reading): chunk ids in, verified chunk bytes out, in order. Chunks that
  sit next to each other in one pack are fetched with one ranged read (restore writes files in
  listing order, which for data written by one create is pack order, so each pack is read
  about once), and decompressed and verified on the workers.

Both keep the ChunkStore's promises: every chunk read is verified against its id, and nothing
here writes an index object or a manifest (``ChunkStore.flush`` still orders those).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

from snapstore.backend import Kind
from snapstore.errors import MissingChunk, ObjectNotFound
from snapstore.store import memory
from snapstore.store.cache import Location
from snapstore.store.chunker import Chunker
from snapstore.store.ids import short

if TYPE_CHECKING:
    from snapstore.store.chunkstore import ChunkStore, Prepared

# Below this size a chunk is hashed and compressed on the calling thread: handing it to a
# worker costs more (tens of microseconds) than the work itself.
INLINE_BELOW = 64 * 1024
# Raw bytes submitted and not yet applied to the store; the caller blocks beyond this.
MAX_INFLIGHT = 32 * 1024 * 1024
# Jobs queued at once (each costs a future and its bookkeeping), and files in flight (the
# caller keeps an entry for each: with millions of tiny files, bytes alone bound nothing).
MAX_JOBS = 512
MAX_FILES = 4096
# Files up to this size are read, cut, hashed and compressed whole by one I/O thread; bigger
# ones are read block by block by a reader thread that hands each chunk to the CPU workers.
SMALL_FILE = 8 * 1024 * 1024
# GIL switch interval while the pipeline runs, in seconds (see quick_gil_handoff).
SWITCH_INTERVAL = 0.001
# Threads reading small files, the most files and bytes in one batch of them, the fewest a
# batch waits for while a reader is busy, and how many files a reader opens ahead.
IO_THREADS = 2
BATCH_FILES = 256
BATCH_BYTES = 4 * 1024 * 1024
MIN_BATCH = 32
PREFETCH_FILES = 32
# Big files read at once (each has one reader thread), and chunks each may have in flight.
BIG_FILES = 2
BIG_FILE_AHEAD = 4
# What one big file in flight counts against MAX_INFLIGHT: its chunks ahead plus a read block
# (BIG_FILES of them must fit, with room to spare for small files).
BIG_FILE_COST = 12 * 1024 * 1024


class _Prefetch:
    """Opens the files of a batch a few ahead of the reader and asks the kernel to read them
    (``POSIX_FADV_WILLNEED``, which returns at once): the reads of many small files then go
    to the disk together, sorted and merged, instead of one random read at a time. Measured
    on 20,000 small files with a cold page cache: 2.5 s read one by one, 0.75 s this way."""

    def __init__(self, files: list[tuple[bytes, int]]) -> None:
        self._todo = iter(files)
        self._open: deque[tuple[bytes, int | OSError]] = deque()
        for _ in range(PREFETCH_FILES):
            self._open_one()

    def _open_one(self) -> None:
        nxt = next(self._todo, None)
        if nxt is None:
            return
        path = nxt[0]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            self._open.append((path, e))
            return
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        self._open.append((path, fd))

    def close(self) -> None:
        for _, fd in self._open:
            if not isinstance(fd, OSError):
                os.close(fd)
        self._open.clear()

    def next(self, path: bytes) -> int:
        """The next file's descriptor (the caller closes it); raises its open error."""
        got, fd = self._open.popleft()
        assert got == path
        self._open_one()
        if isinstance(fd, OSError):
            raise fd
        return fd


@contextlib.contextmanager
def quick_gil_handoff() -> Iterator[None]:
    """Hand the GIL between threads every ``SWITCH_INTERVAL`` instead of every 5 ms while the
    pipeline runs (restored afterwards). Its threads drop the GIL for every read, hash and
    compression, often for microseconds; with the default, a thread that wants it back can
    wait milliseconds behind one running Python code. Measured on 20,000 small files: 3.0 s
    instead of 3.5-5 s."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


_pool_numbers = itertools.count(1)


def new_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads ``shutdown_fully`` can find by name (see there)."""
    return ThreadPoolExecutor(workers, thread_name_prefix=f"snapstore-{name}-{next(_pool_numbers)}")


def shutdown_fully(executor: ThreadPoolExecutor, cancel: bool = True) -> None:
    """Stop a thread pool and wait for its threads, even through Ctrl-C: callers go on to
    delete or publish what the threads write, so they must be gone first. A
    KeyboardInterrupt that arrives meanwhile is raised once they are.

    ``shutdown`` alone is not enough: a Ctrl-C that lands while ``submit`` starts a thread
    leaves that thread running but unknown to the pool, so threads are also found by the
    pool's name prefix (``new_pool``) and joined."""
    prefix = f"{executor._thread_name_prefix}_"
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            executor.shutdown(wait=True, cancel_futures=cancel)
            for thread in threading.enumerate():
                if thread.name.startswith(prefix) and thread is not threading.current_thread():
                    thread.join()
            break
        except KeyboardInterrupt as e:
            interrupted = e
    if interrupted is not None:
        raise interrupted


class Slot:
    """The id of a submitted chunk, filled in when the chunk has been applied to the store."""

    __slots__ = ("id", "new")

    def __init__(self) -> None:
        self.id: bytes | None = None
        self.new = False


class FileSlot:
    """A submitted file: filled in (``done``) when all its chunks are applied to the store."""

    __slots__ = ("done", "error", "ids", "size")

    def __init__(self) -> None:
        self.done = False
        self.ids: list[bytes] = []
        self.size = 0
        self.error: OSError | None = None  # the file could not be read (whole)


_END = object()  # a big file's reader has queued every chunk


class _Job:
    """One queued unit, applied in submission order."""

    cost = 0

    def apply(self, pipe: AddPipeline, wait: bool) -> bool:
        """Apply what is finished (all of it if ``wait``); True when the job is complete."""
        raise NotImplementedError

    def cancel(self) -> None:
        pass


class _InlineChunk(_Job):
    def __init__(self, slot: Slot, data: bytes | memoryview) -> None:
        self.slot, self.data = slot, data

    def apply(self, pipe: AddPipeline, wait: bool) -> bool:
        self.slot.id, self.slot.new = pipe.store.add(self.data)
        return True


class _Chunk(_Job):
    def __init__(self, slot: Slot, future: Future[Prepared], cost: int) -> None:
        self.slot, self.future, self.cost = slot, future, cost

    def apply(self, pipe: AddPipeline, wait: bool) -> bool:
        if not wait and not self.future.done():
            return False
        self.slot.id, self.slot.new = pipe.store.add_prepared(self.future.result())
        return True

    def cancel(self) -> None:
        self.future.cancel()


class _SmallFiles(_Job):
    """Small files read, cut, hashed and compressed together by one I/O thread: one future
    and one cache lookup per batch instead of per file (thousands of tiny files are common).

    A batch is open (collecting files) until it is full or no batch is being read; so batches
    stay small while the readers keep up and grow when they do not (and a second reader
    starts on a full batch while the first is busy)."""

    def __init__(self) -> None:
        self.files: list[tuple[bytes, int, FileSlot]] = []
        self.size = 0
        self.future: Future[list[list[Prepared] | OSError]] | None = None

    def full(self) -> bool:
        return len(self.files) >= BATCH_FILES or self.size >= BATCH_BYTES

    def apply(self, pipe: AddPipeline, wait: bool) -> bool:
        if self.future is None:
            if not wait:
                return False
            pipe._start_batch()
        assert self.future is not None
        if not wait and not self.future.done():
            return False
        for (_, _, slot), result in zip(self.files, self.future.result(), strict=True):
            if isinstance(result, OSError):
                slot.error = result
            else:
                for prepared in result:
                    slot.ids.append(pipe.store.add_prepared(prepared)[0])
                    slot.size += prepared.raw_length
                    pipe.advance(prepared.raw_length)
            slot.done = True
        return True

    def cancel(self) -> None:
        if self.future is not None:
            self.future.cancel()


class _BigFile(_Job):
    """A file read block by block on a reader thread, which queues one future per chunk."""

    cost = BIG_FILE_COST

    def __init__(self, slot: FileSlot) -> None:
        self.slot = slot
        self.chunks: queue.Queue[object] = queue.Queue(maxsize=BIG_FILE_AHEAD)
        self.head: object = None
        self.cancelled = threading.Event()

    def _peek(self, wait: bool) -> object:
        if self.head is None:
            try:
                self.head = self.chunks.get(block=wait)
            except queue.Empty:
                return None
        return self.head

    def _head_done(self) -> bool:
        head = self.head
        return not isinstance(head, Future) or head.done()

    def apply(self, pipe: AddPipeline, wait: bool) -> bool:
        while True:
            head = self._peek(wait)
            if head is None or not (wait or self._head_done()):
                return False
            self.head = None
            if head is _END:
                self.slot.done = True
                return True
            if isinstance(head, OSError):
                self.slot.error = head
                self.slot.done = True
                return True
            assert isinstance(head, Future)
            prepared = head.result()
            self.slot.ids.append(pipe.store.add_prepared(prepared)[0])
            self.slot.size += prepared.raw_length
            pipe.advance(prepared.raw_length)

    def cancel(self) -> None:
        self.cancelled.set()
        while True:  # unblock the reader
            try:
                item = self.chunks.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Future):
                item.cancel()


class AddPipeline:
    """Ordered, bounded, parallel ``ChunkStore.add`` of chunks and whole files.

    Use it from one thread. ``submit`` (a chunk) and ``submit_file`` return slots that are
    filled in submission order, by later calls, by ``poll`` or by ``drain``. A chunk passed to
    ``submit`` must stay unchanged until its slot is filled (memoryviews from
    ``Chunker.cut_stream`` do). ``progress`` is called on this thread with the raw bytes of
    each file chunk as it is stored.
    """

    def __init__(
        self,
        store: ChunkStore,
        max_inflight: int = MAX_INFLIGHT,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.max_inflight = max_inflight
        self.advance = progress or (lambda n: None)
        memory.reuse_big_buffers()
        self._queue: deque[_Job] = deque()
        self._inflight = 0
        self._big_files = 0
        self._batch: _SmallFiles | None = None  # open: collecting files, not started
        self._batches = 0  # started and not applied
        self._files = 0  # small files submitted and not applied
        self._local = threading.local()  # a Chunker per reader thread (pyfastcdc is not shared)
        self._io: ThreadPoolExecutor | None = None
        self._big: ThreadPoolExecutor | None = None

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, data: bytes | memoryview) -> Slot:
        slot = Slot()
        size = len(data)
        if size < INLINE_BELOW:
            if not self._queue:
                slot.id, slot.new = self.store.add(data)
            else:
                self._queue.append(_InlineChunk(slot, data))  # keeps the order
            return slot
        self._start_batch()
        future = self.store.workers().submit(self.store.prepare, data)
        self._push(_Chunk(slot, future, size))
        return slot

    def submit_file(self, path: bytes, size_hint: int) -> FileSlot:
        """Read, cut and store the file at ``path``; an OSError while reading it ends up in
        ``slot.error`` (chunks stored before it stay stored, unreferenced)."""
        slot = FileSlot()
        if size_hint <= SMALL_FILE:
            batch = self._batch
            if batch is None:
                batch = self._batch = _SmallFiles()
                self._queue.append(batch)
            batch.files.append((path, size_hint, slot))
            batch.size += size_hint
            batch.cost += size_hint + 1
            self._inflight += size_hint + 1
            self._files += 1
            if batch.full() or (self._batches == 0 and len(batch.files) >= MIN_BATCH):
                self._start_batch()
            self._push(None)
            return slot
        self._start_batch()
        while self._big_files >= BIG_FILES:
            self._apply_next()
        if self._big is None:
            self._big = new_pool(BIG_FILES, "bigread")
        job = _BigFile(slot)
        self._big.submit(self._read_big, path, size_hint, job)
        self._big_files += 1
        self._push(job)
        return slot

    def _push(self, job: _Job | None) -> None:
        if job is not None:
            self._queue.append(job)
            self._inflight += job.cost
        while self._queue and (
            self._inflight > self.max_inflight
            or len(self._queue) > MAX_JOBS
            or self._files > MAX_FILES
        ):
            self._apply_next()
        self.poll()

    def _start_batch(self) -> None:
        """Hand the open batch of small files to the I/O threads."""
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        if self._io is None:
            self._io = new_pool(IO_THREADS, "read")
        batch.future = self._io.submit(self._read_small, [(p, n) for p, n, _ in batch.files])
        self._batches += 1

    # -- worker side --------------------------------------------------------------------------

    def _chunker(self) -> Chunker:
        chunker = getattr(self._local, "chunker", None)
        if chunker is None:
            chunker = self._local.chunker = Chunker(self.store.config.chunker)
        return chunker

    def _read_small(self, files: list[tuple[bytes, int]]) -> list[list[Prepared] | OSError]:
        chunker = self._chunker()
        pieces: list[bytes | memoryview] = []  # read, hashed below in one go
        spans: list[tuple[list[Prepared], int, int] | OSError] = []
        opened = _Prefetch(files)
        try:
            self._read_files(files, opened, chunker, pieces, spans)
        finally:
            opened.close()
        prepared = self.store.prepare_many(pieces)
        return [s if isinstance(s, OSError) else s[0] + prepared[s[1] : s[2]] for s in spans]

    def _read_files(
        self,
        files: list[tuple[bytes, int]],
        opened: _Prefetch,
        chunker: Chunker,
        pieces: list[bytes | memoryview],
        spans: list[tuple[list[Prepared], int, int] | OSError],
    ) -> None:
        min_size = chunker.params.min_size
        for path, size_hint in files:
            start = len(pieces)
            early: list[Prepared] = []
            read = 0
            try:
                fd = opened.next(path)
                try:
                    # The whole file in one read (os.read, not a file object: a small file
                    # costs a few microseconds of Python, and there are many of them).
                    data = os.read(fd, size_hint + 1)
                    if len(data) <= size_hint:  # a short read of a regular file: its end
                        if len(data) > min_size:
                            pieces.extend(chunker.cut_bytes(data))
                        elif data:  # one chunk whatever the cut points: skip the chunker
                            pieces.append(data)
                    else:  # it grew since its stat: read it as a stream
                        os.lseek(fd, 0, os.SEEK_SET)
                        with io.FileIO(fd, "rb", closefd=False) as f:
                            for piece in chunker.cut_stream(f, size_hint):
                                pieces.append(piece)
                                read += len(piece)
                                if read > 2 * SMALL_FILE:  # do not hold it all unhashed
                                    early += self.store.prepare_many(pieces[start:])
                                    del pieces[start:]
                finally:
                    os.close(fd)
            except OSError as e:
                del pieces[start:]
                spans.append(e)
                continue
            spans.append((early, start, len(pieces)))

    def _read_big(self, path: bytes, size_hint: int, job: _BigFile) -> None:
        workers = self.store.workers()
        prepare = self.store.prepare
        try:
            with open(path, "rb", buffering=0) as f:
                for piece in self._chunker().cut_stream(f, size_hint):
                    if job.cancelled.is_set():
                        return
                    job.chunks.put(workers.submit(prepare, piece))
        except OSError as e:
            job.chunks.put(e)
        except BaseException as e:  # a bug or shutdown: let the consumer see it
            failed: Future[Prepared] = Future()
            failed.set_exception(e)
            job.chunks.put(failed)
        else:
            job.chunks.put(_END)

    # -- applying -----------------------------------------------------------------------------

    def poll(self) -> None:
        """Apply every finished job at the head of the queue, without waiting."""
        queue_ = self._queue
        while queue_:
            job = queue_[0]
            if not job.apply(self, wait=False):
                break
            self._done(queue_.popleft())
        if self._batch is not None and self._batches == 0:
            self._start_batch()  # the readers are idle: no point collecting more

    def drain(self) -> None:
        """Wait for every submitted job and apply it."""
        while self._queue:
            self._apply_next()

    def _apply_next(self) -> None:
        job = self._queue[0]
        job.apply(self, wait=True)
        self._done(self._queue.popleft())

    def _done(self, job: _Job) -> None:
        self._inflight -= job.cost
        if isinstance(job, _BigFile):
            self._big_files -= 1
        elif isinstance(job, _SmallFiles):
            self._batches -= 1
            self._files -= len(job.files)

    def cancel(self) -> None:
        """Forget queued jobs (after an error); readers stop at their next chunk."""
        for job in self._queue:
            job.cancel()
        self._queue.clear()
        self._inflight = 0
        self._big_files = 0
        self._batch = None
        self._batches = 0
        self._files = 0

    def close(self) -> None:
        for executor in (self._io, self._big):
            if executor is not None:
                shutdown_fully(executor)
        self._io = self._big = None

    def __enter__(self) -> AddPipeline:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.drain()
            else:
                self.cancel()
        finally:
            self.close()


# -- reading ----------------------------------------------------------------------------------

# read_many: stored bytes fetched ahead of the consumer, the longest single ranged read, the
# largest hole between two wanted chunks that is read through rather than split, and caps on
# the number of chunks ahead and in one run (many tiny chunks).
READ_AHEAD = 16 * 1024 * 1024
MAX_RUN = 4 * 1024 * 1024
MAX_GAP = 256 * 1024
MAX_AHEAD_CHUNKS = 4096
MAX_RUN_CHUNKS = 1024
LOOKUP_BATCH = 128  # chunk ids whose locations are looked up with one cache query


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


def _fetch(store: ChunkStore, run: _Run) -> list[bytes | Exception]:
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


def read_many(store: ChunkStore, cids: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the verified bytes of each chunk in ``cids``, in order (see the module doc).

    ``cids`` is consumed ahead of what has been yielded, by up to ``READ_AHEAD`` stored bytes.
    Chunks not in a durable pack (still in memory, or in a cold archive) are read with
    ``ChunkStore.read`` on the calling thread when their turn comes.
    """
    return _Reader(store).run(cids)


@dataclass
class _Ahead:
    """One queued read: a run on a worker (``future``), or one chunk read inline (``cid``)."""

    future: Future[list[bytes | Exception]] | None
    cid: bytes | None
    chunks: int
    span: int


class _Reader:
    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.pool = store.workers()
        self.queue: deque[_Ahead] = deque()
        self.ahead_bytes = 0
        self.ahead_chunks = 0
        self.open_run: _Run | None = None

    def run(self, cids: Iterable[bytes]) -> Iterator[bytes]:
        source = iter(cids)
        while batch := list(islice(source, LOOKUP_BATCH)):
            yield from self._run_batch(batch)
        self._close_run()
        while self.queue:
            yield from self._pop()

    def _run_batch(self, batch: list[bytes]) -> Iterator[bytes]:
        for cid, loc in zip(batch, self.store.durable_locations(batch), strict=True):
            self.ahead_chunks += 1
            if loc is None:
                self._close_run()
                self.queue.append(_Ahead(None, cid, 1, 0))
            elif self.open_run is not None and self.open_run.accepts(loc):
                self.open_run.add(cid, loc)
            else:
                self._close_run()
                self.open_run = _Run(loc.pack, loc.offset, loc.offset)
                self.open_run.add(cid, loc)
            while self.queue and (
                self.ahead_bytes > READ_AHEAD or self.ahead_chunks > MAX_AHEAD_CHUNKS
            ):
                yield from self._pop()

    def _close_run(self) -> None:
        run = self.open_run
        if run is None:
            return
        span = run.end - run.start
        future = self.pool.submit(_fetch, self.store, run)
        self.queue.append(_Ahead(future, None, len(run.chunks), span))
        self.ahead_bytes += span
        self.open_run = None

    def _pop(self) -> Iterator[bytes]:
        item = self.queue.popleft()
        self.ahead_bytes -= item.span
        self.ahead_chunks -= item.chunks
        if item.future is None:
            assert item.cid is not None
            yield self.store.read(item.cid)
            return
        for result in item.future.result():
            if isinstance(result, Exception):
                raise result
            yield result
