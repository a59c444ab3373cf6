"""Compare two snapshots' collections, and walk their document trees, without a server.

``snapstore.inspection.diff`` asks this module what changed in a collection: its definition
(``structure``: properties and indexes minus what the server assigns), whether its documents
can differ at all (``data_id``: the tree's root), and, when they can, which keys were added,
removed or changed (``key_diff``). Both document trees (spec/database.md, *Walking and
comparing*) are expanded from the top, and every chunk id present on both sides is dropped
before it is read, so only the differing leaves are ever read.

``object_changes`` compares the views, analyzers, named graphs and AQL functions of two
sections (or of a section and the live database, ``live_objects``) by name, each reduced to
what restore would create it with (``objects.*_create_body``), so server-assigned ids and the
``<db>::`` prefix of analyzer names do not count as changes.

``tree_chunks`` lists every chunk of a section's document trees with its level, for gc, which
keeps the tree nodes (level > 0) in hot storage because diff and mark read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from snapstore.base.errors import CorruptData
from snapstore.sources.arangodb.dbfields import COLLECTION_SERVER_FIELDS, INDEX_SERVER_FIELDS
from snapstore.sources.arangodb.doctree import iter_tree, read_node
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import chunk_id

Json = dict[str, Any]

# Collection entry keys that describe the data, not the definition.
DATA_KEYS = frozenset(
    {
        "root",
        "height",
        "chunks",
        "count",
        "docs",
        "documents",
        "bytes",
        "size",
        "checksum",
        "leaves",
        "nodes",
    }
)


@dataclass(frozen=True)
class KeyDiff:
    """The keys of one collection added, removed and changed between two snapshots, sorted."""

    added: list[str]
    removed: list[str]
    changed: list[str]


@dataclass(frozen=True, slots=True)
class TreeChunk:
    """One chunk of a collection's document tree: a leaf (level 0) or a node."""

    chunk: bytes
    level: int
    collection: str

    @property
    def is_node(self) -> bool:
        return self.level > 0


def structure(entry: Json) -> Json:
    """A collection's definition: properties and indexes without data or server-set fields."""
    out = {k: v for k, v in entry.items() if k not in DATA_KEYS}
    props = out.get("properties")
    if isinstance(props, dict):
        props = {k: v for k, v in props.items() if k not in COLLECTION_SERVER_FIELDS}
        if isinstance(props.get("keyOptions"), dict):
            props["keyOptions"] = {k: v for k, v in props["keyOptions"].items() if k != "lastValue"}
        out["properties"] = props
    if isinstance(out.get("indexes"), list):
        out["indexes"] = [
            {k: v for k, v in ix.items() if k not in INDEX_SERVER_FIELDS}
            if isinstance(ix, dict)
            else ix
            for ix in out["indexes"]
        ]
    return out


# Section key -> the name shown for one such object; restore tears down and rebuilds each kind
# on a whole-database restore (spec/database.md).
OBJECT_KINDS = (
    ("views", "view"),
    ("analyzers", "analyzer"),
    ("graphs", "graph"),
    ("aql_functions", "AQL function"),
)


def _definitions(section: Json, key: str) -> dict[str, Any] | None:
    """Name -> comparable definition of one kind of object; None when the section does not
    say (older snapshots have no ``aql_functions``: restore leaves those alone)."""
    items = section.get(key)
    if items is None:
        return None
    if not items:
        return {}
    # objects.py talks to servers (python-arango): loaded only when there is something to
    # compare, so that diff and the CLI start without it.
    from snapstore.sources.arangodb import objects

    prefix = f"{section.get('database', '')}::"
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        if key == "views":
            body: Any = objects.view_create_body(item, prefix)
            name = item.get("name")
        elif key == "analyzers":
            body, name = objects.analyzer_create_body(item), item.get("name")
        elif key == "graphs":
            body = objects.graph_create_body(item)
            name = body["name"]
        else:
            body = {k: item.get(k) for k in ("code", "isDeterministic")}
            name = item.get("name")
        out[str(name)] = body
    return out


def live_objects(conn: Any) -> Json:
    """The live database's views, analyzers, graphs and AQL functions, in a section's shape
    (empty when the database does not exist), for ``object_changes``. ``conn``: a
    ``connection.Connection``."""
    from snapstore.sources.arangodb import objects

    out: Json = {"database": conn.name}
    exists = conn.probe()
    out["views"] = objects.read_views(conn) if exists else []
    out["analyzers"] = objects.read_analyzers(conn) if exists else []
    out["graphs"] = objects.read_graphs(conn) if exists else []
    out["aql_functions"] = objects.read_aql_functions(conn) if exists else []
    return out


def object_changes(before: Json, after: Json) -> list[tuple[str, str, str]]:
    """(kind, name, change) for every view, analyzer, graph and AQL function added, removed
    or changed from ``before`` to ``after``, in kind then name order."""
    out: list[tuple[str, str, str]] = []
    for key, kind in OBJECT_KINDS:
        a, b = _definitions(before, key), _definitions(after, key)
        if a is None or b is None:
            continue
        for name in sorted(a.keys() | b.keys()):
            if name not in a:
                out.append((kind, name, "added"))
            elif name not in b:
                out.append((kind, name, "removed"))
            elif a[name] != b[name]:
                out.append((kind, name, "changed"))
    return out


def data_id(entry: Json) -> object:
    """Equal for two entries exactly when their documents are the same chunks."""
    if "root" in entry:
        root = entry.get("root")
        return None if root is None else bytes(root)
    return [bytes(c) for c in entry.get("chunks", ())]


def key_diff(store: ChunkStore, name: str, a: Json, b: Json) -> KeyDiff | None:
    """The keys added, removed and changed from entry ``a`` to entry ``b``; None when the
    documents cannot be decoded."""
    try:
        docs_a, docs_b = differing_documents(store, a, b, name)
    except (CorruptData, ValueError, KeyError, TypeError):
        return None
    return KeyDiff(
        added=sorted(docs_b.keys() - docs_a.keys()),
        removed=sorted(docs_a.keys() - docs_b.keys()),
        changed=sorted(k for k in docs_a.keys() & docs_b.keys() if docs_a[k] != docs_b[k]),
    )


def differing_documents(
    store: ChunkStore, sa: Json, sb: Json, name: str
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """``_key`` -> digest of the documents in the leaves the two trees do NOT share.

    Both document trees (spec/database.md) are expanded from the top, highest level first,
    and any chunk id present on both sides is dropped before it is read: shared subtrees hold
    the same documents, so only the differing leaves are ever read. A key cannot be both in a
    shared leaf and in a differing one, so comparing the differing leaves gives the exact
    added / removed / changed keys.
    """
    where = f"collection {name}"
    a = _frontier(sa)
    b = _frontier(sb)
    while True:
        common = a.keys() & b.keys()
        for cid in common:
            del a[cid], b[cid]
        top = max([lvl for lvl in (*a.values(), *b.values())], default=0)
        if top == 0:
            break
        for side in (a, b):
            for cid, level in [(c, lvl) for c, lvl in side.items() if lvl == top]:
                del side[cid]
                for e in read_node(store, cid, level, where):
                    side[e.child] = level - 1
    return _leaf_docs(store, a), _leaf_docs(store, b)


def _frontier(entry: Json) -> dict[bytes, int]:
    if "root" in entry:
        root = entry.get("root")
        return {} if root is None else {bytes(root): int(entry.get("height", 0))}
    return {bytes(c): 0 for c in entry.get("chunks", ())}


def _leaf_docs(store: ChunkStore, leaves: dict[bytes, int]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for cid in leaves:
        for line in store.read(cid).splitlines():
            if line.strip():
                out[str(json.loads(line)["_key"])] = chunk_id(line)
    return out


def tree_chunks(section: Json, store: ChunkStore, snapshot: str = "?") -> Iterator[TreeChunk]:
    """Every chunk of every collection's document tree, parents before children; nodes are
    read (and verified) to find their children (CorruptData names the collection)."""
    for name, entry in (section.get("collections") or {}).items():
        root = entry.get("root")
        if root is None:
            continue
        where = f"snapshot {snapshot}: collection {name}"
        for cid, level in iter_tree(store, bytes(root), int(entry.get("height", 0)), where):
            yield TreeChunk(cid, level, name)
