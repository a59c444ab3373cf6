"""Incremental dump of one collection: list ``(_key, _rev)``, fetch only what changed.

The collection's key listing (in key byte order) is merged with the leaves of the parent
snapshot's tree for it, read from its nodes only. The listing's pairs are split at the
parent leaves' last keys; a leaf whose share of the listing has its document count and
revision digest (``revdigest``) is unchanged and is handed to the tree builder as it is,
without reading it. Any other leaf is read: its documents whose revision is still listed
keep their lines, the others are fetched by key in batches, inside the same transaction.
``TreeBuilder.add_leaf`` keeps the boundaries a full dump would choose, so the tree comes
out byte-identical to a full dump's (spec/database.md, *Incremental dump*).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import blake3

from snapstore.base.errors import CorruptData
from snapstore.sources.arangodb import revdigest
from snapstore.sources.arangodb.docchunks import (
    Checksum,
    LeafLines,
    TreeBuilder,
    canonical,
    parse_leaf,
)
from snapstore.sources.arangodb.doctree import NodeEntry, iter_level1_nodes
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import short

_blake3 = blake3.blake3

FETCH_BATCH = 1000  # documents fetched per request
WINDOW_ITEMS = 20_000  # leaves and documents waiting for a fetch, at most
WINDOW_BYTES = 32 * 1024 * 1024  # bytes of lines kept from read parent leaves, at most

Fetch = Callable[[list[str]], Iterable[dict[str, Any]]]


class ParentUnusable(Exception):
    """The parent's tree cannot serve this collection (damaged, older format): read in full."""


class KeyOrder(Exception):
    """The listing is not in key byte order (a Coordinator's collation): read in full."""


class Vanished(Exception):
    """A listed document was not found, or had another revision, when fetched."""


@dataclass
class IncrementalStats:
    reused_leaves: int = 0
    read_leaves: int = 0
    fetched: int = 0


Group = tuple[NodeEntry | None, list[NodeEntry]]


def parent_groups(store: ChunkStore, entry: dict[str, Any], where: str) -> Iterator[Group]:
    """The parent tree's level-1 nodes in key order, each as (its entry, its leaf entries),
    reading only nodes. A tree that is only one leaf gives (None, [an entry without digest])
    (always read). Entries without a digest (a tree written before digests) make the tree
    unusable."""
    root, height = entry.get("root"), int(entry.get("height", 0))
    if root is None:
        return
    if height == 0:
        lines = parse_leaf(store.read(bytes(root)), f"{where}: leaf {short(bytes(root))}")
        yield (
            None,
            [
                NodeEntry(
                    lines[0][0].decode("utf-8"),
                    lines[-1][0].decode("utf-8"),
                    bytes(root),
                    len(lines),
                    sum(len(line) + 1 for _, line, _ in lines),
                )
            ],
        )
        return
    for cid, leaves in iter_level1_nodes(store, bytes(root), height, where):
        total = 0
        for e in leaves:
            if e.digest is None:
                raise ParentUnusable("the parent snapshot's tree has no revision digests")
            total += revdigest.from_bytes(e.digest)
        node = NodeEntry(
            leaves[0].first_key,
            leaves[-1].last_key,
            cid,
            sum(e.docs for e in leaves),
            sum(e.bytes for e in leaves),
            revdigest.to_bytes(total),
            False,
        )
        yield node, leaves


class _Leaves:
    """The listing's pairs within one parent node, split at its leaves' last keys."""

    def __init__(self, merge: Merge, leaves: list[NodeEntry], seq: int) -> None:
        self.merge = merge
        self.leaves = leaves
        self.seq = seq
        self.i = 0
        self.last_b = leaves[0].last_key.encode("utf-8")
        self.seg: list[tuple[bytes, str]] = []
        self.seg_hash = 0
        self.loaded: dict[bytes, tuple[bytes, str]] | None = None  # the current leaf, once read

    def feed(self, key: bytes, rev: str, pair_hash: int) -> None:
        """The next listed pair in this node's range, with its ``revdigest.pair_hash``
        (computed once: the node-level comparison hashed it already)."""
        while key > self.last_b and self.i < len(self.leaves) - 1:
            self._end_leaf()
            self.i += 1
            self.last_b = self.leaves[self.i].last_key.encode("utf-8")
        merge = self.merge
        if self.loaded is not None:
            merge._from_loaded(self.loaded, key, rev)
            return
        self.seg.append((key, rev))
        self.seg_hash += pair_hash
        if len(self.seg) > self.leaves[self.i].docs:  # more than it held: read it now
            self.loaded = merge._read(self.leaves[self.i])
            for k, r in self.seg:
                merge._from_loaded(self.loaded, k, r)
            self.seg = []

    def end(self) -> None:
        while self.i < len(self.leaves):
            self._end_leaf()
            self.i += 1

    def _end_leaf(self) -> None:
        entry = self.leaves[self.i]
        seg, seg_hash, loaded = self.seg, self.seg_hash, self.loaded
        self.seg, self.seg_hash, self.loaded = [], 0, None
        if loaded is not None:
            return  # its listed documents went out already; the rest were removed
        merge = self.merge
        if (
            entry.digest is not None
            and len(seg) == entry.docs
            and revdigest.to_bytes(seg_hash) == entry.digest
        ):
            merge._item(("leaf", self.seq + self.i, entry))
            merge.stats.reused_leaves += 1
            return
        merge._part(entry, seg)


class Merge:
    """Feed ``builder`` from a key listing and the parent's tree (see the module doc)."""

    def __init__(
        self,
        store: ChunkStore,
        builder: TreeBuilder,
        groups: Iterator[Group],
        fetch: Fetch,
        checksum: Checksum,
        where: str,
    ) -> None:
        self.store = store
        self.builder = builder
        self.groups = groups
        self.fetch = fetch
        self.checksum = checksum
        self.where = where
        self.stats = IncrementalStats()
        # In key order: ("node", entry, leaves, seq), ("leaf", seq, entry),
        # ("doc", key, rev, line or None to fetch) or ("part", entry, pairs): a changed
        # parent leaf and its share of the listing, read (with the window's others in one
        # batched read) when the window is flushed.
        self._window: list[tuple[Any, ...]] = []
        self._window_bytes = 0
        # What the window's items hold besides themselves: the listed pairs of "part" items
        # and the leaf entries of "node" items (a node item stands for ~16 leaves: counting
        # it as one let an unchanged 1M-document collection's window hold every leaf entry).
        self._window_parts = 0
        self._wanted: list[str] = []

    # -- parent leaves ------------------------------------------------------------------------

    def load(self, entry: NodeEntry) -> LeafLines:
        """A parent leaf's lines; they leave the checksum (whatever of them is fed again with
        ``TreeBuilder.add`` comes back in)."""
        where = f"{self.where}: leaf {short(entry.child)}"
        try:
            data = self.store.read(entry.child)
        except CorruptData as e:
            raise ParentUnusable(str(e)) from None
        except Exception as e:  # a missing chunk or pack: the parent cannot serve
            raise ParentUnusable(f"{where}: {e}") from None
        return self._parse(entry, data)

    def _load_many(self, entries: list[NodeEntry]) -> Iterator[LeafLines]:
        """``load`` for many leaves, with one batched read (store.read_many)."""
        data = self.store.read_many([e.child for e in entries])
        for entry in entries:
            try:
                got = next(data)
            except CorruptData as e:
                raise ParentUnusable(str(e)) from None
            except Exception as e:  # a missing chunk or pack: the parent cannot serve
                raise ParentUnusable(f"{self.where}: leaf {short(entry.child)}: {e}") from None
            yield self._parse(entry, got)

    def _parse(self, entry: NodeEntry, data: bytes) -> LeafLines:
        where = f"{self.where}: leaf {short(entry.child)}"
        try:
            lines = parse_leaf(data, where)
        except CorruptData as e:
            raise ParentUnusable(str(e)) from None
        if len(lines) != entry.docs or (lines and lines[0][0] != entry.first_key.encode()):
            raise ParentUnusable(f"{where}: leaf does not match its node entry")
        for _, line, _ in lines:
            self.checksum.remove(line)
        self.stats.read_leaves += 1
        return lines

    def _read(self, entry: NodeEntry) -> dict[bytes, tuple[bytes, str]]:
        return {k: (line, r) for k, line, r in self.load(entry)}

    # -- the merge ----------------------------------------------------------------------------

    def run(self, listing: Iterable[tuple[str, str]]) -> None:
        groups = self.groups
        seq = 0
        cur = next(groups, None)
        # After the last group every key is new: b"" is below every key.
        last_b = cur[1][-1].last_key.encode() if cur else b""
        # More pairs than this and the current node is known changed (-1: a root leaf).
        limit = cur[0].docs if cur is not None and cur[0] is not None else -1
        # The current node's share (key, rev, pair hash), while it may be intact.
        pairs: list[tuple[bytes, str, int]] = []
        total = 0
        split: _Leaves | None = None  # the current node's share, leaf by leaf
        prev = b""  # below every key (keys are never empty; an empty one fails as out of order)
        blake3_ = _blake3
        from_bytes = int.from_bytes
        for key_s, rev in listing:
            # The hot loop of an unchanged snapshot: one iteration per document.
            key = key_s.encode()
            if key <= prev:
                raise KeyOrder(key_s)
            prev = key
            if key > last_b:
                while cur is not None and key > last_b:
                    self._end_group(cur, seq, pairs, total, split)
                    seq += len(cur[1])
                    pairs, total, split = [], 0, None
                    cur = next(groups, None)
                    last_b = cur[1][-1].last_key.encode() if cur else b""
                    limit = cur[0].docs if cur is not None and cur[0] is not None else -1
                if cur is None:
                    self._doc(key, rev, None)
                    continue
            # revdigest.pair_hash written out, once per listed pair
            h = from_bytes(
                blake3_(len(key).to_bytes(4, "little") + key + rev.encode()).digest(16), "little"
            )
            if split is not None:
                split.feed(key, rev, h)
                continue
            pairs.append((key, rev, h))
            total += h
            if len(pairs) > limit and cur is not None:  # not the node it was: leaf by leaf
                split = _Leaves(self, cur[1], seq)
                for k, r, ph in pairs:
                    split.feed(k, r, ph)
                pairs = []
        while cur is not None:
            self._end_group(cur, seq, pairs, total, split)
            seq += len(cur[1])
            pairs, total, split = [], 0, None
            cur = next(groups, None)
        self._flush()

    def _end_group(
        self,
        cur: Group,
        seq: int,
        pairs: list[tuple[bytes, str, int]],
        total: int,
        split: _Leaves | None,
    ) -> None:
        node, leaves = cur
        if split is None:
            if (
                node is not None
                and len(pairs) == node.docs
                and revdigest.to_bytes(total) == node.digest
            ):
                self._window_parts += len(leaves)
                self._item(("node", node, leaves, seq))
                self.stats.reused_leaves += len(leaves)
                return
            split = _Leaves(self, leaves, seq)
            for k, r, h in pairs:
                split.feed(k, r, h)
        split.end()

    def _from_loaded(self, lines: dict[bytes, tuple[bytes, str]], key: bytes, rev: str) -> None:
        had = lines.get(key)
        self._doc(key, rev, had[0] if had is not None and had[1] == rev else None)

    def _doc(self, key: bytes, rev: str, line: bytes | None) -> None:
        if line is None:
            self._wanted.append(key.decode("utf-8"))
        else:
            self._window_bytes += len(line)
        self._item(("doc", key, rev, line))

    def _part(self, entry: NodeEntry, pairs: list[tuple[bytes, str]]) -> None:
        """A changed parent leaf: read it at the flush, with the window's other ones."""
        self._window_bytes += entry.bytes
        self._window_parts += len(pairs)
        self._item(("part", entry, pairs))

    def _item(self, item: tuple[Any, ...]) -> None:
        self._window.append(item)
        if (
            len(self._wanted) >= FETCH_BATCH
            or len(self._window) + self._window_parts >= WINDOW_ITEMS
            or self._window_bytes >= WINDOW_BYTES
        ):
            self._flush()

    def _flush(self) -> None:
        window, wanted = self._window, self._wanted
        self._window, self._wanted, self._window_bytes, self._window_parts = [], [], 0, 0
        # Changed parent leaves: read them all at once; a listed key whose parent line has
        # the listed revision keeps it, every other one is fetched with the rest.
        parts = [item for item in window if item[0] == "part"]
        kept_lines: dict[bytes, bytes] = {}
        for (_, _leaf, pairs), lines in zip(
            parts, self._load_many([p[1] for p in parts]), strict=True
        ):
            had = {k: (line, r) for k, line, r in lines}
            for key, rev in pairs:
                old = had.get(key)
                if old is not None and old[1] == rev:
                    kept_lines[key] = old[0]
                else:
                    wanted.append(key.decode("utf-8"))
        fetched: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), FETCH_BATCH):
            for doc in self.fetch(wanted[start : start + FETCH_BATCH]):
                fetched[doc["_key"]] = doc
        self.stats.fetched += len(wanted)
        kept: list[bytes] = []
        for item in window:
            if item[0] == "leaf":
                kept.append(item[2].child)
            elif item[0] == "node":
                kept.extend(e.child for e in item[2])
        if kept and self.store.missing(kept):
            raise ParentUnusable(f"{self.where}: a leaf of the parent snapshot is missing")
        builder = self.builder
        for item in window:
            kind = item[0]
            if kind == "node":
                builder.add_node(item[1], item[2], item[3], self.load)
            elif kind == "leaf":
                builder.add_leaf(item[2], item[1], self.load)
            elif kind == "part":
                for key, rev in item[2]:
                    line = kept_lines.get(key)
                    if line is None:
                        line = self._fetched_line(fetched, key, rev)
                    builder.add(key, line, rev)
            else:
                _, key, rev, line = item
                if line is None:
                    line = self._fetched_line(fetched, key, rev)
                builder.add(key, line, rev)

    @staticmethod
    def _fetched_line(fetched: dict[str, dict[str, Any]], key: bytes, rev: str) -> bytes:
        got = fetched.get(key.decode("utf-8"))
        if got is None or got.get("_rev") != rev:
            raise Vanished(key.decode("utf-8"))
        return canonical(got)
