"""Restore by difference, the decision: which live collections are merged, which reloaded.

Before anything is changed, each live collection the snapshot also has is either *merged*
(kept with its indexes; only the difference is written) or *reloaded* (dropped and loaded
again), and the reason is kept for the report (spec/database.md, *Restore by difference*, the
table of reasons). For a merged collection the difference is listed now, from one sorted
``(_key, _rev)`` listing (``listing``), by ``restore_tree_merge`` for a tree with revision
digests or ``restore_cache_merge`` for one written before them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snapstore.sources.arangodb import objects
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.doctree import read_node
from snapstore.sources.arangodb.listing import NotInKeyOrder, pairs, sorted_batches
from snapstore.sources.arangodb.restore_cache_merge import leaf_ranges, merge_with_cache
from snapstore.sources.arangodb.restore_merge import (
    Difference,
    TooManyWrites,
    merge,
    snapshot_lines,
)
from snapstore.sources.arangodb.restore_tree_merge import TreeMerge
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
# More documents than this share of the snapshot's (or the live) count differ: reloading is
# cheaper than writing them one by one into maintained indexes, and the merge stops early.
MAX_SHARE = 0.5
MERGE, RELOAD = "merge", "reload"


@dataclass
class Decision:
    """The path one live collection takes: ``merge`` with its difference, or ``reload``."""

    name: str
    path: str
    reason: str = ""
    difference: Difference | None = None


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
    live_last = last_value(live_props)
    snap_last = last_value(snap_props)
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


def last_value(props: Json) -> int | None:
    """``keyOptions.lastValue`` as a number (None when absent or not a number)."""
    value = (props.get("keyOptions") or {}).get("lastValue")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def difference(
    conn: Connection, store: ChunkStore, entry: Json, name: str, limit: int
) -> Difference | None:
    """The difference from live collection ``name`` to the snapshot's ``entry``, from one
    sorted listing; None past ``limit`` writes. NotInKeyOrder propagates."""
    where = f"collection {name}"
    root, height = entry.get("root"), int(entry.get("height", 0))
    live = sorted_batches(conn, name)
    if root is None:  # an empty collection in the snapshot: every live key goes
        keys = [k for batch, _ in live for k in batch]
        out = Difference(remove=keys, removed=len(keys), live=len(keys), expected=None)
        return out if out.writes <= limit else None
    if height > 0 and read_node(store, bytes(root), height, where)[0].digest is not None:
        try:
            return TreeMerge(store, where, limit).run(bytes(root), height, live)
        except TooManyWrites:
            return None
    if height == 0:  # a single leaf: read it
        return merge(snapshot_lines(store, entry, where), pairs(live), limit)
    return merge_with_cache(store, entry, where, leaf_ranges(store, entry, where), live, limit)


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
    limit = int(MAX_SHARE * max(int(entry.get("count", 0)), live_count(conn, name), 1))
    try:
        found = difference(conn, store, entry, name, limit)
    except NotInKeyOrder:
        return Decision(name, RELOAD, "the server does not list its keys in byte order")
    if found is None:
        return Decision(name, RELOAD, "more than half of its documents differ")
    return Decision(name, MERGE, difference=found)


def live_count(conn: Connection, name: str) -> int:
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
