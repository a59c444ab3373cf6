"""Restore by difference over a tree written before revision digests (spec/database.md).

Such a tree's node entries carry key ranges and counts but no digest, so an unchanged leaf
cannot be recognised from the nodes alone. A local cache of each leaf's pairs digest
(``restore_leafcache``) stands in: when at least half of the tree's leaves are in it, the merge
goes leaf by leaf, comparing the digest of the live pairs in each leaf's key range with the
cached one and reading only the leaves that differ (or are unknown); otherwise every leaf is
read in order. Each leaf read is learned for the next time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from snapstore.sources.arangodb.doctree import NodeEntry, iter_level1_nodes
from snapstore.sources.arangodb.listing import Batch, pairs
from snapstore.sources.arangodb.restore_leafcache import LeafCache, pairs_digest
from snapstore.sources.arangodb.restore_merge import (
    Difference,
    Line,
    leaf_lines,
    merge,
    snapshot_lines,
)
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
Segment = list[tuple[str, str]]


def leaf_ranges(store: ChunkStore, entry: Json, where: str) -> list[NodeEntry] | None:
    """The leaves of a collection's tree with their key ranges, in key order, reading only its
    nodes (None when the root is the only leaf, or there is none)."""
    root = entry.get("root")
    height = int(entry.get("height", 0))
    if root is None or height == 0:
        return None
    out: list[NodeEntry] = []
    for _, entries in iter_level1_nodes(store, bytes(root), height, where):
        out.extend(entries)
    return out


def merge_with_cache(
    store: ChunkStore,
    entry: Json,
    where: str,
    ranges: list[NodeEntry] | None,
    live: Iterator[Batch],
    limit: int,
) -> Difference | None:
    """The difference, reading the leaves the cache does not vouch for; None past ``limit``."""
    cache = LeafCache(cache_path(store))
    learned: dict[bytes, bytes] = {}
    try:
        known = cache.get_many([e.child for e in ranges]) if ranges else {}
        if ranges and 2 * len(known) >= len(ranges):
            return merge_ranges(store, ranges, known, pairs(live), limit, learned)
        return merge(_learning(snapshot_lines(store, entry, where), learned), pairs(live), limit)
    finally:
        cache.put_many(learned)
        cache.close()


def cache_path(store: ChunkStore) -> Path | None:
    index = getattr(getattr(store, "cache", None), "path", None)
    return Path(index).parent / "leaf-pairs.sqlite" if index else None


def _learning(lines: Iterator[Line], learned: dict[bytes, bytes]) -> Iterator[Line]:
    """Pass ``lines`` through, noting each leaf's digest once the leaf is complete."""
    current: bytes | None = None
    seen: Segment = []
    for item in lines:
        if item[0] != current:
            if current is not None:
                learned[current] = pairs_digest(seen)
            current, seen = item[0], []
        seen.append((item[1], item[2]))
        yield item
    if current is not None:
        learned[current] = pairs_digest(seen)


def _segments(
    ranges: list[NodeEntry], live: Iterator[tuple[str, str]], out: Difference
) -> Iterator[tuple[NodeEntry, Segment]]:
    """Each leaf with the live pairs in its key range; live keys outside every range are
    recorded in ``out`` as removed."""
    lv = next(live, None)
    for e in ranges:
        while lv is not None and lv[0] < e.first_key:
            out.remove.append(lv[0])
            out.removed += 1
            lv = next(live, None)
        segment: Segment = []
        while lv is not None and lv[0] <= e.last_key:
            segment.append(lv)
            lv = next(live, None)
        out.live += len(segment)
        yield e, segment
    while lv is not None:
        out.remove.append(lv[0])
        out.removed += 1
        lv = next(live, None)


def merge_ranges(
    store: ChunkStore,
    ranges: list[NodeEntry],
    known: dict[bytes, bytes],
    live: Iterator[tuple[str, str]],
    limit: int,
    learned: dict[bytes, bytes],
) -> Difference | None:
    """``merge``, leaf by leaf: a leaf whose live segment has its cached digest (``known``)
    is not read; the others are read together (ranged reads) and merged with their segment."""
    out = Difference()
    assert out.expected is not None
    todo: list[tuple[NodeEntry, Segment]] = []
    for e, segment in _segments(ranges, live, out):
        if known.get(e.child) == pairs_digest(segment):
            for key, rev in segment:
                out.expected.add(key, rev)
        else:
            todo.append((e, segment))
        if out.removed > limit:
            return None
    out.live += out.removed
    for (e, segment), data in zip(todo, store.read_many(e.child for e, _ in todo), strict=True):
        leaf = leaf_lines(e.child, data)
        out.leaves_read += 1
        learned[e.child] = pairs_digest((k, r) for _, k, r, _ in leaf)
        part = merge(iter(leaf), iter(segment), limit=len(leaf) + len(segment))
        assert part is not None
        out.absorb(part, e.child)
        if out.writes > limit:
            return None
    return out
