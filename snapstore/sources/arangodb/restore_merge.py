"""Restore by difference, the plan: which live collections can be merged, and what to write.

A live collection whose definition equals the snapshot's (spec/database.md, *Restore by
difference*) is not dropped and reloaded: its ``(_key, _rev)`` pairs, listed in key order, are
merged against the snapshot's documents, also in key order, and only the difference is
written (``restore_writes``). This module decides, before anything is changed, for each
collection whether it takes that path or the full one (and why), and computes the difference:
the keys to remove, the keys to put (insert or replace) and the leaves that hold them.

Both sides stream: the live listing is a cursor, merged leaf range by leaf range against the
tree's level-1 nodes (read alone, without the leaves). Each node entry carries the revision
digest of its leaf's pairs (``revdigest``, the dump's own): a leaf whose live pairs give the
same digest and count is unchanged and never read; only the others are. A tree written before
digests falls back to a local cache of leaf digests (``restore_leafcache``) and, for leaves it
does not know, reads them in order. Memory holds only the difference, which is bounded
(``MAX_SHARE``: past it reloading is cheaper anyway, and the merge stops).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from snapstore.sources.arangodb import objects, revdigest
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.doctree import NodeEntry, iter_leaves, iter_level1_nodes
from snapstore.sources.arangodb.restore_leafcache import LeafCache, pairs_digest
from snapstore.sources.arangodb.verify import RevisionSet
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
# The primary index serves the order (the optimizer rule use-index-for-sort), so the listing
# costs a few dozen bytes per document and no sort step on ArangoDB.
LISTING_QUERY = "FOR d IN @@c SORT d._key RETURN [d._key, d._rev]"
LISTING_BATCH = 10_000
# More documents than this share of the snapshot's (or the live) count differ: reloading is
# cheaper than writing them one by one into maintained indexes, and the merge stops early.
MAX_SHARE = 0.5
MERGE, RELOAD = "merge", "reload"


class NotInKeyOrder(Exception):
    """The server listed a key not above the one before (a Coordinator merges shards in AQL
    collation order, not byte order)."""


@dataclass
class Difference:
    """What writing the snapshot onto one live collection takes."""

    remove: list[str] = field(default_factory=list)  # live keys, in key order
    put: set[str] = field(default_factory=set)  # snapshot keys to insert or replace
    changed: list[str] = field(default_factory=list)  # of those, the live ones (replaced)
    leaves: list[bytes] = field(default_factory=list)  # leaves holding them, in key order
    expected: RevisionSet = field(default_factory=RevisionSet)  # every snapshot pair
    removed: int = 0
    inserted: int = 0
    replaced: int = 0
    live: int = 0  # documents listed
    leaves_read: int = 0  # snapshot leaves the merge read (the writes read those they name)

    @property
    def writes(self) -> int:
        return self.removed + self.inserted + self.replaced


@dataclass
class Decision:
    """The path one live collection takes: ``merge`` with its difference, or ``reload``."""

    name: str
    path: str
    reason: str = ""
    difference: Difference | None = None


# -- the two sides -------------------------------------------------------------------------------


def live_pairs(conn: Connection, name: str) -> Iterator[tuple[str, str]]:
    """The live collection's ``(_key, _rev)`` in key order (UTF-8 byte order, which for
    Python strings is code point order); ``NotInKeyOrder`` when the server's order is another."""
    what = f"listing the keys and revisions of collection {name}"
    body = conn.call(
        "post",
        "/_api/cursor",
        what=what,
        data={
            "query": LISTING_QUERY,
            "bindVars": {"@c": name},
            "batchSize": LISTING_BATCH,
            "ttl": 120,
            "options": {"stream": True},
        },
        fast=True,
    )
    last: str | None = None
    # The next batch is fetched while this one is merged: the server's time and ours overlap.
    pool = ThreadPoolExecutor(1, thread_name_prefix="listing")
    pending: Future[Any] | None = None
    ident = str(body.get("id", ""))
    try:
        while True:
            if body.get("hasMore"):
                url = f"/_api/cursor/{q(ident)}"
                pending = pool.submit(conn.call, "post", url, what=what, fast=True)
            for key, rev in body.get("result") or []:
                if last is not None and key <= last:
                    raise NotInKeyOrder(key)
                last = key
                yield key, rev
            if pending is None:
                return
            body, pending = pending.result(), None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if pending is not None or body.get("hasMore"):
            _close_cursor(conn, ident)


def _close_cursor(conn: Connection, ident: str) -> None:
    # Best effort: a cursor left open expires by itself (its ttl).
    with contextlib.suppress(Exception):
        conn.call("delete", f"/_api/cursor/{q(ident)}", what="closing a cursor")


def snapshot_pairs(
    store: ChunkStore, entry: Json, where: str
) -> Iterator[tuple[bytes, str, str, bytes]]:
    """``(leaf id, _key, _rev, line)`` of every document of a collection entry, in key order."""
    root = entry.get("root")
    leaves = iter_leaves(
        store, None if root is None else bytes(root), int(entry.get("height", 0)), where
    )
    ids, wanted = itertools.tee(leaves)
    for cid, data in zip(ids, store.read_many(wanted), strict=True):
        for line in data[:-1].split(b"\n"):
            key, rev = key_and_rev(line)
            yield cid, key, rev, line


def key_and_rev(line: bytes) -> tuple[str, str]:
    r"""A document line's top-level ``_key`` and ``_rev``, mostly without parsing it.

    A canonical line's members are sorted by name (*Documents: canonical lines*), so unless a
    name sorts before ``_key`` (``_from`` of an edge aside), the line starts with its
    ``_key`` member, directly followed by ``_rev``: both are read where they stand. Keys,
    revisions and document ids never hold ``"`` or ``\``; any other line is parsed in full."""
    p = 1
    if line.startswith(b'"_from":"', 1):
        end = line.find(b'"', 10)
        p = end + 2 if end > 0 and line[end + 1 : end + 2] == b"," else -1
        if p > 0 and b"\\" in line[10:end]:
            p = -1
    if p > 0 and line.startswith(b'"_key":"', p):
        k0 = p + 8
        k1 = line.find(b'"', k0)
        if k1 > 0 and line.startswith(b',"_rev":"', k1 + 1):
            r0 = k1 + 10
            r1 = line.find(b'"', r0)
            key, rev = line[k0:k1], line[r0:r1]
            if r1 > 0 and b"\\" not in key and b"\\" not in rev:
                return key.decode("utf-8"), rev.decode("utf-8")
    doc = orjson.loads(line)
    return str(doc["_key"]), str(doc["_rev"])


# -- the merge -----------------------------------------------------------------------------------


def merge(
    snapshot: Iterator[tuple[bytes, str, str, bytes]],
    live: Iterator[tuple[str, str]],
    limit: int,
) -> Difference | None:
    """The difference from ``live`` to ``snapshot`` (both in key order); None once it holds
    more than ``limit`` writes (the caller reloads instead)."""
    out = Difference()
    s = next(snapshot, None)
    lv = next(live, None)
    last_leaf: bytes | None = None
    seen_leaf: bytes | None = None

    def put(cid: bytes, key: str) -> None:
        nonlocal last_leaf
        out.put.add(key)
        if cid != last_leaf:
            out.leaves.append(cid)
            last_leaf = cid

    while s is not None or lv is not None:
        if lv is not None and (s is None or lv[0] < s[1]):
            out.remove.append(lv[0])
            out.removed += 1
            out.live += 1
            lv = next(live, None)
        else:
            assert s is not None
            cid, key, rev, _ = s
            if cid != seen_leaf:
                out.leaves_read += 1
                seen_leaf = cid
            out.expected.add(key, rev)
            if lv is not None and lv[0] == key:
                out.live += 1
                if lv[1] != rev:
                    put(cid, key)
                    out.changed.append(key)
                    out.replaced += 1
                lv = next(live, None)
            else:
                put(cid, key)
                out.inserted += 1
            s = next(snapshot, None)
        if out.writes > limit:
            return None
    return out


# -- which path ----------------------------------------------------------------------------------


def definition_problem(conn: Connection, section: Json, name: str) -> str | None:
    """Why live collection ``name`` cannot be merged (its definition), or None if it can.

    Definitions are compared as ``restore --dry-run`` and ``diff`` compare them: properties
    and indexes minus the fields the server assigns (ids, ``lastValue``, figures); analyzer
    names are compared without their ``<database>::`` prefix."""
    entry = section["collections"][name]
    snap_props = entry.get("properties") or {}
    live_props = objects.read_properties(conn, name)
    if objects.comparable_properties(live_props) != objects.comparable_properties(snap_props):
        return "its properties differ from the snapshot's"
    snap_prefix = f"{section.get('database', '')}::"
    live_prefix = f"{conn.name}::"
    live_indexes = objects.short_analyzer_names(
        objects.comparable_indexes(objects.read_indexes(conn, name)), live_prefix
    )
    snap_indexes = objects.short_analyzer_names(
        objects.comparable_indexes(entry.get("indexes") or []), snap_prefix
    )
    if live_indexes != snap_indexes:
        return "its indexes differ from the snapshot's"
    if _analyzers_differ(conn, section, snap_indexes):
        # A full restore replaces a changed analyzer, which the server refuses while an
        # index of a kept collection uses it (409).
        return "an analyzer its indexes use differs from the snapshot's"
    if any(i.get("type") == "ttl" for i in entry.get("indexes") or []):
        # The server's TTL thread would remove expired documents while the restore writes
        # and verifies; the full path creates the TTL index after the verification.
        return "it has a TTL index"
    live_last = _last_value(live_props)
    snap_last = _last_value(snap_props)
    if live_last is not None and snap_last is not None and live_last < snap_last:
        # Kept, the collection would hand out keys the snapshot's database had already used.
        return f"its keyOptions.lastValue ({live_last}) is below the snapshot's ({snap_last})"
    return None


def _analyzers_differ(conn: Connection, section: Json, indexes: list[Json]) -> bool:
    snap = {a["name"]: objects.analyzer_create_body(a) for a in section.get("analyzers") or []}
    used = objects.strings_in(indexes) & set(snap)
    if not used:
        return False
    live = {a["name"]: objects.analyzer_create_body(a) for a in objects.read_analyzers(conn)}
    return any(live.get(name) != snap[name] for name in used)


def _last_value(props: Json) -> int | None:
    value = (props.get("keyOptions") or {}).get("lastValue")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def decide(
    conn: Connection,
    store: ChunkStore,
    section: Json,
    name: str,
    leader_reloaded: str | None = None,
) -> Decision:
    """Merge or reload live collection ``name`` (nothing is changed); for a merge, the
    difference, listed now."""
    if leader_reloaded is not None:
        return Decision(name, RELOAD, f"its sharding prototype {leader_reloaded} is reloaded")
    problem = definition_problem(conn, section, name)
    if problem is not None:
        return Decision(name, RELOAD, problem)
    entry = section["collections"][name]
    count = int(entry.get("count", 0))
    live_count = _live_count(conn, name)
    limit = int(MAX_SHARE * max(count, live_count, 1))
    where = f"collection {name}"
    try:
        ranges = leaf_ranges(store, entry, where)
        if ranges and all(e.digest is not None for e in ranges):
            # The tree's nodes carry each leaf's revision digest: only the leaves whose live
            # pairs differ are read, on the first restore as on any other.
            found = merge_ranges(store, ranges, {}, live_pairs(conn, name), limit, None)
        else:
            found = _merge_with_cache(conn, store, entry, name, ranges, limit)
    except NotInKeyOrder:
        return Decision(name, RELOAD, "the server does not list its keys in byte order")
    if found is None:
        return Decision(name, RELOAD, "more than half of its documents differ")
    return Decision(name, MERGE, difference=found)


def _merge_with_cache(
    conn: Connection,
    store: ChunkStore,
    entry: Json,
    name: str,
    ranges: list[NodeEntry] | None,
    limit: int,
) -> Difference | None:
    """The merge of a tree written before revision digests (or of a single leaf): leaves
    whose pairs digest a previous restore learned (``restore_leafcache``) are read only when
    their live pairs differ; the others are read, and learned."""
    where = f"collection {name}"
    cache = LeafCache(_cache_path(store))
    learned: dict[bytes, bytes] = {}
    try:
        known = cache.get_many([e.child for e in ranges]) if ranges else {}
        if ranges and 2 * len(known) >= len(ranges):
            # Most leaves were seen before: read only those whose pairs differ.
            return merge_ranges(store, ranges, known, live_pairs(conn, name), limit, learned)
        pairs = _learning(snapshot_pairs(store, entry, where), learned)
        return merge(pairs, live_pairs(conn, name), limit)
    finally:
        cache.put_many(learned)
        cache.close()


def _cache_path(store: ChunkStore) -> Path | None:
    index = getattr(getattr(store, "cache", None), "path", None)
    return Path(index).parent / "leaf-pairs.sqlite" if index else None


def leaf_ranges(store: ChunkStore, entry: Json, where: str) -> list[NodeEntry] | None:
    """The leaves of a collection's tree with their key ranges (and, in a tree written with
    them, their revision digests), in key order, reading only its nodes (None when the root
    is the only leaf, or there is none)."""
    root = entry.get("root")
    height = int(entry.get("height", 0))
    if root is None or height == 0:
        return None
    out: list[NodeEntry] = []
    for _, entries in iter_level1_nodes(store, bytes(root), height, where):
        out.extend(entries)
    return out


def range_digest(segment: list[tuple[str, str]]) -> bytes:
    """The revision digest of live pairs, as a node entry holds it for the pairs below its
    child (spec/database.md, *Revision digests*)."""
    pair_hash = revdigest.pair_hash
    return revdigest.to_bytes(sum(pair_hash(key.encode("utf-8"), rev) for key, rev in segment))


def _unchanged(e: NodeEntry, segment: list[tuple[str, str]], known: dict[bytes, bytes]) -> bool:
    """Whether the live pairs in leaf ``e``'s key range are the leaf's own: from the node's
    revision digest when the tree has one, else from the leaf cache's digest."""
    if e.digest is not None:
        return len(segment) == e.docs and range_digest(segment) == e.digest
    return known.get(e.child) == pairs_digest(segment)


def _learning(
    pairs: Iterator[tuple[bytes, str, str, bytes]], learned: dict[bytes, bytes]
) -> Iterator[tuple[bytes, str, str, bytes]]:
    """Pass ``pairs`` through, noting each leaf's digest once the leaf is complete."""
    current: bytes | None = None
    seen: list[tuple[str, str]] = []
    for item in pairs:
        if item[0] != current:
            if current is not None:
                learned[current] = pairs_digest(seen)
            current, seen = item[0], []
        seen.append((item[1], item[2]))
        yield item
    if current is not None:
        learned[current] = pairs_digest(seen)


def merge_ranges(
    store: ChunkStore,
    ranges: list[NodeEntry],
    known: dict[bytes, bytes],
    live: Iterator[tuple[str, str]],
    limit: int,
    learned: dict[bytes, bytes] | None,
) -> Difference | None:
    """``merge``, leaf by leaf: the live pairs in a leaf's key range are compared with the
    leaf's revision digest (from its node entry) or, in a tree written before those, with its
    cached digest (``known``), and only the leaves that differ (or are unknown) are read, together
    (ranged reads), and merged with their live segment. Live keys outside every leaf's range
    are not in the snapshot: removed."""
    out = Difference()
    todo: list[tuple[NodeEntry, list[tuple[str, str]]]] = []
    lv = next(live, None)
    for e in ranges:
        while lv is not None and lv[0] < e.first_key:
            out.remove.append(lv[0])
            out.removed += 1
            lv = next(live, None)
        segment: list[tuple[str, str]] = []
        while lv is not None and lv[0] <= e.last_key:
            segment.append(lv)
            lv = next(live, None)
        out.live += len(segment)
        if _unchanged(e, segment, known):
            for key, rev in segment:
                out.expected.add(key, rev)
        else:
            todo.append((e, segment))
        if out.removed > limit:
            return None
    while lv is not None:
        out.remove.append(lv[0])
        out.removed += 1
        lv = next(live, None)
        if out.removed > limit:
            return None
    out.live += out.removed
    for (e, segment), data in zip(todo, store.read_many(e.child for e, _ in todo), strict=True):
        leaf = [(e.child, *key_and_rev(line), line) for line in data[:-1].split(b"\n")]
        out.leaves_read += 1
        if learned is not None:
            learned[e.child] = pairs_digest((k, r) for _, k, r, _ in leaf)
        part = merge(iter(leaf), iter(segment), limit=len(leaf) + len(segment))
        assert part is not None
        out.remove.extend(part.remove)
        out.put |= part.put
        out.changed.extend(part.changed)
        if part.put:
            out.leaves.append(e.child)
        out.expected.update(part.expected)
        out.removed += part.removed
        out.inserted += part.inserted
        out.replaced += part.replaced
        if out.writes > limit:
            return None
    return out


def _live_count(conn: Connection, name: str) -> int:
    body = conn.call("get", f"/_api/collection/{q(name)}/count", what=f"counting {name}")
    return int(body.get("count", 0))


def decide_all(
    conn: Connection,
    store: ChunkStore,
    section: Json,
    names: list[str],
    leader_of: dict[str, str],
) -> dict[str, Decision]:
    """Decisions for the live collections ``names`` (prototypes before their followers: a
    follower of a reloaded prototype is reloaded too, since the prototype is dropped first
    and a Coordinator refuses that while it has followers)."""
    out: dict[str, Decision] = {}
    ordered = [n for n in names if n not in leader_of] + [n for n in names if n in leader_of]
    for name in ordered:
        leader = leader_of.get(name)
        reloaded = leader if leader in out and out[leader].path == RELOAD else None
        out[name] = decide(conn, store, section, name, reloaded)
    return out
