"""Key-anchored document chunks: canonical lines, boundaries chosen from keys, trees of chunks.

A collection is stored as its documents in ``_key`` byte order, one canonical JSON line each
(``canonical``), cut into leaf chunks. Whether a chunk ends after a document depends only on
that document: its key's hash and its line length (``ends_chunk``), never on where the chunk
started or how the server ordered its answer. So the set of documents alone decides every
boundary: editing a document rewrites the one leaf that holds it, inserting or deleting one
splits or merges at most two, and everything else deduplicates against the previous snapshot.
Leaves are listed by nodes (``doctree``) chosen by the same rule one level up, in the manner
of Dolt's prolly trees. spec/database.md is the format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import blake3
import msgpack
import orjson

from snapstore.base.errors import CorruptData
from snapstore.sources.arangodb import revdigest
from snapstore.sources.arangodb.doctree import NodeEntry, encode_node, iter_leaves
from snapstore.store.chunkstore import ChunkStore

_MASK256 = (1 << 256) - 1
_blake3 = blake3.blake3


@dataclass(frozen=True)
class ChunkingParams:
    """Targets for leaves and nodes (bytes). Changing them changes every boundary (no dedup)."""

    leaf_target: int = 4096
    leaf_max: int = 64 * 1024
    node_target: int = 2048
    node_max: int = 32 * 1024

    def to_map(self) -> dict[str, Any]:
        return {
            "rule": "blake3-key-v1",
            "leaf_target": self.leaf_target,
            "leaf_max": self.leaf_max,
            "node_target": self.node_target,
            "node_max": self.node_max,
        }

    @classmethod
    def from_map(cls, d: dict[str, Any] | None) -> ChunkingParams:
        if not d:
            return cls()
        return cls(
            leaf_target=int(d["leaf_target"]),
            leaf_max=int(d["leaf_max"]),
            node_target=int(d["node_target"]),
            node_max=int(d["node_max"]),
        )


DEFAULT_PARAMS = ChunkingParams()


# -- canonical form ---------------------------------------------------------------------------

# The fallback for what orjson cannot write: integers beyond 64 bits, lone surrogates.
_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_ascii_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)
_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS


def canonical(doc: dict[str, Any]) -> bytes:
    """The document's line (without newline): sorted-key compact JSON in UTF-8, no ``_id``.

    ``_id`` is left out because it is derived (collection name and ``_key``) and would tie the
    bytes to the collection's name. ``doc`` is changed (``_id`` removed): callers hand over
    documents they no longer need.
    """
    doc.pop("_id", None)
    try:
        return _dumps(doc, option=_SORTED)
    except (TypeError, orjson.JSONEncodeError):
        return _canonical_fallback(doc)


def _canonical_fallback(doc: dict[str, Any]) -> bytes:
    """Documents orjson refuses (spec/database.md, *Documents: canonical lines*)."""
    return canonical_v1(doc)


# Line format 1 (snapshots whose section has no ``line_format``): every number as Python's
# json module writes it. Format 2 writes doubles as orjson does (exponents unpadded, 1e-5 up
# to 1e-4 in plain decimals); everything else is the same. spec/database.md.
LINE_FORMAT = 2


def canonical_v1(doc: dict[str, Any]) -> bytes:
    """The canonical line of line format 1 (Python's json module throughout)."""
    doc.pop("_id", None)
    try:
        return _encoder.encode(doc).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (not valid UTF-8): keep it as a \u escape, as the server sent it.
        return _ascii_encoder.encode(doc).encode("ascii")


def canonical_for(section: dict[str, Any]) -> Callable[[dict[str, Any]], bytes]:
    """The canonical-line function a snapshot's lines were written with.

    A reader that re-encodes documents to compare them with a snapshot (a read-back
    checksum) must use the snapshot's format, or doubles like ``1e-07`` would differ.
    """
    return canonical if int(section.get("line_format", 1)) >= 2 else canonical_v1


def line_hash(line: bytes) -> bytes:
    return blake3.blake3(line).digest()


class Checksum:
    """Order-independent checksum of a set of lines: sum of their BLAKE3 hashes mod 2**256."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, line: bytes) -> None:
        # Reduced mod 2**256 when read: summing first is cheaper and gives the same value.
        self.total += int.from_bytes(_blake3(line).digest(), "little")
        self.count += 1

    def remove(self, line: bytes) -> None:
        self.total -= int.from_bytes(_blake3(line).digest(), "little")
        self.count -= 1

    @classmethod
    def of(cls, hexdigest: str, count: int) -> Checksum:
        """A checksum to continue from (an earlier snapshot's collection entry)."""
        out = cls()
        out.total = int.from_bytes(bytes.fromhex(hexdigest), "little")
        out.count = count
        return out

    def hexdigest(self) -> str:
        self.total &= _MASK256
        return self.total.to_bytes(32, "little").hex()


# -- boundaries -------------------------------------------------------------------------------


def _key_hash(level: int, key: bytes) -> int:
    """64 bits of BLAKE3(level byte + key), as a little-endian integer."""
    return int.from_bytes(blake3.blake3(bytes((level,)) + key).digest(8), "little")


# Every item counts as at least 1/ITEMS_PER_CHUNK of the target: chunks of small documents
# hold about this many of them instead of ``target`` bytes' worth (a 1% edit would otherwise
# rewrite most chunks of a collection of 100-byte documents).
ITEMS_PER_CHUNK = 16
# Leaves stored together: one index lookup for this many chunks instead of one each.
LEAF_BATCH = 64


def ends_chunk(level: int, key: bytes, size: int, target: int) -> bool:
    """Whether a chunk ends after an item of ``size`` bytes whose (last) key is ``key``.

    True with probability ``max(size, target / 16) / target`` (always when ``size >= target``),
    decided by the key's hash alone, never by where the chunk began: chunks hold ``target``
    bytes (or 16 items) on average whatever the item sizes.
    """
    weight = max(size, -(-target // ITEMS_PER_CHUNK))
    return size >= target or _key_hash(level, key) * target < weight << 64


# -- building ---------------------------------------------------------------------------------


@dataclass
class TreeStats:
    docs: int = 0
    bytes: int = 0
    leaves: int = 0
    nodes: int = 0
    new_chunks: int = 0
    new_bytes: int = 0


@dataclass
class TreeResult:
    root: bytes | None
    height: int
    stats: TreeStats


@dataclass
class _Level:
    entries: list[NodeEntry] = field(default_factory=list)
    size: int = 0
    emitted: int = 0


# (key, line, rev) of each document of a leaf, in key order
LeafLines = list[tuple[bytes, bytes, str]]
LoadLeaf = Callable[[NodeEntry], LeafLines]


@dataclass
class _Pending:
    """A leaf cut but not stored yet (a parent's leaf taken as it is waits as its entry)."""

    data: bytes
    first: bytes
    last: bytes
    docs: int
    size: int
    digest: int
    closed: bool


class TreeBuilder:
    """Feed (key, line, rev) in strictly increasing key byte order; ``finish`` returns the root.

    ``add_leaf`` takes a whole leaf of an earlier tree built with the same parameters and
    line format, known to hold exactly the documents it held then (its revision digest
    matched). The tree comes out byte for byte as if its documents had been fed one by one:
    the leaf is taken as it is only where the boundary rule would cut it the same way, and
    its lines are read (``load``) and fed otherwise (spec/database.md, *Incremental dump*).
    ``checksum``, when given, receives every line fed with ``add``.
    """

    def __init__(
        self,
        store: ChunkStore,
        params: ChunkingParams = DEFAULT_PARAMS,
        on_chunk: Callable[[], None] | None = None,
        checksum: Checksum | None = None,
    ) -> None:
        self.store = store
        self.params = params
        self.stats = TreeStats()
        self.checksum = checksum
        self.reused_leaves = 0
        self.reused_nodes = 0  # level-1 nodes taken whole
        self._on_chunk = on_chunk
        self._lines: list[bytes] = []
        self._size = 0
        self._digest = 0
        self._first: bytes = b""
        self._last: bytes | None = None
        self._levels: list[_Level] = []  # _levels[i] collects the entries of level i + 1 nodes
        self._pending: list[_Pending | NodeEntry] = []
        # A reused leaf that did not end by itself: the next item decides (see add_leaf).
        self._held: NodeEntry | None = None
        self._held_seq = -1
        self._held_load: LoadLeaf | None = None
        self._before_held: bytes | None = None
        self._leaf_target = params.leaf_target
        self._leaf_max = params.leaf_max
        self._leaf_floor = -(-params.leaf_target // ITEMS_PER_CHUNK)

    def add(self, key: bytes, line: bytes, rev: str) -> None:
        # The hot loop of a dump: ends_chunk(0, ...) and revdigest.pair_hash written out.
        last = self._last
        if last is not None and key <= last:
            raise ValueError(f"keys out of order: {key!r} after {last!r}")
        size = len(line) + 1
        target = self._leaf_target
        if self._held is not None:
            self._settle_held(size)
        lines = self._lines
        if lines and (size >= target or self._size + size > self._leaf_max):
            self._emit_leaf(False)  # a large document starts a chunk of its own; cap chunk size
            lines = self._lines
        if not lines:
            self._first = key
        lines.append(line)
        self._size += size
        self._digest += int.from_bytes(
            _blake3(len(key).to_bytes(4, "little") + key + rev.encode()).digest(16), "little"
        )
        self._last = key
        if self.checksum is not None:
            self.checksum.add(line)
        stats = self.stats
        stats.docs += 1
        stats.bytes += size
        weight = size if size > self._leaf_floor else self._leaf_floor
        if (
            size >= target
            or int.from_bytes(_blake3(b"\x00" + key).digest(8), "little") * target < weight << 64
        ):
            self._emit_leaf(True)

    def add_leaf(self, entry: NodeEntry, seq: int, load: LoadLeaf) -> None:
        """Take the earlier tree's leaf ``entry`` (the ``seq``-th leaf of that tree).

        Taken as it is when no chunk is open here: then the documents inside it are cut as
        they were (each decision depends on the chunk since its start). If it ended by itself
        (``closed``) the next chunk starts after it, as it did. Otherwise it ended because of
        the document after it: it is held until the next item shows whether that is the same
        (the earlier tree's next leaf, also unchanged) or one the size rule cuts before.
        Everything else is fed line by line.
        """
        first = entry.first_key.encode("utf-8")
        if self._last is not None and first <= self._last:
            raise ValueError(f"keys out of order: {first!r} after {self._last!r}")
        held = self._held
        if held is not None:
            if seq == self._held_seq + 1:
                self._take(held)  # the same document follows it as before: the same cut
            else:
                self._materialize_held()
        if self._lines:
            for key, line, rev in load(entry):
                self.add(key, line, rev)
            return
        if entry.closed:
            self._take(entry)
        else:
            self._held, self._held_seq, self._held_load = entry, seq, load
            self._before_held = self._last
            self._last = entry.last_key.encode("utf-8")

    def add_node(self, node: NodeEntry, leaves: list[NodeEntry], seq: int, load: LoadLeaf) -> None:
        """Take the earlier tree's level-1 node ``node`` (listing ``leaves``, the first of
        them the ``seq``-th leaf of that tree), all of whose leaves are unchanged.

        Taken as it is when nothing is open at levels 0 and 1 and it ended by itself at both:
        its last leaf is ``closed`` and boundary rule 2 fires after its last entry (every
        decision inside it depends only on the node since its start, as before). Otherwise
        its leaves are handed to ``add_leaf`` one by one.
        """
        if self._held is None and not self._lines:
            self._store_leaves()
            level = self._levels[0] if self._levels else None
            last = leaves[-1]
            size = _entry_size(last)
            if (
                (level is None or not level.entries)
                and last.closed
                and ends_chunk(1, last.last_key.encode("utf-8"), size, self.params.node_target)
                and (self._last is None or node.first_key.encode("utf-8") > self._last)
            ):
                if level is None:
                    self._levels.append(_Level())
                    level = self._levels[0]
                level.emitted += 1
                self.stats.leaves += len(leaves)
                self.stats.nodes += 1
                self.stats.docs += node.docs
                self.stats.bytes += node.bytes
                self.reused_leaves += len(leaves)
                self.reused_nodes += 1
                self._last = node.last_key.encode("utf-8")
                self._push(1, node)
                return
        for i, leaf in enumerate(leaves):
            self.add_leaf(leaf, seq + i, load)

    def _settle_held(self, size: int) -> None:
        """A document of ``size`` follows the held leaf: cut before it, or merge with it."""
        held = self._held
        assert held is not None
        if size >= self._leaf_target or held.bytes + size > self._leaf_max:
            self._take(held)
        else:
            self._materialize_held()

    def _materialize_held(self) -> None:
        held, load = self._held, self._held_load
        assert held is not None and load is not None
        self._held = self._held_load = None
        self._last = self._before_held  # its keys were never fed: check order from before it
        for key, line, rev in load(held):
            self.add(key, line, rev)

    def _take(self, entry: NodeEntry) -> None:
        if entry is self._held:
            self._held = self._held_load = None
        # Its entry goes up as it is: a full dump would write the same one (same key range,
        # chunk, counts, digest and ``closed``).
        self._pending.append(entry)
        self._last = entry.last_key.encode("utf-8")
        self.stats.docs += entry.docs
        self.stats.bytes += entry.bytes
        self.reused_leaves += 1
        if len(self._pending) >= LEAF_BATCH:
            self._store_leaves()

    def _put(self, data: bytes) -> bytes:
        cid, new = self.store.add(data)
        self._count(len(data), new)
        return cid

    def _count(self, size: int, new: bool) -> None:
        if new:
            self.stats.new_chunks += 1
            self.stats.new_bytes += size
        if self._on_chunk is not None:
            self._on_chunk()

    def _emit_leaf(self, closed: bool) -> None:
        if not self._lines:
            return
        self._lines.append(b"")
        data = b"\n".join(self._lines)
        assert self._last is not None
        self._pending.append(
            _Pending(
                data,
                self._first,
                self._last,
                len(self._lines) - 1,
                self._size,
                self._digest,
                closed,
            )
        )
        self._lines = []
        self._size = 0
        self._digest = 0
        if len(self._pending) >= LEAF_BATCH:
            self._store_leaves()

    def _store_leaves(self) -> None:
        """Store the pending leaves with one existence check for all of them."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        fresh: list[bytes | memoryview] = [p.data for p in pending if isinstance(p, _Pending)]
        prepared = iter(self.store.prepare_many(fresh) if fresh else ())
        for p in pending:
            self.stats.leaves += 1
            if isinstance(p, NodeEntry):  # a leaf of the earlier tree, taken as it is
                self._push(0, p)
                continue
            cid, new = self.store.add_prepared(next(prepared))
            self._count(len(p.data), new)
            self._push(
                0,
                NodeEntry(
                    p.first.decode("utf-8"),
                    p.last.decode("utf-8"),
                    cid,
                    p.docs,
                    p.size,
                    revdigest.to_bytes(p.digest),
                    p.closed,
                ),
            )

    def _push(self, index: int, entry: NodeEntry) -> None:
        if index == len(self._levels):
            self._levels.append(_Level())
        lvl = self._levels[index]
        size = _entry_size(entry)
        if lvl.entries and lvl.size + size > self.params.node_max:
            self._emit_node(index)
        lvl.entries.append(entry)
        lvl.size += size
        if ends_chunk(index + 1, entry.last_key.encode("utf-8"), size, self.params.node_target):
            self._emit_node(index)

    def _emit_node(self, index: int) -> None:
        lvl = self._levels[index]
        if not lvl.entries:
            return
        entries = lvl.entries
        cid = self._put(encode_node(index + 1, entries))
        self.stats.nodes += 1
        lvl.entries, lvl.size = [], 0
        lvl.emitted += 1
        self._push(
            index + 1,
            NodeEntry(
                entries[0].first_key,
                entries[-1].last_key,
                cid,
                sum(e.docs for e in entries),
                sum(e.bytes for e in entries),
                revdigest.to_bytes(sum(revdigest.from_bytes(e.digest or b"") for e in entries)),
                False,
            ),
        )

    def finish(self) -> TreeResult:
        if self._held is not None:
            self._take(self._held)  # the end of the input cuts it, as before
        self._emit_leaf(False)
        self._store_leaves()
        index = 0
        while index < len(self._levels):
            lvl = self._levels[index]
            top = index == len(self._levels) - 1
            if top and lvl.emitted == 0 and len(lvl.entries) == 1:
                # One entry at the highest level that never emitted a node: it is the root.
                return TreeResult(lvl.entries[0].child, index, self.stats)
            self._emit_node(index)
            index += 1
        return TreeResult(None, 0, self.stats)


def _str_size(n: int) -> int:
    # msgpack str: fixstr up to 31 bytes, then str8, str16, str32 headers.
    return n + (1 if n < 32 else 2 if n < 256 else 3 if n < 65536 else 5)


def _uint_size(v: int) -> int:
    if v < 0:
        return len(msgpack.packb(v))
    return 1 if v < 128 else 2 if v < 256 else 3 if v < 65536 else 5 if v < 1 << 32 else 9


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _entry_size(entry: NodeEntry) -> int:
    """The length of the entry's msgpack encoding (computed: a hot path of every dump)."""
    size = (
        1  # fixarray of 5 or 7
        + _str_size(_utf8_len(entry.first_key))
        + _str_size(_utf8_len(entry.last_key))
        + 2
        + len(entry.child)  # bin8
        + _uint_size(entry.docs)
        + _uint_size(entry.bytes)
    )
    if entry.digest is not None:
        size += 2 + len(entry.digest) + 1  # bin8 and a bool
    return size


def build_tree(
    store: ChunkStore,
    items: Iterable[tuple[bytes, bytes]],
    params: ChunkingParams = DEFAULT_PARAMS,
) -> TreeResult:
    """Build the tree of sorted (key, line) items (each line holds its ``_rev``)."""
    builder = TreeBuilder(store, params)
    for key, line in items:
        builder.add(key, line, line_rev(line, "build_tree"))
    return builder.finish()


# -- reading ----------------------------------------------------------------------------------


def leaf_lines(data: bytes, where: str) -> list[bytes]:
    """The document lines of a leaf chunk."""
    if not data.endswith(b"\n"):
        raise CorruptData(f"{where}: document chunk does not end with a newline")
    return data[:-1].split(b"\n")


def iter_leaf_data(
    store: ChunkStore, root: bytes | None, height: int, where: str
) -> Iterator[bytes]:
    """The bytes of every leaf in key order (each verified against its id)."""
    for cid in iter_leaves(store, root, height, where):
        yield store.read(cid)


def iter_lines(store: ChunkStore, root: bytes | None, height: int, where: str) -> Iterator[bytes]:
    for data in iter_leaf_data(store, root, height, where):
        yield from leaf_lines(data, where)


def line_rev(line: bytes, where: str) -> str:
    """The ``_rev`` of a document line ("" when it has none: not from ArangoDB)."""
    try:
        rev = orjson.loads(line).get("_rev", "")
    except (ValueError, AttributeError) as e:
        raise CorruptData(f"{where}: document line is damaged ({e})") from None
    return rev if isinstance(rev, str) else str(rev)


def parse_leaf(data: bytes, where: str) -> LeafLines:
    """(key, line, rev) of each line of a leaf chunk."""
    out: LeafLines = []
    loads = orjson.loads
    for line in leaf_lines(data, where):
        try:
            doc = loads(line)
            key, rev = doc["_key"], doc.get("_rev", "")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CorruptData(f"{where}: document line is damaged ({e})") from None
        if not isinstance(key, str) or not isinstance(rev, str):
            raise CorruptData(f"{where}: document line has a non-string _key or _rev")
        out.append((key.encode("utf-8"), line, rev))
    return out


def line_key(line: bytes, where: str) -> str:
    try:
        key = json.loads(line)["_key"]
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptData(f"{where}: document line is damaged ({e})") from None
    if not isinstance(key, str):
        raise CorruptData(f"{where}: document line has a non-string _key")
    return key
