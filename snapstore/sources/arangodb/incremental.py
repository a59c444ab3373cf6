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

from snapstore.errors import CorruptData
from snapstore.sources.arangodb import revdigest
from snapstore.sources.arangodb.docchunks import (
    Checksum,
    LeafLines,
    TreeBuilder,
    canonical,
    parse_leaf,
)
from snapstore.sources.arangodb.doctree import NodeEntry, iter_leaf_entries
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import short

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


def parent_leaves(store: ChunkStore, entry: dict[str, Any], where: str) -> Iterator[NodeEntry]:
    """The parent tree's leaf entries in key order; a tree that is only one leaf gets an
    entry without digest (always read). Entries without a digest (a tree written before
    digests) make the tree unusable."""
    root, height = entry.get("root"), int(entry.get("height", 0))
    if root is None:
        return
    if height == 0:
        lines = parse_leaf(store.read(bytes(root)), f"{where}: leaf {short(bytes(root))}")
        yield NodeEntry(
            lines[0][0].decode("utf-8"),
            lines[-1][0].decode("utf-8"),
            bytes(root),
            len(lines),
            sum(len(line) + 1 for _, line, _ in lines),
        )
        return
    for e in iter_leaf_entries(store, bytes(root), height, where):
        if e.digest is None:
            raise ParentUnusable("the parent snapshot's tree has no revision digests")
        yield e


class Merge:
    """Feed ``builder`` from a key listing and the parent's leaves (see the module doc)."""

    def __init__(
        self,
        store: ChunkStore,
        builder: TreeBuilder,
        leaves: Iterator[NodeEntry],
        fetch: Fetch,
        checksum: Checksum,
        where: str,
    ) -> None:
        self.store = store
        self.builder = builder
        self.leaves = leaves
        self.fetch = fetch
        self.checksum = checksum
        self.where = where
        self.stats = IncrementalStats()
        # In key order: ("leaf", seq, entry) or ("doc", key, rev, line or None to fetch).
        self._window: list[tuple[Any, ...]] = []
        self._window_bytes = 0
        self._wanted: list[str] = []

    # -- parent leaves ------------------------------------------------------------------------

    def load(self, entry: NodeEntry) -> LeafLines:
        """A parent leaf's lines; they leave the checksum (whatever of them is fed again with
        ``TreeBuilder.add`` comes back in)."""
        where = f"{self.where}: leaf {short(entry.child)}"
        try:
            lines = parse_leaf(self.store.read(entry.child), where)
        except CorruptData as e:
            raise ParentUnusable(str(e)) from None
        except Exception as e:  # a missing chunk or pack: the parent cannot serve
            raise ParentUnusable(f"{where}: {e}") from None
        if len(lines) != entry.docs or (lines and lines[0][0] != entry.first_key.encode()):
            raise ParentUnusable(f"{where}: leaf does not match its node entry")
        for _, line, _ in lines:
            self.checksum.remove(line)
        self.stats.read_leaves += 1
        return lines

    # -- the merge ----------------------------------------------------------------------------

    def run(self, listing: Iterable[tuple[str, str]]) -> None:
        leaves = enumerate(self.leaves)
        cur = next(leaves, None)
        last_b = cur[1].last_key.encode() if cur else b""
        seg: list[tuple[bytes, str]] = []
        seg_hash = 0
        loaded: dict[bytes, tuple[bytes, str]] | None = None  # the current leaf, once read
        prev: bytes | None = None
        pair_hash = revdigest.pair_hash
        for key_s, rev in listing:
            key = key_s.encode("utf-8")
            if prev is not None and key <= prev:
                raise KeyOrder(key_s)
            prev = key
            while cur is not None and key > last_b:
                self._end_segment(cur, seg, seg_hash, loaded)
                seg, seg_hash, loaded = [], 0, None
                cur = next(leaves, None)
                last_b = cur[1].last_key.encode() if cur else b""
            if cur is None:
                self._doc(key, rev, None)
                continue
            if loaded is not None:
                self._from_loaded(loaded, key, rev)
                continue
            seg.append((key, rev))
            seg_hash += pair_hash(key, rev)
            if len(seg) > cur[1].docs:  # more than it held: changed, read it now
                loaded = self._read(cur[1])
                for k, r in seg:
                    self._from_loaded(loaded, k, r)
                seg = []
        while cur is not None:
            self._end_segment(cur, seg, seg_hash, loaded)
            seg, seg_hash, loaded = [], 0, None
            cur = next(leaves, None)
        self._flush()

    def _read(self, entry: NodeEntry) -> dict[bytes, tuple[bytes, str]]:
        return {k: (line, r) for k, line, r in self.load(entry)}

    def _end_segment(
        self,
        cur: tuple[int, NodeEntry],
        seg: list[tuple[bytes, str]],
        seg_hash: int,
        loaded: dict[bytes, tuple[bytes, str]] | None,
    ) -> None:
        seq, entry = cur
        if loaded is not None:
            return  # its listed documents went out already; the rest were removed
        if (
            entry.digest is not None
            and len(seg) == entry.docs
            and revdigest.to_bytes(seg_hash) == entry.digest
        ):
            self._window.append(("leaf", seq, entry))
            self.stats.reused_leaves += 1
            self._maybe_flush()
            return
        lines = self._read(entry)
        for k, r in seg:
            self._from_loaded(lines, k, r)

    def _from_loaded(self, lines: dict[bytes, tuple[bytes, str]], key: bytes, rev: str) -> None:
        had = lines.get(key)
        self._doc(key, rev, had[0] if had is not None and had[1] == rev else None)

    def _doc(self, key: bytes, rev: str, line: bytes | None) -> None:
        self._window.append(("doc", key, rev, line))
        if line is None:
            self._wanted.append(key.decode("utf-8"))
        else:
            self._window_bytes += len(line)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (
            len(self._wanted) >= FETCH_BATCH
            or len(self._window) >= WINDOW_ITEMS
            or self._window_bytes >= WINDOW_BYTES
        ):
            self._flush()

    def _flush(self) -> None:
        window, wanted = self._window, self._wanted
        self._window, self._wanted, self._window_bytes = [], [], 0
        fetched: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), FETCH_BATCH):
            for doc in self.fetch(wanted[start : start + FETCH_BATCH]):
                fetched[doc["_key"]] = doc
        self.stats.fetched += len(wanted)
        reused = [item[2].child for item in window if item[0] == "leaf"]
        if reused and self.store.missing(reused):
            raise ParentUnusable(f"{self.where}: a leaf of the parent snapshot is missing")
        builder = self.builder
        for item in window:
            if item[0] == "leaf":
                builder.add_leaf(item[2], item[1], self.load)
                continue
            _, key, rev, line = item
            if line is None:
                doc = fetched.pop(key.decode("utf-8"), None)
                if doc is None or doc.get("_rev") != rev:
                    raise Vanished(key.decode("utf-8"))
                line = canonical(doc)
            builder.add(key, line, rev)
