"""Typed records the SnapshotManager returns (the CLI renders them; scripts may use them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapstore.manifest.schema import Manifest

if TYPE_CHECKING:
    from snapstore.maintenance.lifecycle import CleanupResult
    from snapstore.sources.database import DatabaseRestoreReport
    from snapstore.sources.registry import SourcePlan


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot's metadata: the seed's fields plus snapstore's."""

    snapshot_name: str
    timestamp: str
    description: str
    git_commit: str | None
    git_branch: str | None
    permanent: bool
    collections: dict[str, int]
    bulk_store_size_mb: float
    database_size_mb: float
    compression: str | None
    created: datetime
    kind: str
    git_dirty: bool | None
    partial: bool
    includes_bulk: bool
    includes_database: bool
    bulk_roots: tuple[str, ...]
    added_bytes: int
    warnings: tuple[str, ...]
    safety_for: str | None
    files: int
    database: dict[str, Any] | None = field(default=None, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def document_count(self) -> int:
        return sum(self.collections.values())

    @property
    def total_mb(self) -> float:
        return self.bulk_store_size_mb + self.database_size_mb

    @classmethod
    def from_manifest(cls, m: Manifest) -> SnapshotInfo:
        return cls(
            snapshot_name=m.name,
            timestamp=m.timestamp,
            description=m.description,
            git_commit=m.git_commit,
            git_branch=m.git_branch,
            permanent=m.permanent,
            collections=dict(m.collections),
            bulk_store_size_mb=m.bulk_store_size_mb,
            database_size_mb=m.database_size_mb,
            compression=m.compression,
            created=m.created_at,
            kind=m.kind,
            git_dirty=m.git_dirty,
            partial=m.partial,
            includes_bulk=m.bulk is not None,
            includes_database=m.database is not None,
            bulk_roots=tuple(r.path for r in m.bulk or []),
            added_bytes=int(m.stats.get("added_bytes", 0)),
            warnings=tuple(m.warnings),
            safety_for=m.safety_for,
            files=sum(r.files for r in m.bulk or []),
            database=m.database,
            metadata=m.metadata(),
        )


@dataclass(frozen=True)
class CreateResult:
    """A new snapshot and what it cost the repository."""

    snapshot: SnapshotInfo
    metadata: dict[str, Any]
    added_bytes: int  # packs + index objects + manifest written by this create
    new_chunks: int
    read_bytes: int
    reused_files: int
    skipped: tuple[str, ...]
    elapsed: float
    initialized: bool = False
    cleanup: CleanupResult | None = None  # what the automatic cleanup after it did

    def as_dict(self) -> dict[str, Any]:
        """``create --json``: the seed's metadata.json keys, then what it cost (spec/cli.md)."""
        return {
            **self.metadata,
            "added_bytes": self.added_bytes,
            "new_chunks": self.new_chunks,
            "read_bytes": self.read_bytes,
            "reused_files": self.reused_files,
            "skipped": list(self.skipped),
            "elapsed_seconds": round(self.elapsed, 3),
            "cleanup": self.cleanup.as_dict() if self.cleanup else None,
        }


@dataclass(frozen=True)
class RestoreOptions:
    """What a restore restores and where: ``restore``'s flags, the same for its plan (the
    confirmation), its dry run and the restore itself (spec/restore.md). Which parts a set
    of options restores (files, database) is decided in one place, ``ops.restore``'s
    planning, and shown in the ``RestorePlan``: ``--target`` restores the database only
    with ``target_db``, ``collections`` without ``include`` restore the database only."""

    restore_bulk: bool = True
    restore_db: bool = True
    target: str | None = None
    safety_snapshot: bool = True
    collections: tuple[str, ...] = ()
    target_db: str | None = None
    include: tuple[str, ...] = ()  # paths or patterns of the bulk tree (--include)
    verify: bool = False


@dataclass(frozen=True)
class RestoreTarget:
    """One bulk root and the directory it is restored into. ``kept``: snapstore's own
    folders inside that directory (the repository, the cache), which the restore keeps as
    they are whatever the snapshot holds there: (path relative to ``target``, what it is,
    e.g. "the repository /data/bulk/repo")."""

    root: str
    target: Path
    exists: bool
    kept: tuple[tuple[bytes, str], ...] = ()

    @property
    def kept_paths(self) -> frozenset[bytes]:
        return frozenset(rel for rel, _ in self.kept)


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do, for the confirmation prompt and the dry run. ``bulk_note``
    and ``database_note``: why a part the snapshot holds is not restored ("" when it is, or
    when the snapshot does not hold it). ``database``: the database written, if any."""

    snapshot: SnapshotInfo
    targets: tuple[RestoreTarget, ...]
    restore_bulk: bool
    restore_db: bool
    database_changes: dict[str, list[str]] = field(default_factory=dict)
    safety_snapshot: bool = True
    include: tuple[str, ...] = ()  # restore --include: the paths selected (folders end in /)
    bulk_note: str = ""
    database_note: str = ""
    database: str | None = None
    # What restoring each section of a source beyond files and database would do.
    sources: tuple[SourcePlan, ...] = ()

    def writes(self) -> dict[str, Any]:
        """What the restore writes: ``{"targets": [DIR...], "database": NAME or None,
        "bulk_note": ..., "database_note": ...}`` (``restore --dry-run --json``)."""
        return {
            "targets": [str(t.target) for t in self.targets],
            "database": self.database,
            "bulk_note": self.bulk_note or None,
            "database_note": self.database_note or None,
        }


@dataclass(frozen=True)
class RestoreResult:
    snapshot: SnapshotInfo
    safety_snapshot: str | None
    files: int
    bytes: int
    targets: tuple[str, ...]
    database: dict[str, Any] | None
    elapsed: float

    @property
    def database_report(self) -> DatabaseRestoreReport | None:
        """The database part as a typed record (what the CLI prints)."""
        from snapstore.sources.database import DatabaseRestoreReport

        return None if not self.database else DatabaseRestoreReport.from_dict(self.database)

    def as_dict(self) -> dict[str, Any]:
        """``restore --json`` (spec/cli.md)."""
        return {
            "snapshot_name": self.snapshot.snapshot_name,
            "safety_snapshot": self.safety_snapshot,
            "files": self.files,
            "bytes": self.bytes,
            "targets": list(self.targets),
            "database": self.database,
            "elapsed_seconds": round(self.elapsed, 3),
        }
