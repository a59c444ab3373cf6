"""Build what a restore brings back: database, analyzers, collections, documents, indexes,
schema and computed values, views, graphs and user AQL functions.

Documents go in as ``POST /_api/document/<c>?isRestore=true&overwriteMode=replace&silent=true``
batches of the leaves' lines, joined without parsing a document (keys and revisions kept, no
schema validation, nothing computed; spec/database.md). Up to ``LOAD_THREADS`` batches of a
collection are in flight at once, so the server parses one while we read and join the next
(arangorestore runs several threads too: client-tools/Restore/RestoreFeature.cpp, ``--threads``).
While loading, the keys and revisions of the lines sent are collected for the verification
(snapstore/sources/arangodb/verify.py).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from snapstore.base.reporting import Reporter
from snapstore.sources.arangodb import objects
from snapstore.sources.arangodb.connection import Connection, ServerAnswer, q
from snapstore.sources.arangodb.doctree import iter_leaves
from snapstore.sources.arangodb.document_writes import put_restored
from snapstore.sources.arangodb.progress import Progress
from snapstore.sources.arangodb.target import Target
from snapstore.sources.arangodb.verify import RevisionSet
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
BATCH_BYTES = 4 * 1024 * 1024
BATCH_DOCS = 10_000
LOAD_THREADS = 3


def root_of(entry: Json) -> bytes | None:
    root = entry.get("root")
    return None if root is None else bytes(root)


def create_database(conn: Connection, progress: Progress, target: Target, section: Json) -> None:
    """Create the database with the snapshot's options (sharding, replication, write
    concern), as arangorestore's ``tryCreateDatabase`` does."""
    progress.at(f"creating database {conn.name}", changes=True)
    saved = section.get("options")
    if saved is None:  # older snapshots: the same keys of the database properties
        saved = objects.database_options(section.get("properties") or {})
    body: Json = {"name": conn.name}
    options = target.database_options(saved)
    if options:
        body["options"] = options
    conn.call("post", "/_api/database", what="creating the database", data=body, db=conn.system)


def creation_order(names: list[str], coll: Json) -> list[str]:
    """Sharding prototypes (``distributeShardsLike``) before the collections that follow them."""
    first = [n for n in names if not coll[n]["properties"].get("distributeShardsLike")]
    return first + [n for n in names if n not in first]


def create_collection(
    conn: Connection, progress: Progress, target: Target, name: str, props: Json
) -> None:
    progress.at(f"creating collection {name}", changes=True)
    body, changes = target.collection_body(name, props)
    if changes:
        progress.warnings.append(
            f"collection {name}: {', '.join(changes)} (the {target.role.lower()} "
            f"{'Enterprise' if target.enterprise else 'Community'} server cannot take them)"
        )
    conn.call(
        "post",
        "/_api/collection",
        # The snapshot's replication factor may exceed this cluster's DB-Servers; restoring
        # must not fail on it (RestCollectionHandler.cpp reads the parameter; the server's
        # restore endpoint hardcodes false: RestReplicationHandler.cpp).
        params={"enforceReplicationFactor": False},
        what=f"creating collection {name}",
        data=body,
    )
    progress.created.append(name)


class Loader:
    """Sends a collection's documents, a few batches at a time."""

    def __init__(self, conn: Connection, store: ChunkStore, reporter: Reporter) -> None:
        self.conn = conn
        self.store = store
        self.reporter = reporter

    def _batches(self, name: str, entry: Json, sent: RevisionSet) -> Any:
        where = f"collection {name}"
        lines: list[bytes] = []
        size = 0
        leaves = iter_leaves(self.store, root_of(entry), int(entry.get("height", 0)), where)
        # Ranged reads of neighbouring leaves, batched index lookups, verification on the
        # store's workers (store/reader.py): not one lookup and one pack read per leaf.
        for data in self.store.read_many(leaves):
            # Leaves are whole lines: join them without parsing a single document.
            parts = data[:-1].split(b"\n")
            sent.add_lines(parts)
            lines.extend(parts)
            size += len(data)
            if size >= BATCH_BYTES or len(lines) >= BATCH_DOCS:
                yield _array(lines), len(lines)
                lines, size = [], 0
        if lines:
            yield _array(lines), len(lines)

    def _send(self, name: str, body: str) -> None:
        put_restored(self.conn, name, body, f"loading documents into {name}", "loaded")

    def load(self, progress: Progress, name: str, entry: Json) -> RevisionSet:
        """Send the documents; returns the keys and revisions sent (for the verification)."""
        progress.at(f"loading documents into collection {name}")
        progress.partial = name
        self.reporter.start(f"Restoring {name}", int(entry.get("count", 0)))
        sent = RevisionSet()
        pool = ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix=f"load-{name}"[:15])
        pending: deque[tuple[Future[None], int]] = deque()
        try:
            for body, n in self._batches(name, entry, sent):
                if len(pending) >= LOAD_THREADS:
                    self._settle(pending.popleft())
                pending.append((pool.submit(self._send, name, body), n))
            while pending:
                self._settle(pending.popleft())
        finally:
            # On a failure or Ctrl-C, batches in flight may still land: the caller's
            # rollback knows (snapstore/ops/database_restore.py).
            pool.shutdown(wait=False, cancel_futures=True)
            self.reporter.finish()
        progress.partial = None
        return sent

    def _settle(self, item: tuple[Future[None], int]) -> None:
        future, n = item
        future.result()
        self.reporter.advance(n)


def _array(lines: list[bytes]) -> str:
    # python-arango sends a str body as it is (anything else it serializes again).
    return (b"[" + b",".join(lines) + b"]").decode("utf-8")


def create_indexes(
    conn: Connection, progress: Progress, name: str, entry: Json, prefix: str, ttl: bool
) -> int:
    """Create the collection's indexes except primary/edge: TTL ones (``ttl``) or the others.

    TTL indexes come last, after the verification: the server's TTL thread removes expired
    documents as soon as index and data exist (docs: indexes-and-search/indexing/
    working-with-indexes/ttl-indexes, ``--ttl.frequency``)."""
    made = 0
    # Inverted indexes first: search-alias views name them (created later anyway).
    defs = sorted(entry.get("indexes") or [], key=lambda i: i.get("type") != "inverted")
    for index in defs:
        if (index.get("type") == "ttl") != ttl:
            continue
        body = objects.index_create_body(index, prefix)
        if body is None:
            continue
        progress.at(f"creating index {body.get('name', body.get('type'))} on {name}")
        conn.call(
            "post",
            "/_api/index",
            params={"collection": name},
            what=f"creating an index on {name}",
            data=body,
        )
        made += 1
        if ttl:
            progress.warnings.append(ttl_warning(name, body))
    return made


def ttl_warning(collection: str, index: Json) -> str:
    """What a restored TTL index will remove. ArangoDB counts a document as expired
    ``expireAfter`` seconds after the point in time its indexed attribute holds, so 0 means
    "at that time" (docs: indexes-and-search/indexing/working-with-indexes/ttl-indexes)."""
    fields = index.get("fields") or ["?"]
    field = ".".join(str(f) for f in fields[:1])
    after = index.get("expireAfter")
    ago = "has passed" if not after else f"is more than {after} s ago"
    return (
        f"collection {collection} has a TTL index: on its next run the server removes every "
        f"restored document whose `{field}` attribute holds a time that {ago}"
    )


def set_late_properties(conn: Connection, progress: Progress, name: str, props: Json) -> None:
    late = objects.collection_late_body(props)
    if late:
        progress.at(f"setting the schema and computed values of collection {name}")
        conn.call(
            "put",
            f"/_api/collection/{q(name)}/properties",
            what=f"setting properties of {name}",
            data=late,
        )


def create_views(conn: Connection, progress: Progress, views: list[Json], prefix: str) -> int:
    for view in views:
        progress.at(f"creating view {view['name']}")
        body = objects.view_create_body(view, prefix)
        conn.call("post", "/_api/view", what=f"creating view {view['name']}", data=body)
    return len(views)


def create_graphs(conn: Connection, progress: Progress, target: Target, graphs: list[Json]) -> int:
    for graph in graphs:
        body = target.graph_body(graph)
        progress.at(f"creating graph {body['name']}")
        conn.call("post", "/_api/gharial", what=f"creating graph {body['name']}", data=body)
    return len(graphs)


def create_functions(conn: Connection, progress: Progress, functions: list[Json]) -> int:
    """Register the snapshot's user AQL functions (POST replaces one of the same name)."""
    live = {str(f.get("name")).lower(): f for f in objects.read_aql_functions(conn)}
    made = 0
    for function in functions:
        if live.get(str(function.get("name")).lower()) == function:
            continue
        progress.at(f"registering AQL function {function.get('name')}", changes=True)
        conn.call(
            "post",
            "/_api/aqlfunction",
            what=f"registering AQL function {function.get('name')}",
            data=function,
        )
        made += 1
    return made


def ensure_analyzers(
    conn: Connection, progress: Progress, section: Json, names: list[str], full: bool
) -> None:
    """Create the snapshot's analyzers; in a full restore delete other or changed ones."""
    prefix = f"{section.get('database', '')}::"
    wanted = {a["name"]: objects.analyzer_create_body(a) for a in section.get("analyzers") or []}
    if not full:  # only what the restored collections' indexes use
        used = objects.strings_in(
            [
                objects.short_analyzer_names(section["collections"][n].get("indexes"), prefix)
                for n in names
            ]
        )
        wanted = {name: body for name, body in wanted.items() if name in used}
    live = {a["name"]: objects.analyzer_create_body(a) for a in objects.read_analyzers(conn)}
    for name, body in live.items():
        if full and wanted.get(name) != body:
            progress.at(f"deleting analyzer {name}", changes=True)
            try:
                conn.call("delete", f"/_api/analyzer/{q(name)}", what="deleting an analyzer")
            except ServerAnswer as e:
                if e.status != 404:
                    raise
    for name, body in wanted.items():
        if live.get(name) == body:
            continue
        if not full and name in live:
            progress.warnings.append(
                f"analyzer {name} differs from the snapshot's; kept the live one"
            )
            continue
        progress.at(f"creating analyzer {name}", changes=True)
        conn.call("post", "/_api/analyzer", what=f"creating analyzer {name}", data=body)


def reattach_views(
    conn: Connection, progress: Progress, before: list[Json], restored: set[str]
) -> None:
    """Put back the links of live views to the collections we dropped and re-created."""
    for view in before:
        touched = objects.view_collections(view) & restored
        if not touched:
            continue
        name = view["name"]
        progress.at(f"re-linking view {name}")
        now = conn.call("get", f"/_api/view/{q(name)}/properties", what=f"reading view {name}")
        if view.get("type") == "search-alias":
            have = {(i.get("collection"), i.get("index")) for i in now.get("indexes") or []}
            add = [
                {"collection": i["collection"], "index": i["index"], "operation": "add"}
                for i in view.get("indexes") or []
                if i.get("collection") in touched and (i["collection"], i["index"]) not in have
            ]
            patch: Json = {"indexes": add} if add else {}
        else:
            links = now.get("links") or {}
            patch = {"links": {c: view["links"][c] for c in touched if c not in links}}
            if not patch["links"]:
                patch = {}
        if patch:
            conn.call(
                "patch",
                f"/_api/view/{q(name)}/properties",
                what=f"re-linking view {name}",
                data=patch,
            )
