"""``ArangoSource``: the database source over one configured ArangoDB database."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from snapstore.reporting import Reporter
from snapstore.settings import ArangoSettings
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.dump import Dumper
from snapstore.sources.arangodb.restore import Restorer, drop_collections, plan
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

    def capture(self, store: ChunkStore, reporter: Reporter) -> DatabaseCapture:
        capture = Dumper(self._connection(), store, reporter).run()
        self.last_stats = dict(capture.section.get("dump_stats", {}))
        return capture

    def plan_restore(
        self,
        section: dict[str, Any],
        collections: list[str] | None = None,
        compare: bool = False,
        store: ChunkStore | None = None,
    ) -> DatabaseRestorePlan:
        return plan(self._connection(), section, collections, compare, store)

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
