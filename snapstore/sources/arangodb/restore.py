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
``verify``, ``target`` (what the server can take), ``progress`` (what was done so far),
``restore_plan`` (the checks made first, and ``--dry-run``), ``restore_decide`` (which live
collections are merged instead of reloaded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from snapstore.base.errors import DatabaseError, DatabaseRestoreStopped, InvalidInput
from snapstore.base.reporting import Reporter
from snapstore.sources.arangodb import build, objects, restore_decide, teardown
from snapstore.sources.arangodb.connection import (
    Connection,
    ServerAnswer,
    describe,
    is_network_error,
    q,
)
from snapstore.sources.arangodb.progress import Progress
from snapstore.sources.arangodb.restore_decide import Decision
from snapstore.sources.arangodb.restore_merge import Difference
from snapstore.sources.arangodb.restore_plan import check_section, preflight, selected, unpacked
from snapstore.sources.arangodb.restore_writes import DifferenceWriter
from snapstore.sources.arangodb.target import Target
from snapstore.sources.arangodb.verify import RevisionSet, Verifier
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]


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


def drop_collections(conn: Connection, names: list[str]) -> None:
    """Drop collections a failed restore created (404: already gone)."""
    for name in names:
        try:
            conn.call("delete", f"/_api/collection/{q(name)}", what=f"dropping {name}")
        except ServerAnswer as e:
            if e.status != 404:
                raise


@dataclass
class _Scene:
    """What the restore found before changing anything, and what it decided."""

    target: Target
    exists: bool
    live: list[str]
    in_place: dict[str, str]
    leader_of: dict[str, str]
    decisions: dict[str, Decision]
    live_last: dict[str, int | None]  # reloaded collections' live keyOptions.lastValue
    live_views: list[Json]
    merged: dict[str, Difference] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.merged = {
            n: d.difference for n, d in self.decisions.items() if d.difference is not None
        }

    @property
    def reloaded(self) -> list[str]:
        return sorted(n for n in self.decisions if n not in self.merged)


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
        self.section = unpacked(section)
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
        s = self._survey()
        self._tear_down(s)
        sent = self._fill(s)
        counts = self._build_rest(s)
        verified = Verifier(self.conn, self.store, self.section, self.progress).run(
            self.names, sent, self.full_verify
        )
        # TTL indexes last: the server's TTL thread would delete expired documents while
        # the verification reads them (spec/database.md, Restore). A merged collection has
        # none (restore_decide: it is reloaded instead).
        counts["indexes"] += sum(
            build.create_indexes(self.conn, self.progress, n, self._entry(n), self.prefix, True)
            for n in self._rebuilt(s)
        )
        return self._report(s, counts, verified)

    def _entry(self, name: str) -> Json:
        entry: Json = self.section["collections"][name]
        return entry

    def _rebuilt(self, s: _Scene) -> list[str]:
        return [n for n in self.names if n not in s.merged]

    def _survey(self) -> _Scene:
        """Check, create the database if missing, and decide (no change to what exists)."""
        conn, p = self.conn, self.progress
        p.at("checking the database")
        target = Target.read(conn)
        exists = conn.probe()
        live = objects.list_collections(conn) if exists else []
        in_place = preflight(conn, target, self.section, self.names, live, self.only is None)
        if not exists:
            build.create_database(conn, p, target, self.section)
        replaced = sorted(set(live) & set(self.names))
        leader_of = teardown.leaders(conn, target, live)
        # Which live collections are merged (only their difference written, indexes kept)
        # and which are reloaded: decided, and the differences listed, before any change.
        p.at("comparing the live collections with the snapshot")
        decisions = restore_decide.decide_all(conn, self.store, self.section, replaced, leader_of)
        reloaded = [n for n in replaced if decisions[n].difference is None]
        # Read before the drop: a reloaded collection is created with the higher lastValue.
        live_last = {
            n: restore_decide.last_value(objects.read_properties(conn, n)) for n in reloaded
        }
        views = objects.read_views(conn) if exists else []
        return _Scene(target, exists, live, in_place, leader_of, decisions, live_last, views)

    def _tear_down(self, s: _Scene) -> None:
        conn, p = self.conn, self.progress
        functions = self.section.get("aql_functions")  # None: an older snapshot, leave them
        if self.only is None:
            teardown.drop_views(conn, p, s.live_views)
            teardown.drop_graphs(conn, p)
            for name in teardown.drop_order([n for n in s.live if n not in s.merged], s.leader_of):
                teardown.drop_collection(conn, p, name)
            if functions is not None:
                teardown.delete_functions(conn, p, functions)
        else:
            for name in teardown.drop_order(s.reloaded, s.leader_of):
                if name in s.in_place:
                    teardown.clear_in_place(conn, p, name, self._entry(name)["properties"])
                else:
                    teardown.drop_collection(conn, p, name)
        build.ensure_analyzers(conn, p, self.section, self.names, self.only is None)

    def _fill(self, s: _Scene) -> dict[str, RevisionSet | None]:
        """Create the collections not merged, then load them or write the differences;
        returns what the verification compares each with (None: the tree's digests)."""
        conn, p, coll = self.conn, self.progress, self.section["collections"]
        for name in build.creation_order(self._rebuilt(s), coll):
            if name not in s.in_place:
                props = keep_last_value(coll[name]["properties"], s.live_last.get(name))
                build.create_collection(conn, p, s.target, name, props)
        loader = build.Loader(conn, self.store, self.reporter)
        writer = DifferenceWriter(conn, self.store, self.reporter)
        sent: dict[str, RevisionSet | None] = {}
        for name in self.names:
            diff = s.merged.get(name)
            if diff is None:
                sent[name] = loader.load(p, name, coll[name])
            else:
                writer.write(p, name, coll[name], diff)
                sent[name] = diff.expected
            p.loaded.append(name)
        return sent

    def _build_rest(self, s: _Scene) -> dict[str, int]:
        """Indexes (not TTL), late properties, views, graphs and functions."""
        conn, p = self.conn, self.progress
        rebuilt = self._rebuilt(s)
        out = {"indexes": 0, "views": 0, "graphs": 0}
        for n in rebuilt:
            out["indexes"] += build.create_indexes(conn, p, n, self._entry(n), self.prefix, False)
        for name in rebuilt:
            build.set_late_properties(conn, p, name, self._entry(name)["properties"])
        functions = self.section.get("aql_functions")
        if self.only is None:
            views = self.section.get("views") or []
            out["views"] = build.create_views(conn, p, views, self.prefix)
            graphs = self.section.get("graphs") or []
            out["graphs"] = build.create_graphs(conn, p, s.target, graphs)
            if functions is not None:
                build.create_functions(conn, p, functions)
        else:
            build.reattach_views(conn, p, s.live_views, set(rebuilt))
        return out

    def _report(self, s: _Scene, counts: dict[str, int], verified: Json) -> Json:
        full = self.only is None
        functions = self.section.get("aql_functions")
        return {
            "database": self.conn.name,
            "created_database": not s.exists,
            "dropped": sorted(set(s.live) - set(self.names)) if full else [],
            "replaced": sorted(s.decisions),
            "rebuilt_in_place": sorted(n for n in s.in_place if n not in s.merged),
            "created": sorted(set(self.names) - set(s.live)),
            "merged": {
                n: {"removed": d.removed, "inserted": d.inserted, "replaced": d.replaced}
                for n, d in sorted(s.merged.items())
            },
            "reloaded": {n: s.decisions[n].reason for n in s.reloaded},
            "documents": sum(int(self._entry(n)["count"]) for n in self.names),
            **counts,
            "analyzers": len(self.section.get("analyzers") or []),
            "aql_functions": len(functions or []) if full else 0,
            "collections": verified,
            "verified": True,
            "warnings": self.progress.warnings,
        }
