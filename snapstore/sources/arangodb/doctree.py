"""Document trees: how a collection's documents are laid out as chunks (spec/database.md).

A collection's documents, in ``_key`` byte order, are cut into *leaf* chunks (canonical JSON
lines, one document per line). The leaves are listed, in order, by *node* chunks; nodes are
listed by nodes one level up, until one chunk remains: the root, whose id and height the
manifest keeps. Boundaries at every level are chosen from keys (see
``snapstore.sources.arangodb.docchunks``), so equal key ranges give equal chunk ids and two
snapshots share every subtree that did not change.

This module is the format of the nodes and the walk over a tree: the part that references
(check, gc: ``snapstore.maintenance.references``) and the rest of this source need; building
trees is ``docchunks``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from snapstore.base.errors import CorruptData
from snapstore.manifest.schema import Manifest
from snapstore.sources.base import Ref
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import ID_SIZE, short

DIGEST_SIZE = 16  # bytes of a revision digest (spec/database.md, *Revision digests*)


# Not frozen: a frozen dataclass's __init__ costs four times as much, and an unchanged
# snapshot decodes one entry per parent leaf. Entries are never changed after creation.
@dataclass(slots=True, eq=True)
class NodeEntry:
    """One child of a node: its key range, chunk id, and the documents and bytes below it.

    ``digest`` sums the hashes of the ``(_key, _rev)`` pairs below the child (``revdigest``),
    so a snapshot can recognise an unchanged child from a key listing alone; ``closed`` says
    that a leaf ended because of its own last document (boundary rule 2), not because of the
    document after it. Trees written before digests existed have 5-element entries: ``digest``
    is None and ``closed`` False there.
    """

    first_key: str
    last_key: str
    child: bytes
    docs: int
    bytes: int
    digest: builtins.bytes | None = None
    closed: bool = False

    def to_list(self) -> list[object]:
        base: list[object] = [self.first_key, self.last_key, self.child, self.docs, self.bytes]
        if self.digest is not None:
            base += [self.digest, self.closed]
        return base


def encode_node(level: int, entries: list[NodeEntry]) -> bytes:
    """A node chunk: the msgpack array
    ``[level, [[first, last, child, docs, bytes, digest, closed], ...]]``."""
    data: bytes = msgpack.packb([level, [e.to_list() for e in entries]], use_bin_type=True)
    return data


def _entry(raw: Any) -> NodeEntry:
    """One decoded entry (5 elements: a tree written before revision digests)."""
    if len(raw) == 5:
        a, b, c, d, e = raw
        return NodeEntry(str(a), str(b), bytes(c), int(d), int(e))
    a, b, c, d, e, f, g = raw
    # msgpack gives str, bytes and int for a well-formed entry: check instead of converting
    # (the hot path of an unchanged snapshot, which decodes every level-1 node).
    if not (
        type(a) is str
        and type(b) is str
        and type(c) is bytes
        and type(d) is int
        and type(e) is int
        and type(f) is bytes
        and len(f) == DIGEST_SIZE
        and type(g) is bool
    ):
        if type(f) is not bytes or len(f) != DIGEST_SIZE or type(g) is not bool:
            raise ValueError("bad revision digest")
        return NodeEntry(str(a), str(b), bytes(c), int(d), int(e), f, g)
    return NodeEntry(a, b, c, d, e, f, g)


def decode_node(data: bytes, where: str, level: int | None = None) -> tuple[int, list[NodeEntry]]:
    """Parse a node chunk; ``level`` (when given) must match the level the node claims."""
    try:
        got_level, raw = msgpack.unpackb(data, raw=False)
        entries = [_entry(r) for r in raw]
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise CorruptData(f"{where}: document tree node is damaged ({e})") from None
    if (
        not isinstance(got_level, int)
        or got_level < 1
        or (level is not None and got_level != level)
    ):
        raise CorruptData(f"{where}: document tree node has level {got_level!r}, expected {level}")
    if not entries or any(len(e.child) != ID_SIZE for e in entries):
        raise CorruptData(f"{where}: document tree node is damaged (bad entries)")
    return got_level, entries


def read_node(store: ChunkStore, cid: bytes, level: int, where: str) -> list[NodeEntry]:
    """Read (verified) and parse the node ``cid`` expected at ``level``."""
    return decode_node(store.read(cid), f"{where}: node {short(cid)}", level)[1]


def iter_tree(
    store: ChunkStore, root: bytes | None, height: int, where: str
) -> Iterator[tuple[bytes, int]]:
    """Every chunk of a tree as (id, level), parents before children, leaves in key order.

    Leaves have level 0; ``height`` is the root's level (0 when the root is the only leaf).
    """
    if root is None:
        return
    stack: list[tuple[bytes, int]] = [(root, height)]
    while stack:
        cid, level = stack.pop()
        yield cid, level
        if level > 0:
            entries = read_node(store, cid, level, where)
            stack.extend((e.child, level - 1) for e in reversed(entries))


def iter_leaves(store: ChunkStore, root: bytes | None, height: int, where: str) -> Iterator[bytes]:
    """The leaf ids of a tree in key order."""
    for cid, level in iter_tree(store, root, height, where):
        if level == 0:
            yield cid


def iter_level1_nodes(
    store: ChunkStore, root: bytes, height: int, where: str
) -> Iterator[tuple[bytes, list[NodeEntry]]]:
    """A tree's level-1 nodes in key order, each as (its id, the entries naming its leaves),
    reading only nodes (``height`` ≥ 1)."""
    if height == 1:
        yield root, read_node(store, root, 1, where)
        return
    stack: list[tuple[bytes, int]] = [(root, height)]
    while stack:
        cid, level = stack.pop()
        entries = read_node(store, cid, level, where)
        if level > 2:
            stack.extend((e.child, level - 1) for e in reversed(entries))
            continue
        # The level-1 children of a level-2 node: batched lookups and ranged reads.
        children = [e.child for e in entries]
        for child, data in zip(children, store.read_many(children), strict=True):
            yield child, decode_node(data, f"{where}: node {short(child)}", 1)[1]


def iter_database_references(
    section: dict,  # type: ignore[type-arg]
    store: ChunkStore,
    snapshot: str = "?",
) -> Iterator[Ref]:
    """Chunk references of the database section (spec/database.md).

    Each collection's documents are a tree of chunks (``root``, ``height``): the root and every
    node and leaf below it are references. Nodes are read (and verified) to find their
    children; a node that cannot be read raises CorruptData naming the collection.
    """
    for name, coll in (section.get("collections") or {}).items():
        root = coll.get("root")
        if root is None:
            continue
        where = f"snapshot {snapshot}: collection {name}"
        for cid, level in iter_tree(store, bytes(root), int(coll.get("height", 0)), where):
            kind = "documents" if level == 0 else "document index"
            yield Ref(cid, f"collection {name} ({kind})", hot=level > 0)


class DatabasePart:
    """The database section of a snapshot as a ``SnapshotPart``."""

    def references(self, manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
        if manifest.database:
            yield from iter_database_references(manifest.database, store, manifest.name)
