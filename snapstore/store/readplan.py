"""The read plan: a sequence of items (the files of a tree, restore's actions), each needing
some chunks, read as one stream of verified chunks in item order.

Whatever writes a whole tree reads it this way (restore's staged tree, ``export`` into a folder
or a tar; spec/restore.md, "The read plan"). The items are pulled ahead of the consumer and
the chunk ids they need are handed to ``read_many`` (store/reader.py) in segments of up to
``SEGMENT_CHUNKS`` ids, whatever the files' sizes: chunks of neighbouring small files, which
sit next to each other in a pack, are then fetched by one ranged read (one GET on S3) instead
of one read each. Each chunk of the stream is tagged with the item that needs it, so
``content()`` hands out exactly the current item's chunks.

Memory is bounded: at most ``MAX_QUEUED`` items wait ahead (a tree that needs no chunk for a
long run, such as the unchanged files a restore links, is not held whole), and the bytes read
ahead are bounded by ``read_many``. Errors come where they belong: an item that cannot be
pulled (a damaged listing) is raised by ``items()`` once every item before it is handed out,
and a chunk that cannot be read, or an item whose chunk ids cannot be listed (a damaged
document tree), by ``content()`` of that item, never of an earlier one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")

# Chunk ids handed to one read_many call, and items queued at most while looking for them.
SEGMENT_CHUNKS = 4096
MAX_QUEUED = 20_000


class ReadsMany(Protocol):
    """What the plan needs of a chunk store (``ChunkStore`` is one)."""

    def read_many(self, cids: Iterable[bytes]) -> Iterator[bytes]: ...


def _close(it: Iterator[bytes]) -> None:
    """Close a generator now (its ``finally`` cancels reads in flight); others have nothing."""
    stop = getattr(it, "close", None)
    if stop is not None:
        stop()


class ReadPlan(Generic[T]):
    """``items`` in order, and for each the verified chunks of ``ids(item)`` (module doc).

    The consumer takes the next item from ``items()`` and then, if it wants its bytes, reads
    ``content()`` to the end before taking the next item. Use it as a context manager (or
    call ``close``) so that reads still in flight are cancelled when the consumer stops.
    """

    def __init__(
        self, store: ReadsMany, items: Iterable[T], ids: Callable[[T], Iterable[bytes]]
    ) -> None:
        self._store = store
        self._source = iter(items)
        self._ids_of = ids
        self._queue: deque[tuple[int, T]] = deque()  # pulled, not handed out yet
        self._pending: deque[tuple[int, Iterator[bytes]]] = deque()  # ids not in a segment yet
        self._pulled = 0  # the number of items pulled: the next one's tag
        self._current = -1  # tag of the item items() handed out last
        self._tags: deque[int] = deque()  # owner of each chunk of the segment not taken yet
        self._chunks: Iterator[bytes] = iter(())
        self._error: BaseException | None = None  # pulling an item failed
        self._late: tuple[int, Exception] | None = None  # listing an item's ids failed
        self._done = False

    def __enter__(self) -> ReadPlan[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        _close(self._chunks)
        self._tags.clear()

    def _pull(self) -> bool:
        if self._done:
            return False
        try:
            item = next(self._source)
        except StopIteration:
            self._done = True
            return False
        except Exception as e:  # re-raised in order by items()
            self._error = e
            self._done = True
            return False
        tag = self._pulled
        self._pulled += 1
        self._queue.append((tag, item))
        self._pending.append((tag, iter(self._ids_of(item))))
        return True

    def items(self) -> Iterator[T]:
        """Every item, in order; an error pulling one is raised when its turn comes."""
        while True:
            if not self._queue and not self._pull():
                if self._error is not None:
                    raise self._error
                return
            self._current, item = self._queue.popleft()
            yield item

    def _segment(self) -> bool:
        """Start reading the next segment of ids; False when no item ahead needs a chunk."""
        ids: list[bytes] = []
        tags: list[int] = []
        while len(ids) < SEGMENT_CHUNKS and self._late is None:
            if not self._pending:
                if len(self._queue) >= MAX_QUEUED or not self._pull():
                    break
                continue
            tag, source = self._pending[0]
            try:
                more = list(islice(source, SEGMENT_CHUNKS - len(ids)))
            except Exception as e:  # raised by content() of that item
                self._late = (tag, e)
                more = []
            if not more:
                self._pending.popleft()
                continue
            ids += more
            tags += [tag] * len(more)
        if not ids:
            return False
        _close(self._chunks)
        self._chunks = self._store.read_many(ids)
        self._tags = deque(tags)
        return True

    def content(self) -> Iterator[bytes]:
        """The verified chunks of the item ``items()`` handed out last, in order."""
        current = self._current
        while True:
            if not self._tags and not self._segment():
                if self._late is not None and self._late[0] <= current:
                    raise self._late[1]
                return
            tag = self._tags[0]
            if tag > current:
                return
            self._tags.popleft()
            chunk = next(self._chunks)
            if tag == current:  # an earlier item's chunks the consumer did not want: dropped
                yield chunk
