"""``ArangoSource``: the database source over one configured ArangoDB database."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from snapstore.base.reporting import Reporter
from snapstore.config.settings import ArangoSettings
from snapstore.sources.arangodb.compare import live_objects, object_changes
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.dump import Dumper
from snapstore.sources.arangodb.restore import Restorer, drop_collections
from snapstore.sources.arangodb.restore_plan import plan
from snapstore.sources.database import DatabaseCapture, DatabaseRestorePlan
from snapstore.store.chunkstore import ChunkStore

__all__ = ["ArangoSource"]


class ArangoSource:
    """One configured database (``target_db`` overrides the database name for restores)."""

    def __init__(
        self, settings: ArangoSettings, reporter: Reporter, target_db: str | None = None
    ) -> None:
        self.settings = replace(settings, database=target_db) if target_db else settings
        self.reporter = reporter
        self._conn: Connection | None = None
        self.last_stats: dict[str, Any] = {}

    @property
    def database(self) -> str:
        return self.settings.database

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = Connection(self.settings)
        return self._conn

    def connect(self) -> None:
        """Check server, credentials and database now (before anything is written)."""
        self._connection().require_database()

    def database_exists(self) -> bool:
        return self._connection().probe()

    def capture(
        self,
        store: ChunkStore,
        reporter: Reporter,
        parent: dict[str, Any] | None = None,
        no_parent: str = "no earlier snapshot of this database",
    ) -> DatabaseCapture:
        """Dump the database; documents whose ``_rev`` equals ``parent``'s (an earlier
        snapshot's database section) are taken from it (spec/database.md, *Incremental
        dump*). ``no_parent`` says why there is none (logged per collection)."""
        capture = Dumper(
            self._connection(), store, reporter, parent=parent, no_parent=no_parent
        ).run()
        self.last_stats = dict(capture.section.get("dump_stats", {}))
        return capture

    def plan_restore(
        self,
        section: dict[str, Any],
        collections: list[str] | None = None,
        compare: bool = False,
        store: ChunkStore | None = None,
    ) -> DatabaseRestorePlan:
        out = plan(self._connection(), section, collections, compare, store)
        if compare and collections is None:  # only a whole-database restore rebuilds them
            live = live_objects(self._connection())
            out.objects = object_changes(live, section)
        return out

    def restore(
        self,
        store: ChunkStore,
        section: dict[str, Any],
        reporter: Reporter,
        collections: list[str] | None = None,
        verify: bool = False,
    ) -> dict[str, Any]:
        """Restore ``section``; ``verify`` reads every document back (default: keys and
        revisions, see snapstore/sources/arangodb/verify.py)."""
        report = Restorer(
            self._connection(), store, section, reporter, collections, full_verify=verify
        ).run()
        self.last_stats = report
        return report

    def drop_collections(self, names: list[str]) -> None:
        drop_collections(self._connection(), names)

    def drop_database(self) -> None:
        conn = self._connection()
        conn.call(
            "delete", f"/_api/database/{q(conn.name)}", what="dropping the database", db=conn.system
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
