"""Restore by difference, the merge over a tree with revision digests (spec/database.md).

The live listing (in key order) is compared with the snapshot's document tree from the top:
every node entry carries the key range, document count and revision digest of everything
below it, so a subtree whose live pairs give the same count and digest is unchanged and none
of its nodes or leaves is read. Only the entries that differ are opened, level by level (the
changed children of one level read together, with ranged reads), down to the leaves that
differ; those are read and merged pair by pair with their live segment
(``restore_merge.merge``). Live keys in no entry's range are not in the snapshot: removed.

Memory: the live pairs of one *window* are held at a time, with their hashes and running
sums (so any sub-range's digest is one subtraction): a window is one entry of the top levels
covering at most ``WINDOW`` snapshot documents. Bigger entries are opened without being
compared. Beyond the window only the difference is kept, which the caller bounds (``limit``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from snapstore.sources.arangodb.doctree import NodeEntry, decode_node, read_node
from snapstore.sources.arangodb.listing import Batch, pair_hashes
from snapstore.sources.arangodb.restore_merge import Difference, TooManyWrites, merge_leaf
from snapstore.sources.arangodb.revdigest import MASK
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import short

WINDOW = 100_000  # snapshot documents below an entry compared as one window


class LiveWindow:
    """The live listing, consumed in key order by range."""

    def __init__(self, source: Iterator[Batch]) -> None:
        self.source = source
        self.keys: list[str] = []
        self.revs: list[str] = []
        self.pos = 0
        self.done = False

    def _fill(self, last_key: str | None) -> None:
        """Buffer batches until one key above ``last_key`` is held (or the listing ends)."""
        while not self.done and (
            self.pos >= len(self.keys) or last_key is None or self.keys[-1] <= last_key
        ):
            batch = next(self.source, None)
            if batch is None:
                self.done = True
                return
            self.keys = self.keys[self.pos :] + batch[0]
            self.revs = self.revs[self.pos :] + batch[1]
            self.pos = 0

    def before(self, first_key: str) -> list[str]:
        """The live keys below ``first_key`` (consumed)."""
        self._fill(first_key)
        end = bisect.bisect_left(self.keys, first_key, self.pos)
        out = self.keys[self.pos : end]
        self.pos = end
        return out

    def upto(self, last_key: str, most: int) -> Batch:
        """The live pairs up to ``last_key`` included (consumed); TooManyWrites when there
        are more than ``most`` (the difference alone would exceed the limit)."""
        self._fill(last_key)
        end = bisect.bisect_right(self.keys, last_key, self.pos)
        if end - self.pos > most:
            raise TooManyWrites
        out = self.keys[self.pos : end], self.revs[self.pos : end]
        self.pos = end
        return out

    def rest(self) -> list[str]:
        """Every live key left (consumed)."""
        out = self.keys[self.pos :]
        for keys, _ in self.source:
            out.extend(keys)
        self.keys, self.revs, self.pos, self.done = [], [], 0, True
        return out


@dataclass
class Segment:
    """Live pairs in key order with the running sum of their pair hashes."""

    keys: list[str]
    revs: list[str]
    sums: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.sums = list(accumulate(pair_hashes(self.keys, self.revs), initial=0))

    def same(self, e: NodeEntry, lo: int, hi: int) -> bool:
        """Whether pairs ``[lo, hi)`` are exactly those below entry ``e`` (count, digest)."""
        assert e.digest is not None
        return hi - lo == e.docs and (self.sums[hi] - self.sums[lo]) & MASK == int.from_bytes(
            e.digest, "little"
        )


@dataclass
class _Open:
    """An entry whose live pairs ``[lo, hi)`` of the window differ from it."""

    entry: NodeEntry
    level: int  # of the chunk the entry names (0: a leaf)
    lo: int
    hi: int


class TreeMerge:
    """The difference from the live listing to one collection's tree (module doc)."""

    def __init__(self, store: ChunkStore, where: str, limit: int) -> None:
        self.store = store
        self.where = where
        self.limit = limit
        self.out = Difference(expected=None)  # verified from the digests instead
        # Leaves that differ, with their live segments, read together at the end.
        self.todo: list[tuple[NodeEntry, list[str], list[str]]] = []

    def run(self, root: bytes, height: int, live: Iterator[Batch]) -> Difference:
        window = LiveWindow(live)
        self._walk(read_node(self.store, root, height, self.where), height - 1, window)
        self._remove(window.rest())
        self._merge_leaves()
        self.out.remove.sort()
        return self.out

    def _remove(self, keys: list[str]) -> None:
        self.out.remove.extend(keys)
        self.out.removed += len(keys)
        self.out.live += len(keys)
        if self.out.writes > self.limit:
            raise TooManyWrites

    def _walk(self, entries: list[NodeEntry], level: int, window: LiveWindow) -> None:
        """Entries of one node, naming chunks at ``level``, against the listing in order."""
        for e in entries:
            self._remove(window.before(e.first_key))
            if e.docs > WINDOW and level > 0:
                self._walk(read_node(self.store, e.child, level, self.where), level - 1, window)
                continue
            keys, revs = window.upto(e.last_key, e.docs + self.limit - self.out.writes)
            self.out.live += len(keys)
            self._window(e, level, Segment(keys, revs))

    def _window(self, top: NodeEntry, level: int, seg: Segment) -> None:
        """Open the entries that differ, level by level, down to the leaves."""
        frontier = [_Open(top, level, 0, len(seg.keys))]
        while frontier:
            changed = [o for o in frontier if not seg.same(o.entry, o.lo, o.hi)]
            for o in changed:
                if o.level == 0:
                    self.todo.append((o.entry, seg.keys[o.lo : o.hi], seg.revs[o.lo : o.hi]))
            nodes = [o for o in changed if o.level > 0]
            frontier = []
            datas = self.store.read_many(o.entry.child for o in nodes)
            for o, data in zip(nodes, datas, strict=True):
                where = f"{self.where}: node {short(o.entry.child)}"
                frontier.extend(self._children(o, decode_node(data, where, o.level)[1], seg))

    def _children(self, o: _Open, children: list[NodeEntry], seg: Segment) -> list[_Open]:
        """The children of ``o`` with their live ranges; live keys between them: removed."""
        out: list[_Open] = []
        pos = o.lo
        for c in children:
            lo = bisect.bisect_left(seg.keys, c.first_key, pos, o.hi)
            hi = bisect.bisect_right(seg.keys, c.last_key, lo, o.hi)
            self._remove_own(seg.keys[pos:lo])
            out.append(_Open(c, o.level - 1, lo, hi))
            pos = hi
        self._remove_own(seg.keys[pos : o.hi])
        return out

    def _remove_own(self, keys: list[str]) -> None:
        # Keys of the window already counted as live when it was taken.
        self.out.live -= len(keys)
        self._remove(keys)

    def _merge_leaves(self) -> None:
        self.todo.sort(key=lambda t: t[0].first_key)
        leaves = self.store.read_many(e.child for e, _, _ in self.todo)
        for (e, keys, revs), data in zip(self.todo, leaves, strict=True):
            self.out.leaves_read += 1
            merge_leaf(self.out, e.child, data, keys, revs)
            if self.out.writes > self.limit:
                raise TooManyWrites
