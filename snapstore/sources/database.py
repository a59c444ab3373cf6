"""The contract between the manager and a database source (implemented by ``arangodb``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from snapstore.reporting import Reporter
from snapstore.store.chunkstore import ChunkStore


@dataclass
class DatabaseCapture:
    """A dumped database: the manifest's ``database`` section plus the seed's summary fields."""

    section: dict[str, Any]
    collections: dict[str, int]  # document count per collection
    size_bytes: int


@dataclass
class DatabaseRestorePlan:
    """What a restore would do to the live database (shown before confirmation)."""

    drop: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    create: list[str] = field(default_factory=list)


class DatabaseSource(Protocol):
    def connect(self) -> None:
        """Check server, credentials and database; raise DatabaseError with one clear line."""
        ...

    def database_exists(self) -> bool: ...

    def capture(self, store: ChunkStore, reporter: Reporter) -> DatabaseCapture: ...

    def plan_restore(
        self, section: dict[str, Any], collections: list[str] | None = None
    ) -> DatabaseRestorePlan: ...

    def restore(
        self,
        store: ChunkStore,
        section: dict[str, Any],
        reporter: Reporter,
        collections: list[str] | None = None,
    ) -> dict[str, Any]: ...
