"""The contract between the manager and a database source (implemented by ``arangodb``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from snapstore.base.reporting import Reporter
from snapstore.store.chunkstore import ChunkStore


@dataclass
class DatabaseCapture:
    """A dumped database: the manifest's ``database`` section plus the seed's summary fields."""

    section: dict[str, Any]
    collections: dict[str, int]  # document count per collection
    size_bytes: int


@dataclass(frozen=True)
class CollectionWrites:
    """What a restore writes into one collection (``restore --dry-run``, spec/database.md
    *Restore by difference*). ``path``: ``merge`` (kept, only the difference written: its
    indexes stay), ``reload`` (dropped and loaded again, ``reason`` says why), ``create``
    (not live) or ``drop`` (not in the snapshot). ``removed``/``inserted``/``replaced`` count
    documents: for a reload, every live document is removed and every snapshot one inserted."""

    name: str
    path: str
    reason: str = ""
    removed: int = 0
    inserted: int = 0
    replaced: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "reason": self.reason,
            "removed": self.removed,
            "inserted": self.inserted,
            "replaced": self.replaced,
        }


@dataclass
class DatabaseRestorePlan:
    """What a restore would do to the live database (shown before confirmation).

    ``replace`` holds the collections restore drops and rebuilds; when the plan was made
    with ``compare``, those whose definition and documents already equal the snapshot's are
    in ``same`` instead, and ``writes`` says per collection what the restore will write."""

    drop: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    create: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)
    # With ``compare`` on a whole-database restore: (kind, name, change) of every view,
    # analyzer, graph and AQL function restore adds, removes or changes (live -> snapshot).
    objects: list[tuple[str, str, str]] = field(default_factory=list)
    writes: list[CollectionWrites] = field(default_factory=list)


class DatabaseSource(Protocol):
    @property
    def database(self) -> str:
        """The name of the database this source reads and writes."""
        ...

    def connect(self) -> None:
        """Check server, credentials and database; raise DatabaseError with one clear line."""
        ...

    def database_exists(self) -> bool: ...

    def capture(
        self,
        store: ChunkStore,
        reporter: Reporter,
        parent: dict[str, Any] | None = None,
        no_parent: str = "no earlier snapshot of this database",
    ) -> DatabaseCapture:
        """Dump the database; ``parent`` is the newest intact snapshot's section of the same
        database (what did not change is taken from it), None to read everything."""
        ...

    def plan_restore(
        self,
        section: dict[str, Any],
        collections: list[str] | None = None,
        compare: bool = False,
        store: ChunkStore | None = None,
    ) -> DatabaseRestorePlan:
        """``compare``: also list the live collections' keys and revisions and merge them
        with the snapshot's documents (read from ``store``) to tell what the restore will
        write (``restore --dry-run``)."""
        ...

    def restore(
        self,
        store: ChunkStore,
        section: dict[str, Any],
        reporter: Reporter,
        collections: list[str] | None = None,
        verify: bool = False,
    ) -> dict[str, Any]:
        """``verify``: read every document back to prove the restore (``restore --verify``);
        otherwise counts, keys and revisions are compared."""
        ...

    def drop_collections(self, names: list[str]) -> None:
        """Drop these collections (missing ones are fine): undoing a restore that created
        them."""
        ...

    def drop_database(self) -> None:
        """Drop the whole database: undoing a restore that created it."""
        ...


@dataclass(frozen=True)
class DatabaseSection:
    """A typed view of a manifest's ``database`` section (spec/database.md) for the
    operations above the sources: what they read of it, by name. The section itself stays
    the source's own (it reads the rest)."""

    raw: dict[str, Any]

    @classmethod
    def of(cls, section: dict[str, Any] | None) -> DatabaseSection | None:
        return None if section is None else cls(section)

    @property
    def collections(self) -> dict[str, dict[str, Any]]:
        """Each collection's entry (definition, count, document tree), by name."""
        return dict(self.raw.get("collections") or {})

    @property
    def warnings(self) -> list[str]:
        return list(self.raw.get("warnings") or [])

    @property
    def consistency(self) -> tuple[str, str]:
        """(mode, reason): ``transaction``, another mode with its reason, or ("", "")."""
        c = self.raw.get("consistency") or {}
        return str(c.get("mode") or ""), str(c.get("reason") or "")


@dataclass(frozen=True)
class CollectionCheck:
    """A restored collection read back: its count against the snapshot's, and whether its
    documents (or keys and revisions) match."""

    count: int | None
    expected_count: int | None
    checksum_ok: bool


@dataclass(frozen=True)
class DatabaseRestoreReport:
    """What a database restore did (the CLI's lines after ``restore``; ``restore --json``
    keeps the source's whole map: ``RestoreResult.database``)."""

    database: str
    documents: int = 0
    created_database: bool = False
    dropped: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    # Written by difference (indexes kept): (removed, inserted, replaced) by collection.
    merged: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    reloaded: dict[str, str] = field(default_factory=dict)  # collection -> why
    collections: dict[str, CollectionCheck] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatabaseRestoreReport:
        """Read the source's report map (``DatabaseSource.restore``)."""
        return cls(
            database=str(d.get("database")),
            documents=int(d.get("documents") or 0),
            created_database=bool(d.get("created_database")),
            dropped=tuple(d.get("dropped") or ()),
            created=tuple(d.get("created") or ()),
            replaced=tuple(d.get("replaced") or ()),
            merged={
                n: (w["removed"], w["inserted"], w["replaced"])
                for n, w in (d.get("merged") or {}).items()
            },
            reloaded=dict(d.get("reloaded") or {}),
            collections={
                n: CollectionCheck(
                    c.get("count"), c.get("expected_count"), bool(c.get("checksum_ok"))
                )
                for n, c in (d.get("collections") or {}).items()
            },
            warnings=tuple(d.get("warnings") or ()),
        )
