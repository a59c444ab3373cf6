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

from snapstore.errors import CorruptData
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


class TreeBuilder:
    """Feed (key, line) in strictly increasing key byte order; ``finish`` returns the root."""

    def __init__(
        self,
        store: ChunkStore,
        params: ChunkingParams = DEFAULT_PARAMS,
        on_chunk: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.params = params
        self.stats = TreeStats()
        self._on_chunk = on_chunk
        self._lines: list[bytes] = []
        self._size = 0
        self._first: bytes = b""
        self._last: bytes | None = None
        self._levels: list[_Level] = []  # _levels[i] collects the entries of level i + 1 nodes
        # Leaves cut but not stored yet: (data, first key, last key, docs, bytes).
        self._pending: list[tuple[bytes, bytes, bytes, int, int]] = []
        self._leaf_target = params.leaf_target
        self._leaf_max = params.leaf_max
        self._leaf_floor = -(-params.leaf_target // ITEMS_PER_CHUNK)

    def add(self, key: bytes, line: bytes) -> None:
        # The hot loop of a dump: ends_chunk(0, ...) written out, names bound locally.
        last = self._last
        if last is not None and key <= last:
            raise ValueError(f"keys out of order: {key!r} after {last!r}")
        size = len(line) + 1
        target = self._leaf_target
        lines = self._lines
        if lines and (size >= target or self._size + size > self._leaf_max):
            self._emit_leaf()  # a large document starts a chunk of its own; cap chunk size
            lines = self._lines
        if not lines:
            self._first = key
        lines.append(line)
        self._size += size
        self._last = key
        stats = self.stats
        stats.docs += 1
        stats.bytes += size
        weight = size if size > self._leaf_floor else self._leaf_floor
        if (
            size >= target
            or int.from_bytes(_blake3(b"\x00" + key).digest(8), "little") * target < weight << 64
        ):
            self._emit_leaf()

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

    def _emit_leaf(self) -> None:
        if not self._lines:
            return
        self._lines.append(b"")
        data = b"\n".join(self._lines)
        assert self._last is not None
        self._pending.append((data, self._first, self._last, len(self._lines) - 1, self._size))
        self._lines = []
        self._size = 0
        if len(self._pending) >= LEAF_BATCH:
            self._store_leaves()

    def _store_leaves(self) -> None:
        """Store the pending leaves with one existence check for all of them."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        prepared = self.store.prepare_many([p[0] for p in pending])
        for p, (data, first, last, docs, size) in zip(prepared, pending, strict=True):
            cid, new = self.store.add_prepared(p)
            self._count(len(data), new)
            self.stats.leaves += 1
            self._push(0, NodeEntry(first.decode("utf-8"), last.decode("utf-8"), cid, docs, size))

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
            ),
        )

    def finish(self) -> TreeResult:
        self._emit_leaf()
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


def _entry_size(entry: NodeEntry) -> int:
    return len(msgpack.packb(entry.to_list(), use_bin_type=True))


def build_tree(
    store: ChunkStore,
    items: Iterable[tuple[bytes, bytes]],
    params: ChunkingParams = DEFAULT_PARAMS,
) -> TreeResult:
    """Build the tree of sorted (key, line) items."""
    builder = TreeBuilder(store, params)
    for key, line in items:
        builder.add(key, line)
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


def line_key(line: bytes, where: str) -> str:
    try:
        key = json.loads(line)["_key"]
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptData(f"{where}: document line is damaged ({e})") from None
    if not isinstance(key, str):
        raise CorruptData(f"{where}: document line has a non-string _key")
    return key
