"""Restore a dumped database: make the live database equal to the snapshot, then prove it.

Order (spec/database.md, *Restore*): check first what could only fail late (vector indexes on
a server without the feature; collections that must be rebuilt in place but cannot be), so
that such a restore fails before anything is changed; create the database if missing (with
the snapshot's options); tear down views, graphs, collections (followers first), analyzers
and AQL functions the snapshot does not have; build analyzers, collections (prototypes
first, made to fit the target), documents, indexes except TTL, schema and computed values,
views, graphs, AQL functions; verify; create the TTL indexes last.

With ``collections`` only those collections are replaced; nothing else is touched, except
that view links to them, which the server removes with the collection, are put back. A
collection the server will not drop (it belongs to a named graph, or other collections are
distributed like it) is emptied and rebuilt in place. Modules: ``teardown``, ``build``,
``verify``, ``target`` (what the server can take), ``progress`` (what was done so far).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from snapstore.errors import DatabaseError, DatabaseRestoreStopped, InvalidInput
from snapstore.reporting import Reporter
from snapstore.sources.arangodb import build, objects, restore_decide, teardown
from snapstore.sources.arangodb.connection import (
    Connection,
    ServerAnswer,
    describe,
    is_network_error,
    q,
)
from snapstore.sources.arangodb.dump import SECTION_FORMAT
from snapstore.sources.arangodb.progress import Progress
from snapstore.sources.arangodb.restore_writes import DifferenceWriter
from snapstore.sources.arangodb.target import Target, require_vector_support
from snapstore.sources.arangodb.verify import RevisionSet, Verifier, live_checksum
from snapstore.sources.database import CollectionWrites, DatabaseRestorePlan
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]


def check_section(section: Json) -> None:
    fmt = section.get("format")
    if not isinstance(fmt, int) or fmt > SECTION_FORMAT:
        raise DatabaseError(
            f"the snapshot's database section has format {fmt!r}; this snapstore reads "
            f"format {SECTION_FORMAT}: upgrade snapstore"
        )


def selected(section: Json, collections: list[str] | None) -> list[str]:
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


def _unpacked(section: Json) -> Json:
    if section.get("big_integers"):
        unpacked: Json = objects.unpack_big_ints(copy.deepcopy(section), section["big_integers"])
        return unpacked
    return section


def preflight(
    conn: Connection, target: Target, section: Json, wanted: list[str], live: list[str], full: bool
) -> dict[str, str]:
    """Refuse now what would fail only after the teardown; returns the collections to
    rebuild in place (name -> why they cannot be dropped)."""
    require_vector_support(conn, target, section, wanted)
    if full:
        return {}
    replaced = sorted(set(live) & set(wanted))
    leader_of = teardown.leaders(conn, target, live)
    in_place = teardown.undroppable(conn, replaced, live, leader_of)
    problems = teardown.in_place_problems(conn, target, section, in_place)
    if problems:
        raise DatabaseError(
            "; ".join(problems) + ": restore the whole database instead, or delete the graph "
            "(or the followers) first; nothing was changed"
        )
    return in_place


def plan(
    conn: Connection,
    section: Json,
    collections: list[str] | None,
    compare: bool = False,
    store: ChunkStore | None = None,
) -> DatabaseRestorePlan:
    """What a restore would do; with ``compare`` also which live collections already equal
    the snapshot, and with ``store`` what it will write into each (the same listing and merge
    the restore makes, spec/database.md *Restore by difference*)."""
    check_section(section)
    wanted = selected(section, collections)
    exists = conn.probe()
    live = objects.list_collections(conn) if exists else []
    section = _unpacked(section)
    target = Target.read(conn)
    if exists:
        preflight(conn, target, section, wanted, live, collections is None)
    else:
        require_vector_support(conn, target, section, wanted)
    drop = [] if collections is not None else sorted(set(live) - set(wanted))
    out = DatabaseRestorePlan(drop=drop, create=sorted(set(wanted) - set(live)))
    kept = sorted(set(live) & set(wanted))
    if compare and store is not None:
        decisions = restore_decide.decide_all(
            conn, store, section, kept, teardown.leaders(conn, target, live)
        )
        for name in kept:
            d = decisions[name]
            if d.difference is not None and not d.difference.writes:
                out.same.append(name)
            else:
                out.replace.append(name)
        out.writes = _writes(conn, section, out, decisions)
        return out
    for name in kept:
        if compare and equals_snapshot(conn, section, name):
            out.same.append(name)
        else:
            out.replace.append(name)
    return out


def _writes(
    conn: Connection,
    section: Json,
    plan: DatabaseRestorePlan,
    decisions: dict[str, restore_decide.Decision],
) -> list[CollectionWrites]:
    coll = section["collections"]
    out = [CollectionWrites(n, "drop", removed=_count(conn, n)) for n in plan.drop]
    out += [CollectionWrites(n, "create", inserted=int(coll[n]["count"])) for n in plan.create]
    for name, d in sorted(decisions.items()):
        if d.difference is not None:
            diff = d.difference
            out.append(
                CollectionWrites(
                    name,
                    restore_decide.MERGE,
                    removed=diff.removed,
                    inserted=diff.inserted,
                    replaced=diff.replaced,
                )
            )
        else:
            out.append(
                CollectionWrites(
                    name,
                    restore_decide.RELOAD,
                    d.reason,
                    removed=_count(conn, name),
                    inserted=int(coll[name]["count"]),
                )
            )
    return sorted(out, key=lambda w: w.name)


def _count(conn: Connection, name: str) -> int:
    body = conn.call("get", f"/_api/collection/{q(name)}/count", what=f"counting {name}")
    return int(body.get("count", 0))


def keep_last_value(props: Json, live: int | None) -> Json:
    """The snapshot's properties for re-creating a live collection, with the live
    ``keyOptions.lastValue`` where it is higher: key generators never go backwards, so keys
    the live collection handed out after the snapshot are not handed out again."""
    snap = restore_decide.last_value(props)
    if live is None or snap is None or live <= snap:
        return props
    out = dict(props)
    out["keyOptions"] = {**props["keyOptions"], "lastValue": live}
    return out


def equals_snapshot(conn: Connection, section: Json, name: str) -> bool:
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
    expected: object = entry.get("checksum")
    return checksum == expected


def drop_collections(conn: Connection, names: list[str]) -> None:
    """Drop collections a failed restore created (404: already gone)."""
    for name in names:
        try:
            conn.call("delete", f"/_api/collection/{q(name)}", what=f"dropping {name}")
        except ServerAnswer as e:
            if e.status != 404:
                raise


class Restorer:
    """One restore of a snapshot's database section (``full_verify``: read every document
    back instead of keys and revisions)."""

    def __init__(
        self,
        conn: Connection,
        store: ChunkStore,
        section: Json,
        reporter: Reporter,
        collections: list[str] | None = None,
        full_verify: bool = False,
    ) -> None:
        check_section(section)
        self.conn = conn
        self.store = store
        self.section = _unpacked(section)
        self.reporter = reporter
        self.only = collections
        self.full_verify = full_verify
        self.names = selected(section, collections)
        self.progress = Progress(wanted=list(self.names))
        self.prefix = f"{section.get('database', '')}::"

    def run(self) -> Json:
        started = time.perf_counter()
        server_before = self.conn.timings.server_seconds
        try:
            report = self._run()
        except KeyboardInterrupt:
            raise self._stopped("was interrupted", interrupted=True) from None
        except (DatabaseError, InvalidInput) as e:
            if not self.progress.changed:
                raise
            raise self._stopped(f"failed: {e}") from None
        except Exception as e:
            if not isinstance(e, ServerAnswer) and not is_network_error(e):
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

    def _run(self) -> Json:
        conn, p, coll = self.conn, self.progress, self.section["collections"]
        full = self.only is None
        p.at("checking the database")
        target = Target.read(conn)
        exists = conn.probe()
        live = objects.list_collections(conn) if exists else []
        in_place = preflight(conn, target, self.section, self.names, live, full)
        if not exists:
            build.create_database(conn, p, target, self.section)
        dropped = sorted(set(live) - set(self.names)) if full else []
        replaced = sorted(set(live) & set(self.names))
        created = sorted(set(self.names) - set(live))
        leader_of = teardown.leaders(conn, target, live)
        # Which live collections are merged (only their difference written, indexes kept)
        # and which are reloaded: decided, and the differences listed, before any change.
        p.at("comparing the live collections with the snapshot")
        decisions = restore_decide.decide_all(conn, self.store, self.section, replaced, leader_of)
        merged = {n: d.difference for n, d in decisions.items() if d.difference is not None}
        reloaded = [n for n in replaced if n not in merged]
        # Read before the drop: a reloaded collection is created with the higher lastValue.
        live_last = {
            n: restore_decide.last_value(objects.read_properties(conn, n)) for n in reloaded
        }

        # -- tear down
        live_views = objects.read_views(conn) if exists else []
        functions = self.section.get("aql_functions")  # None: an older snapshot, leave them
        if full:
            teardown.drop_views(conn, p, live_views)
            teardown.drop_graphs(conn, p)
            for name in teardown.drop_order([n for n in live if n not in merged], leader_of):
                teardown.drop_collection(conn, p, name)
            if functions is not None:
                teardown.delete_functions(conn, p, functions)
        else:
            for name in teardown.drop_order(reloaded, leader_of):
                if name in in_place:
                    teardown.clear_in_place(conn, p, name, coll[name]["properties"])
                else:
                    teardown.drop_collection(conn, p, name)
        build.ensure_analyzers(conn, p, self.section, self.names, full)

        # -- build
        rebuilt = [n for n in self.names if n not in merged]
        for name in build.creation_order(rebuilt, coll):
            if name not in in_place:
                props = keep_last_value(coll[name]["properties"], live_last.get(name))
                build.create_collection(conn, p, target, name, props)
        loader = build.Loader(conn, self.store, self.reporter)
        writer = DifferenceWriter(conn, self.store, self.reporter)
        sent: dict[str, RevisionSet | None] = {}
        for name in self.names:
            diff = merged.get(name)
            if diff is None:
                sent[name] = loader.load(p, name, coll[name])
            else:
                writer.write(p, name, coll[name], diff)
                sent[name] = diff.expected
            p.loaded.append(name)
        indexes = sum(
            build.create_indexes(conn, p, n, coll[n], self.prefix, ttl=False) for n in rebuilt
        )
        for name in rebuilt:
            build.set_late_properties(conn, p, name, coll[name]["properties"])
        views = graphs = 0
        if full:
            views = build.create_views(conn, p, self.section.get("views") or [], self.prefix)
            graphs = build.create_graphs(conn, p, target, self.section.get("graphs") or [])
            if functions is not None:
                build.create_functions(conn, p, functions)
        else:
            build.reattach_views(conn, p, live_views, set(rebuilt))

        verified = Verifier(conn, self.store, self.section, p).run(
            self.names, sent, self.full_verify
        )
        # TTL indexes last: the server's TTL thread would delete expired documents while
        # the verification reads them (spec/database.md, Restore). A merged collection has
        # none (restore_merge: it is reloaded instead).
        indexes += sum(
            build.create_indexes(conn, p, n, coll[n], self.prefix, ttl=True) for n in rebuilt
        )
        return {
            "database": conn.name,
            "created_database": not exists,
            "dropped": dropped,
            "replaced": replaced,
            "rebuilt_in_place": sorted(n for n in in_place if n not in merged),
            "created": created,
            "merged": {
                n: {"removed": d.removed, "inserted": d.inserted, "replaced": d.replaced}
                for n, d in sorted(merged.items())
            },
            "reloaded": {n: decisions[n].reason for n in reloaded},
            "documents": sum(int(coll[n]["count"]) for n in self.names),
            "indexes": indexes,
            "views": views,
            "analyzers": len(self.section.get("analyzers") or []),
            "graphs": graphs,
            "aql_functions": len(functions or []) if full else 0,
            "collections": verified,
            "verified": True,
            "warnings": p.warnings,
        }
