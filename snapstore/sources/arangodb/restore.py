"""Restore a dumped database: make the live database equal to the snapshot, then prove it.

Order (facts sheet 4.10): tear down views, graphs, collections, then analyzers the snapshot
does not have; build analyzers, collections (saved properties incl. ``keyOptions.lastValue``,
without schema and computed values), documents (``isRestore=true``: keys and revisions kept,
no validation, nothing computed), indexes, then schema and computed values, views, graphs.
Afterwards every restored collection is counted and read back, and its content checksum is
compared with the snapshot's.

With ``collections`` only those collections are dropped and rebuilt; nothing else is touched,
except that view links to them, which the server removes with the collection, are put back.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from snapstore.errors import DatabaseError, DatabaseRestoreStopped, InvalidInput
from snapstore.reporting import Reporter
from snapstore.sources.arangodb import objects
from snapstore.sources.arangodb.connection import Connection, ServerAnswer, describe, q
from snapstore.sources.arangodb.docchunks import (
    Checksum,
    canonical,
    canonical_for,
    iter_leaf_data,
    iter_lines,
)
from snapstore.sources.arangodb.dump import READ_QUERY, SECTION_FORMAT
from snapstore.sources.database import DatabaseRestorePlan
from snapstore.store.chunkstore import ChunkStore

BATCH_BYTES = 4 * 1024 * 1024
BATCH_DOCS = 10_000


@dataclass
class _Progress:
    """What has been done so far, for the error message if the restore stops half-way."""

    step: str = "starting"
    changed: bool = False  # anything dropped, created or written yet
    dropped: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    partial: str | None = None

    wanted: list[str] = field(default_factory=list)  # the snapshot collections restored

    def incomplete(self) -> list[str]:
        """Snapshot collections the restore left dropped, empty or partly loaded."""
        touched = (set(self.dropped) | set(self.created)) & set(self.wanted)
        return sorted(touched - set(self.loaded))

    def summary(self) -> str:
        if not self.changed:
            return "the database was not changed"
        parts = []
        if self.loaded:
            parts.append(f"fully loaded: {', '.join(self.loaded)}")
        if self.partial:
            parts.append(f"partly loaded: {self.partial}")
        left = self.incomplete()
        if left:
            parts.append(f"incomplete: {', '.join(left)}")
        gone = sorted(set(self.dropped) - set(self.wanted))
        if gone:
            parts.append(f"dropped (not in the snapshot): {', '.join(gone)}")
        return "; ".join(parts) if parts else "the database was changed"


def check_section(section: dict[str, Any]) -> None:
    fmt = section.get("format")
    if not isinstance(fmt, int) or fmt > SECTION_FORMAT:
        raise DatabaseError(
            f"the snapshot's database section has format {fmt!r}; this snapstore reads "
            f"format {SECTION_FORMAT}: upgrade snapstore"
        )


def selected(section: dict[str, Any], collections: list[str] | None) -> list[str]:
    """The snapshot collections to restore (all, or the requested ones, which must exist)."""
    names = sorted(section.get("collections") or {})
    if collections is None:
        return names
    missing = [c for c in collections if c not in names]
    if missing:
        raise InvalidInput(
            f"collection {missing[0]!r} is not in the snapshot (it has: "
            f"{', '.join(names) or 'no collections'})"
        )
    return sorted(set(collections))


def plan(
    conn: Connection, section: dict[str, Any], collections: list[str] | None, compare: bool = False
) -> DatabaseRestorePlan:
    check_section(section)
    wanted = selected(section, collections)
    live = objects.list_collections(conn) if conn.probe() else []
    drop = [] if collections is not None else sorted(set(live) - set(wanted))
    out = DatabaseRestorePlan(drop=drop, create=sorted(set(wanted) - set(live)))
    if section.get("big_integers"):
        section = objects.unpack_big_ints(copy.deepcopy(section), section["big_integers"])
    for name in sorted(set(live) & set(wanted)):
        if compare and equals_snapshot(conn, section, name):
            out.same.append(name)
        else:
            out.replace.append(name)
    return out


def equals_snapshot(conn: Connection, section: dict[str, Any], name: str) -> bool:
    """Whether live collection ``name`` holds what the snapshot's entry holds: the same
    definition (properties and indexes, minus what the server assigns: ids, object ids,
    ``lastValue``, figures) and the same documents (count, then content checksum, ``_rev``
    included). Cheap differences are checked first; documents are read only when the
    definition and the count agree."""
    entry = section["collections"][name]
    props = objects.read_properties(conn, name)
    if objects.comparable_properties(props) != objects.comparable_properties(
        entry.get("properties") or {}
    ):
        return False
    indexes = objects.read_indexes(conn, name)
    if objects.comparable_indexes(indexes) != objects.comparable_indexes(
        entry.get("indexes") or []
    ):
        return False
    body = conn.call("get", f"/_api/collection/{q(name)}/count", what=f"counting {name}")
    if int(body.get("count", -1)) != int(entry["count"]):
        return False
    _, checksum = live_checksum(conn, section, name, keep_rev=True)
    return checksum == entry.get("checksum")


def live_checksum(
    conn: Connection, section: dict[str, Any], name: str, keep_rev: bool
) -> tuple[int, str]:
    """Count and content checksum of a live collection, each document re-encoded in the
    snapshot's line format (``keep_rev=False``: without ``_rev``, in the plain format)."""
    checksum = Checksum()
    body = conn.call(
        "post",
        "/_api/cursor",
        what=f"reading back collection {name}",
        data={
            "query": READ_QUERY,
            "bindVars": {"@c": name},
            "batchSize": 1000,
            "ttl": 120,
            "options": {"stream": True},
        },
    )
    encode = canonical_for(section) if keep_rev else canonical
    while True:
        for doc in body.get("result") or []:
            if not keep_rev:
                doc.pop("_rev", None)
            checksum.add(encode(doc))
        if not body.get("hasMore"):
            break
        body = conn.call("post", f"/_api/cursor/{q(str(body['id']))}", what=f"reading back {name}")
    return checksum.count, checksum.hexdigest()


def drop_collections(conn: Connection, names: list[str]) -> None:
    """Drop collections a failed restore created (404: already gone)."""
    for name in names:
        try:
            conn.call("delete", f"/_api/collection/{q(name)}", what=f"dropping {name}")
        except ServerAnswer as e:
            if e.status != 404:
                raise


class Restorer:
    def __init__(
        self,
        conn: Connection,
        store: ChunkStore,
        section: dict[str, Any],
        reporter: Reporter,
        collections: list[str] | None = None,
    ) -> None:
        check_section(section)
        self.conn = conn
        self.store = store
        if section.get("big_integers"):
            section = objects.unpack_big_ints(copy.deepcopy(section), section["big_integers"])
        self.section = section
        self.reporter = reporter
        self.only = collections
        self.names = selected(section, collections)
        self.progress = _Progress(wanted=list(self.names))
        self.warnings: list[str] = []
        self.prefix = f"{section.get('database', '')}::"

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        server_before = self.conn.timings.server_seconds
        try:
            report = self._run()
        except KeyboardInterrupt:
            raise self._stopped("was interrupted", interrupted=True) from None
        except (DatabaseError, InvalidInput) as e:
            if self.progress.step == "starting":
                raise
            raise self._stopped(f"failed: {e}") from None
        except Exception as e:
            if not isinstance(e, ServerAnswer) and not _transport(e):
                raise
            raise self._stopped(f"failed: {describe(e, self.conn.url)}") from None
        report["seconds"] = round(time.perf_counter() - started, 3)
        report["server_seconds"] = round(self.conn.timings.server_seconds - server_before, 3)
        return report

    def _stopped(self, what: str, *, interrupted: bool = False) -> DatabaseRestoreStopped:
        p = self.progress
        return DatabaseRestoreStopped(
            f"restore into database {self.conn.name!r} {what} (while {p.step}); {p.summary()}",
            reason=what,
            step=p.step,
            changed=p.changed,
            incomplete=p.incomplete(),
            interrupted=interrupted,
            summary=p.summary(),
        )

    # -- steps --------------------------------------------------------------------------------

    def _step(self, text: str, *, changes: bool = False) -> None:
        self.progress.step = text
        if changes:
            self.progress.changed = True

    def _run(self) -> dict[str, Any]:
        conn = self.conn
        coll = self.section["collections"]
        created_db = False
        self._step("checking the database")
        if not conn.probe():
            self._step(f"creating database {conn.name}", changes=True)
            conn.call(
                "post",
                "/_api/database",
                what="creating the database",
                data={"name": conn.name},
                db=conn.system,
            )
            created_db = True
        live = objects.list_collections(conn)
        full = self.only is None
        dropped = sorted(set(live) - set(self.names)) if full else []
        replaced = sorted(set(live) & set(self.names))
        created = sorted(set(self.names) - set(live))

        live_views = objects.read_views(conn)
        if full:
            self._teardown(live, live_views)
        else:
            for name in replaced:
                self._step(f"dropping collection {name}", changes=True)
                self._drop_collection(name)
        self._ensure_analyzers(full)

        for name in _creation_order(self.names, coll):
            self._step(f"creating collection {name}", changes=True)
            body = objects.collection_create_body(name, coll[name]["properties"])
            conn.call("post", "/_api/collection", what=f"creating collection {name}", data=body)
            self.progress.created.append(name)
        total = 0
        for name in self.names:
            total += self._load(name, coll[name])
            self.progress.loaded.append(name)
        indexes = 0
        for name in self.names:
            indexes += self._indexes(name, coll[name])
        for name in self.names:
            late = objects.collection_late_body(coll[name]["properties"])
            if late:
                self._step(f"setting the schema and computed values of collection {name}")
                conn.call(
                    "put",
                    f"/_api/collection/{q(name)}/properties",
                    what=f"setting properties of {name}",
                    data=late,
                )
        views = graphs = 0
        if full:
            views = self._create_views()
            graphs = self._create_graphs()
        else:
            self._reattach_views(live_views)

        verified = self._verify()
        return {
            "database": conn.name,
            "created_database": created_db,
            "dropped": dropped,
            "replaced": replaced,
            "created": created,
            "documents": total,
            "indexes": indexes,
            "views": views,
            "analyzers": len(self.section.get("analyzers") or []),
            "graphs": graphs,
            "collections": verified,
            "verified": True,
            "warnings": self.warnings,
        }

    def _drop_collection(self, name: str) -> None:
        try:
            self.conn.call("delete", f"/_api/collection/{q(name)}", what=f"dropping {name}")
        except ServerAnswer as e:
            if e.status != 404:
                raise
        self.progress.dropped.append(name)

    def _teardown(self, live: list[str], live_views: list[dict[str, Any]]) -> None:
        conn = self.conn
        for view in live_views:
            self._step(f"dropping view {view['name']}", changes=True)
            try:
                conn.call("delete", f"/_api/view/{q(view['name'])}", what="dropping a view")
            except ServerAnswer as e:
                if e.status != 404:
                    raise
        for graph in objects.read_graphs(conn):
            name = str(graph.get("name") or graph.get("_key"))
            self._step(f"dropping graph {name}", changes=True)
            try:
                conn.call(
                    "delete",
                    f"/_api/gharial/{q(name)}",
                    params={"dropCollections": False},
                    what="dropping a graph",
                )
            except ServerAnswer as e:
                if e.status != 404:
                    raise
        for name in live:
            self._step(f"dropping collection {name}", changes=True)
            self._drop_collection(name)

    def _ensure_analyzers(self, full: bool) -> None:
        """Create the snapshot's analyzers; in a full restore delete other or changed ones."""
        conn = self.conn
        wanted = {
            a["name"]: objects.analyzer_create_body(a) for a in self.section.get("analyzers") or []
        }
        if not full:  # only what the restored collections' indexes use
            used = _strings(
                [
                    objects.short_analyzer_names(
                        self.section["collections"][n].get("indexes"), self.prefix
                    )
                    for n in self.names
                ]
            )
            wanted = {name: body for name, body in wanted.items() if name in used}
        live = {a["name"]: objects.analyzer_create_body(a) for a in objects.read_analyzers(conn)}
        for name, body in live.items():
            if full and wanted.get(name) != body:
                self._step(f"deleting analyzer {name}", changes=True)
                try:
                    conn.call("delete", f"/_api/analyzer/{q(name)}", what="deleting an analyzer")
                except ServerAnswer as e:
                    if e.status != 404:
                        raise
        for name, body in wanted.items():
            if live.get(name) == body:
                continue
            if not full and name in live:
                self.warnings.append(
                    f"analyzer {name} differs from the snapshot's; kept the live one"
                )
                continue
            self._step(f"creating analyzer {name}", changes=True)
            conn.call("post", "/_api/analyzer", what=f"creating analyzer {name}", data=body)

    def _batches(self, name: str, entry: dict[str, Any]) -> Iterator[tuple[str, int]]:
        where = f"collection {name}"
        lines: list[bytes] = []
        size = 0
        for data in iter_leaf_data(self.store, _root(entry), int(entry.get("height", 0)), where):
            # Leaves are whole lines: join them without parsing a single document.
            parts = data[:-1].split(b"\n")
            lines.extend(parts)
            size += len(data)
            if size >= BATCH_BYTES or len(lines) >= BATCH_DOCS:
                yield "[" + b",".join(lines).decode("utf-8") + "]", len(lines)
                lines, size = [], 0
        if lines:
            yield "[" + b",".join(lines).decode("utf-8") + "]", len(lines)

    def _load(self, name: str, entry: dict[str, Any]) -> int:
        self._step(f"loading documents into collection {name}")
        self.progress.partial = name
        self.reporter.start(f"Restoring {name}", int(entry.get("count", 0)))
        done = 0
        try:
            for body, n in self._batches(name, entry):
                answer = self.conn.call(
                    "post",
                    f"/_api/document/{q(name)}",
                    what=f"loading documents into {name}",
                    params={
                        "isRestore": True,
                        "overwriteMode": "replace",
                        "silent": True,
                        "waitForSync": False,
                    },
                    data=body,
                )
                failures = (
                    [a for a in answer if isinstance(a, dict) and a.get("error")]
                    if isinstance(answer, list)
                    else []
                )
                if failures:
                    first = failures[0]
                    raise DatabaseError(
                        f"{len(failures)} document(s) of collection {name} were refused, the "
                        f"first with [ERR {first.get('errorNum')}] {first.get('errorMessage')}"
                    )
                done += n
                self.reporter.advance(n)
        finally:
            self.reporter.finish()
        self.progress.partial = None
        return done

    def _indexes(self, name: str, entry: dict[str, Any]) -> int:
        made = 0
        # Inverted indexes first: search-alias views name them (created later anyway).
        defs = sorted(entry.get("indexes") or [], key=lambda i: i.get("type") != "inverted")
        for index in defs:
            body = objects.index_create_body(index, self.prefix)
            if body is None:
                continue
            self._step(f"creating index {body.get('name', body.get('type'))} on {name}")
            self.conn.call(
                "post",
                "/_api/index",
                params={"collection": name},
                what=f"creating an index on {name}",
                data=body,
            )
            made += 1
            if body.get("type") == "ttl":
                self.warnings.append(
                    f"collection {name} has a TTL index: the server removes documents older "
                    f"than {body.get('expireAfter')} s from the restored data on its next run"
                )
        return made

    def _create_views(self) -> int:
        n = 0
        for view in self.section.get("views") or []:
            self._step(f"creating view {view['name']}")
            body = objects.view_create_body(view, self.prefix)
            self.conn.call("post", "/_api/view", what=f"creating view {view['name']}", data=body)
            n += 1
        return n

    def _create_graphs(self) -> int:
        n = 0
        for graph in self.section.get("graphs") or []:
            body = objects.graph_create_body(graph)
            self._step(f"creating graph {body['name']}")
            self.conn.call(
                "post", "/_api/gharial", what=f"creating graph {body['name']}", data=body
            )
            n += 1
        return n

    def _reattach_views(self, before: list[dict[str, Any]]) -> None:
        """Put back the links of live views to the collections we dropped and re-created."""
        restored = set(self.names)
        for view in before:
            touched = objects.view_collections(view) & restored
            if not touched:
                continue
            name = view["name"]
            self._step(f"re-linking view {name}")
            now = self.conn.call(
                "get", f"/_api/view/{q(name)}/properties", what=f"reading view {name}"
            )
            if view.get("type") == "search-alias":
                have = {(i.get("collection"), i.get("index")) for i in now.get("indexes") or []}
                add = [
                    {"collection": i["collection"], "index": i["index"], "operation": "add"}
                    for i in view.get("indexes") or []
                    if i.get("collection") in touched and (i["collection"], i["index"]) not in have
                ]
                patch: dict[str, Any] = {"indexes": add} if add else {}
            else:
                links = now.get("links") or {}
                patch = {"links": {c: view["links"][c] for c in touched if c not in links}}
                if not patch["links"]:
                    patch = {}
            if patch:
                self.conn.call(
                    "patch",
                    f"/_api/view/{q(name)}/properties",
                    what=f"re-linking view {name}",
                    data=patch,
                )

    # -- verification -------------------------------------------------------------------------

    def _verify(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        bad: list[str] = []
        coll = self.section["collections"]
        for name in self.names:
            entry = coll[name]
            self._step(f"verifying collection {name}")
            count, checksum = self._live_checksum(name, keep_rev=True)
            expected = int(entry["count"])
            ok = count == expected and checksum == entry.get("checksum")
            revisions = True
            if count == expected and not ok:
                # Same documents with other revisions? (a server that ignores isRestore)
                _, live_norev = self._live_checksum(name, keep_rev=False)
                snap = Checksum()
                where = f"collection {name}"
                for line in iter_lines(
                    self.store, _root(entry), int(entry.get("height", 0)), where
                ):
                    snap.add(_without_rev(line))
                if live_norev == snap.hexdigest():
                    ok, revisions = True, False
                    self.warnings.append(
                        f"collection {name}: the server did not keep the documents' revisions "
                        "(_rev); contents match"
                    )
            out[name] = {
                "expected_count": expected,
                "count": count,
                "checksum_ok": ok,
                "revisions_kept": revisions,
            }
            if not ok:
                bad.append(f"{name} ({count} documents, snapshot has {expected})")
        if bad:
            raise DatabaseError(
                "after the restore these collections differ from the snapshot: " + ", ".join(bad)
            )
        return out

    def _live_checksum(self, name: str, keep_rev: bool) -> tuple[int, str]:
        return live_checksum(self.conn, self.section, name, keep_rev)


def _strings(value: Any) -> set[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    return set()


def _without_rev(line: bytes) -> bytes:
    import json

    doc = json.loads(line)
    doc.pop("_rev", None)
    return canonical(doc)


def _root(entry: dict[str, Any]) -> bytes | None:
    root = entry.get("root")
    return None if root is None else bytes(root)


def _creation_order(names: list[str], coll: dict[str, Any]) -> list[str]:
    """Sharding prototypes (``distributeShardsLike``) before the collections that follow them."""
    first = [n for n in names if not coll[n]["properties"].get("distributeShardsLike")]
    return first + [n for n in names if n not in first]


def _transport(e: BaseException) -> bool:
    from snapstore.sources.arangodb.connection import is_network_error

    return is_network_error(e)
