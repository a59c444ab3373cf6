"""Dump one database into the chunk store: the manifest's ``database`` section.

All collections are read inside one read-only stream transaction, so the snapshot never mixes
states. Each collection is read with one streamed AQL cursor (``FOR d IN @@c RETURN d``, every
batch fetched with the transaction header so the transaction stays alive), its documents are
sorted by ``_key`` bytes on our side (the server's order does not matter), and cut into the
key-anchored chunk tree of ``docchunks``. When an earlier snapshot of the same database can
serve a collection, only its ``(_key, _rev)`` listing and the changed documents are read
(``incremental``; spec/database.md, *Incremental dump*). When one transaction cannot cover
the dump (a cluster, or the transaction expired), each collection gets a transaction of its
own and the section records that. Metadata (properties, indexes, views, analyzers, graphs) is not
transactional on the server: it is read inside the dump and compared at the end.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from arango.exceptions import ArangoServerError

from snapstore.base.errors import DatabaseError
from snapstore.base.reporting import Reporter
from snapstore.sources.arangodb import objects
from snapstore.sources.arangodb.batches import BatchReader
from snapstore.sources.arangodb.connection import (
    ERR_CURSOR_NOT_FOUND,
    ERR_DATA_SOURCE_NOT_FOUND,
    ERR_TRX_ABORTED,
    ERR_TRX_NOT_FOUND,
    Connection,
    ServerAnswer,
    ServerInfo,
    describe,
    q,
)
from snapstore.sources.arangodb.docchunks import (
    DEFAULT_PARAMS,
    LINE_FORMAT,
    Checksum,
    ChunkingParams,
    TreeBuilder,
    TreeResult,
    canonical,
    line_rev,
)
from snapstore.sources.arangodb.incremental import (
    Fetch,
    KeyOrder,
    Merge,
    ParentUnusable,
    Vanished,
    parent_groups,
)
from snapstore.sources.arangodb.sorting import DuplicateKey, KeySorter
from snapstore.sources.database import DatabaseCapture
from snapstore.store.chunkstore import ChunkStore

SECTION_FORMAT = 1
READ_QUERY = "FOR d IN @@c RETURN d"
SORTED_QUERY = "FOR d IN @@c SORT d._key RETURN d"
LISTING_QUERY = "FOR d IN @@c SORT d._key RETURN [d._key, d._rev]"
FETCH_QUERY = "FOR d IN @@c FILTER d._key IN @keys RETURN d"
LISTING_BATCH = 10_000
BATCH_SIZE = 1000
CURSOR_TTL = 120  # seconds between fetches before the server drops the cursor
KEEPALIVE_SECONDS = 10.0  # touch the transaction this often while we are busy with chunks
BEGIN_ATTEMPTS = 3
# Collection properties that name one particular collection: when they differ from the
# parent's, it was dropped and created again (or is another server's): read it in full.
IDENTITY_FIELDS = ("globallyUniqueId", "objectId", "id")

log = logging.getLogger(__name__)


class TransactionLost(Exception):
    """The stream transaction expired or was aborted by the server."""


def _trx_lost(e: ServerAnswer) -> bool:
    return e.error_num in (ERR_TRX_NOT_FOUND, ERR_TRX_ABORTED) or e.status == 410


@dataclass
class _Read:
    """The stream transaction collections are read in (python-arango adds its id header)."""

    db: Any  # python-arango TransactionDatabase
    trx_id: str
    last_touch: float = field(default_factory=time.monotonic)
    lost: str | None = None  # why the transaction ended early (noticed by a keep-alive)
    busy: bool = False  # a cursor read is using it: no keep-alive requests in parallel


@dataclass
class _Consistency:
    """How the collections are read: all in one transaction (``read``, while it lasts), or
    each in its own (``mode`` and ``reason`` go into the section)."""

    mode: str = "transaction"
    reason: str | None = None
    read: _Read | None = None


class Dumper:
    def __init__(
        self,
        conn: Connection,
        store: ChunkStore,
        reporter: Reporter,
        params: ChunkingParams = DEFAULT_PARAMS,
        sort_memory: int = 256 * 1024 * 1024,
        parent: dict[str, Any] | None = None,
        no_parent: str = "no earlier snapshot of this database",
    ) -> None:
        self.conn = conn
        # The database section of the snapshot to read incrementally against (None: read
        # every document; spec/database.md, *Incremental dump*).
        self.parent = parent
        self.no_parent = no_parent
        self.incremental: dict[str, Any] = {"collections": 0, "fetched": 0, "reused_leaves": 0}
        self.store = store
        self.reporter = reporter
        self.params = params
        self.sort_memory = sort_memory
        self.warnings: list[str] = []
        self.current = "the collection list"
        self.read_retries = 0  # batches fetched again after a dropped connection

    # -- transactions -------------------------------------------------------------------------

    def _begin(self, names: list[str]) -> _Read:
        try:
            trx = self.conn.db.begin_transaction(read=names, allow_implicit=False)
        except ArangoServerError as e:
            raise ServerAnswer(
                e.http_code or 0,
                e.error_code,
                e.error_message or str(e),
                "starting the read transaction",
            ) from None
        return _Read(trx, trx.transaction_id)

    def _end(self, read: _Read | None) -> None:
        if read is None:
            return
        # Read-only: nothing to commit. Expired or unreachable: the server forgets it anyway.
        with contextlib.suppress(Exception):
            read.db.abort_transaction()

    def _touch(self, read: _Read, name: str) -> None:
        """Keep the transaction from expiring while we work without asking the server."""
        now = time.monotonic()
        if read.busy or read.lost or now - read.last_touch < KEEPALIVE_SECONDS:
            return
        read.last_touch = now
        try:
            self._count(read, name)
        except TransactionLost as e:
            # This collection is already read; only the ones after it need another plan.
            read.lost = str(e)

    def _count(self, read: _Read, name: str) -> int:
        try:
            body = self.conn.call(
                "get",
                f"/_api/collection/{q(name)}/count",
                what=f"counting collection {name}",
                db=read.db,
            )
        except ServerAnswer as e:
            if _trx_lost(e):
                raise TransactionLost(str(e)) from None
            raise
        return int(body["count"])

    # -- the dump -----------------------------------------------------------------------------

    def run(self) -> DatabaseCapture:
        started = time.perf_counter()
        server_before = self.conn.timings.server_seconds
        try:
            return self._run(started, server_before)
        except DatabaseError:
            raise
        except Exception as e:
            if isinstance(e, ServerAnswer | DuplicateKey) or _is_transport(e):
                raise DatabaseError(
                    f"dump of database {self.conn.name!r} failed while reading {self.current}: "
                    f"{describe(e, self.conn.url)}; no snapshot was published"
                ) from None
            raise

    def _run(self, started: float, server_before: float) -> DatabaseCapture:
        conn = self.conn
        conn.require_database()
        info = conn.server_info()
        db_props = conn.call("get", "/_api/database/current", what="reading the database")
        db_props = db_props.get("result", {})
        self._parent_ok = self._parent_usable(db_props)

        how = _Consistency()
        if info.cluster:
            how.mode, how.reason = "per-collection", "cluster: no snapshot spans all DB-Servers"
        names = self._list_and_begin(how)

        collections: dict[str, dict[str, Any]] = {}
        meta_before: dict[str, tuple[Any, Any]] = {}
        try:
            for name in names:
                entry = self._read_collection(name, how, meta_before)
                if entry is not None:
                    collections[name] = entry
        finally:
            self._end(how.read)
        return self._section(
            info, db_props, how, names, collections, meta_before, started, server_before
        )

    def _list_and_begin(self, how: _Consistency) -> list[str]:
        """The collections to dump; in transaction mode, with the read transaction over all of
        them begun (in ``how.read``)."""
        names: list[str] = []
        for attempt in range(BEGIN_ATTEMPTS):
            names = objects.list_collections(self.conn)
            if how.mode != "transaction" or not names:
                break
            try:
                how.read = self._begin(names)
                break
            except ServerAnswer as e:
                # A collection dropped between listing and begin: list again.
                if e.error_num != ERR_DATA_SOURCE_NOT_FOUND or attempt == BEGIN_ATTEMPTS - 1:
                    raise
        return names

    def _read_collection(
        self, name: str, how: _Consistency, meta_before: dict[str, tuple[Any, Any]]
    ) -> dict[str, Any] | None:
        """The collection's section entry, its metadata in ``meta_before``; None when it was
        dropped since the listing (``_compare_metadata`` reports it)."""
        self.current = f"collection {name}"
        try:
            props = objects.read_properties(self.conn, name)
            indexes = objects.read_indexes(self.conn, name)
        except ServerAnswer as e:
            if e.error_num != ERR_DATA_SOURCE_NOT_FOUND:
                raise
            return None
        meta_before[name] = (
            objects.comparable_properties(props),
            objects.comparable_indexes(indexes),
        )
        entry = None if how.read is None else self._dump_shared(name, props, how.read, how)
        if entry is None:
            entry = self._dump_own(name, props)
            if entry is None:
                return None
        entry["properties"] = props
        entry["indexes"] = indexes
        return entry

    def _dump_shared(
        self, name: str, props: dict[str, Any], read: _Read, how: _Consistency
    ) -> dict[str, Any] | None:
        """Dump the collection in ``read``, the transaction over all of them; None when that
        transaction expired (then ended, and ``how`` says the dump is consistent per collection
        only)."""
        entry: dict[str, Any] | None = None
        lost: str | None = None
        try:
            entry = self._dump_collection(name, props, read)
            lost = read.lost
        except TransactionLost as e:
            lost = str(e)
        if lost is not None:
            self._end(read)
            how.read = None
            how.mode = "per-collection"
            how.reason = f"the stream transaction expired at collection {name} ({lost})"
            self.reporter.warn(f"database snapshot is consistent per collection only: {how.reason}")
        return entry

    def _dump_own(self, name: str, props: dict[str, Any]) -> dict[str, Any] | None:
        """Dump the collection in a transaction of its own; None when it was dropped."""
        try:
            own = self._begin([name])
        except ServerAnswer as e:
            if e.error_num != ERR_DATA_SOURCE_NOT_FOUND:
                raise
            return None
        try:
            return self._dump_collection(name, props, own)
        except TransactionLost as e:
            raise DatabaseError(
                f"dump of database {self.conn.name!r}: the read transaction for "
                f"collection {name} expired ({e}); no snapshot was published"
            ) from None
        finally:
            self._end(own)

    def _section(
        self,
        info: ServerInfo,
        db_props: dict[str, Any],
        how: _Consistency,
        names: list[str],
        collections: dict[str, dict[str, Any]],
        meta_before: dict[str, tuple[Any, Any]],
        started: float,
        server_before: float,
    ) -> DatabaseCapture:
        """Read the database-wide metadata, warn about DDL during the dump, and build the
        manifest's ``database`` section."""
        conn = self.conn
        self.current = "views, analyzers, graphs and AQL functions"
        views = objects.read_views(conn)
        analyzers = objects.read_analyzers(conn)
        graphs = objects.read_graphs(conn)
        functions = objects.read_aql_functions(conn)
        index_lists = [c["indexes"] for c in collections.values()]
        system_analyzers = objects.read_system_analyzers(conn, [views, index_lists])
        self._compare_metadata(names, meta_before)

        elapsed = time.perf_counter() - started
        server = conn.timings.server_seconds - server_before
        size = sum(c["bytes"] for c in collections.values())
        counts = {name: c["count"] for name, c in collections.items()}
        section: dict[str, Any] = {
            "format": SECTION_FORMAT,
            "database": conn.name,
            "server": {"version": info.version, "role": info.role},
            "properties": db_props,
            "consistency": {"mode": how.mode, "reason": how.reason},
            "chunking": self.params.to_map(),
            "line_format": LINE_FORMAT,
            "collections": collections,
            "views": views,
            "analyzers": analyzers,
            "system_analyzers": system_analyzers,
            "graphs": graphs,
            "options": objects.database_options(db_props),
            "aql_functions": functions,
            "size_bytes": size,
            "warnings": list(self.warnings),
            "dump_stats": {
                "documents": sum(counts.values()),
                "seconds": round(elapsed, 3),
                "server_seconds": round(server, 3),
                "requests": conn.timings.requests,
                "batch_retries": self.read_retries,
                "incremental": dict(self.incremental),
            },
        }
        # Metadata is the server's JSON; msgpack holds 64-bit integers only (spec: big_integers).
        section, big = objects.pack_big_ints(section)
        if big:
            section["big_integers"] = big
        return DatabaseCapture(section=section, collections=counts, size_bytes=size)

    def _compare_metadata(self, names: list[str], before: dict[str, tuple[Any, Any]]) -> None:
        """Warn about DDL during the dump (the transaction does not cover metadata)."""
        now = objects.list_collections(self.conn)
        added = sorted(set(now) - set(names))
        if added:
            self.warnings.append(
                f"collections created during the dump are not in the snapshot: {', '.join(added)}"
            )
        for name in names:
            if name not in before:
                self.warnings.append(
                    f"collection {name} was dropped during the dump and is not in the snapshot"
                )
                continue
            if name not in now:
                self.warnings.append(
                    f"collection {name} was dropped during the dump (the snapshot has it as read)"
                )
                continue
            after = (
                objects.comparable_properties(objects.read_properties(self.conn, name)),
                objects.comparable_indexes(objects.read_indexes(self.conn, name)),
            )
            if after != before[name]:
                self.warnings.append(
                    f"the properties or indexes of collection {name} changed during the dump"
                )
        for w in self.warnings:
            self.reporter.warn(w)

    def _dump_collection(self, name: str, props: dict[str, Any], read: _Read) -> dict[str, Any]:
        """Read one collection in ``read``'s transaction and store its tree of chunks."""
        expected = self._count(read, name)
        built: tuple[TreeBuilder, TreeResult, Checksum] | None = None
        parent, why = self._parent_entry(name, props)
        if parent is None:
            log.info("collection %s: full read: %s", name, why)
        for attempt in (1, 2):
            try:
                if parent is not None:
                    built = self._read_incremental(name, read, expected, parent)
                    if built is None:
                        parent = None
                if built is None:
                    built = self._read_in_key_order(name, read, expected)
                if built is None:  # the server's order is not ours: sort on our side
                    built = self._read_and_sort(name, read, expected)
                break
            except ServerAnswer as e:
                if _trx_lost(e):
                    raise TransactionLost(str(e)) from None
                # The cursor expired under us (a very slow client): read again, same snapshot.
                if e.error_num != ERR_CURSOR_NOT_FOUND or attempt == 2:
                    raise
            except DuplicateKey as e:
                raise DatabaseError(
                    f"collection {name}: the server returned document {e.key.decode()!r} "
                    "twice; no snapshot was published"
                ) from None
        assert built is not None
        builder, result, checksum = built
        count = builder.stats.docs
        if count != expected:
            raise DatabaseError(
                f"collection {name}: read {count} documents but the transaction counts "
                f"{expected}; no snapshot was published"
            )
        return {
            "type": props.get("type"),
            "count": count,
            "bytes": builder.stats.bytes,
            "checksum": checksum.hexdigest(),
            "root": result.root,
            "height": result.height,
            "leaves": result.stats.leaves,
            "nodes": result.stats.nodes,
        }

    def _reader(
        self,
        name: str,
        read: _Read,
        query: str,
        batch_size: int = BATCH_SIZE,
        lock: threading.Lock | None = None,
    ) -> BatchReader:
        return BatchReader(
            self.conn,
            query,
            {"@c": name},
            f"reading collection {name}",
            db=read.db,  # the transaction header goes on every fetch: it keeps it alive
            batch_size=batch_size,
            ttl=CURSOR_TTL,
            lock=lock,
        )

    # -- incremental reads --------------------------------------------------------------------

    def _parent_usable(self, db_props: dict[str, Any]) -> str | None:
        """None when the parent section can serve this dump, else why not."""
        p = self.parent
        if p is None:
            return self.no_parent
        if p.get("database") != self.conn.name:
            return f"the earlier snapshot is of database {p.get('database')!r}"
        their = (p.get("properties") or {}).get("id")
        if their is None or their != db_props.get("id"):
            return "the database was created again since the earlier snapshot (its id differs)"
        if p.get("chunking") != self.params.to_map():
            return "the earlier snapshot was chunked with other parameters"
        if int(p.get("line_format", 1)) != LINE_FORMAT:
            return "the earlier snapshot writes document lines in another format"
        if p.get("big_integers"):
            return "the earlier snapshot's section holds big integers"
        return None

    def _parent_entry(self, name: str, props: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """The parent's entry for collection ``name`` if it can serve, else (None, why)."""
        if self._parent_ok is not None:
            return None, self._parent_ok
        assert self.parent is not None
        entry = (self.parent.get("collections") or {}).get(name)
        if entry is None:
            return None, "not in the earlier snapshot"
        theirs = entry.get("properties") or {}
        for f in IDENTITY_FIELDS:
            if theirs.get(f) != props.get(f):
                return None, f"created again since the earlier snapshot ({f} differs)"
        if entry.get("root") is None:
            return None, "empty in the earlier snapshot"
        return entry, ""

    def _fetcher(self, name: str, read: _Read, lock: threading.Lock) -> Fetch:
        """Fetch documents by key in ``read``'s transaction, never beside another request
        on it (``lock`` is the listing cursor's)."""

        def fetch(keys: list[str]) -> list[dict[str, Any]]:
            with lock:
                body = self.conn.call(
                    "post",
                    "/_api/cursor",
                    what=f"reading changed documents of collection {name}",
                    db=read.db,
                    fast=True,
                    data={
                        "query": FETCH_QUERY,
                        "bindVars": {"@c": name, "keys": keys},
                        "batchSize": len(keys) + 1,
                        "ttl": CURSOR_TTL,
                    },
                )
                docs: list[dict[str, Any]] = list(body.get("result") or [])
                while body.get("hasMore"):
                    body = self.conn.call(
                        "post",
                        f"/_api/cursor/{q(str(body['id']))}",
                        what=f"reading changed documents of collection {name}",
                        db=read.db,
                        fast=True,
                    )
                    docs.extend(body.get("result") or [])
            return docs

        return fetch

    def _read_incremental(
        self, name: str, read: _Read, expected: int, parent: dict[str, Any]
    ) -> tuple[TreeBuilder, TreeResult, Checksum] | None:
        """List ``(_key, _rev)`` and merge with the parent's tree; None: read in full."""
        where = f"collection {name} of the earlier snapshot"
        checksum = Checksum.of(str(parent["checksum"]), int(parent.get("count", 0)))
        builder = TreeBuilder(self.store, self.params, checksum=checksum)
        lock = threading.Lock()
        merge = Merge(
            self.store,
            builder,
            parent_groups(self.store, parent, where),
            self._fetcher(name, read, lock),
            checksum,
            where,
        )
        self.reporter.start(f"Listing {name}", expected)
        read.busy = True
        why: str | None = None
        try:
            with self._reader(name, read, LISTING_QUERY, LISTING_BATCH, lock) as reader:

                def pairs() -> Iterator[tuple[str, str]]:
                    for batch in reader:  # rows are [_key, _rev]
                        yield from cast(list[tuple[str, str]], batch)
                        self.reporter.advance(len(batch))

                merge.run(pairs())
                self.read_retries += reader.retries
            result = builder.finish()
        except ParentUnusable as e:
            why = f"the earlier snapshot cannot serve it ({e})"
        except KeyOrder:
            why = "the server's key order is not byte order"
        except Vanished as e:
            why = f"document {e} changed while it was read"
        finally:
            read.busy = False
            read.last_touch = time.monotonic()
            self.reporter.finish()
        if why is not None:
            log.info("collection %s: full read: %s", name, why)
            return None
        log.info(
            "collection %s: incremental: %d leaves kept, %d read, %d documents fetched",
            name,
            merge.stats.reused_leaves,
            merge.stats.read_leaves,
            merge.stats.fetched,
        )
        self.incremental["collections"] += 1
        self.incremental["fetched"] += merge.stats.fetched
        self.incremental["reused_leaves"] += merge.stats.reused_leaves
        return builder, result, checksum

    def _read_in_key_order(
        self, name: str, read: _Read, expected: int
    ) -> tuple[TreeBuilder, TreeResult, Checksum] | None:
        """Build the tree while the documents stream in, if they come in key byte order.

        ``SORT d._key`` is served by the primary index without sorting (facts: the
        optimizer rule use-index-for-sort), in the index's byte order on a single server.
        The first key out of that order (a Coordinator merging shards by collation, say)
        ends this attempt: None, and the chunks stored so far are left to gc.
        """
        checksum = Checksum()
        builder = TreeBuilder(self.store, self.params, checksum=checksum)
        last = b""
        self.reporter.start(f"Dumping {name}", expected)
        read.busy = True  # the reader's fetches keep the transaction alive, nobody else may
        try:
            with self._reader(name, read, SORTED_QUERY) as reader:
                first = True
                for batch in reader:
                    for doc in batch:
                        key = doc["_key"].encode("utf-8")
                        if key <= last and not first:
                            if key == last:
                                raise DuplicateKey(key)
                            self.reporter.info(
                                f"collection {name}: the server's key order is not byte "
                                "order; sorting on our side"
                            )
                            return None
                        first = False
                        rev = doc.get("_rev", "")
                        builder.add(key, canonical(doc), rev)
                        last = key
                    self.reporter.advance(len(batch))
                self.read_retries += reader.retries
        finally:
            read.busy = False
            read.last_touch = time.monotonic()
            self.reporter.finish()
        return builder, builder.finish(), checksum

    def _read_and_sort(
        self, name: str, read: _Read, expected: int
    ) -> tuple[TreeBuilder, TreeResult, Checksum]:
        """Read in the server's order, sort by key bytes here (bounded memory), then build."""
        sorter = KeySorter(self.sort_memory)
        checksum = Checksum()
        self.reporter.start(f"Dumping {name}", expected)
        read.busy = True
        try:
            with self._reader(name, read, READ_QUERY) as reader:
                for batch in reader:
                    for doc in batch:
                        key = doc["_key"].encode("utf-8")
                        line = canonical(doc)
                        checksum.add(line)
                        sorter.add(key, line)
                    self.reporter.advance(len(batch))
                self.read_retries += reader.retries
        except BaseException:
            sorter.close()
            raise
        finally:
            read.busy = False
            read.last_touch = time.monotonic()
            self.reporter.finish()
        builder = TreeBuilder(self.store, self.params, on_chunk=lambda: self._touch(read, name))
        for key, line in sorter.sorted():
            builder.add(key, line, line_rev(line, f"collection {name}"))
        if sorter.spilled_runs:
            self.reporter.info(f"collection {name}: sorted on disk ({sorter.spilled_runs} runs)")
        return builder, builder.finish(), checksum


def _is_transport(e: BaseException) -> bool:
    from snapstore.sources.arangodb.connection import is_network_error

    return is_network_error(e)
