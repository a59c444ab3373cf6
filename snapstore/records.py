"""Typed records the SnapshotManager returns (the CLI renders them; scripts may use them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from snapstore.manifest.schema import Manifest


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


@dataclass(frozen=True)
class RestoreTarget:
    root: str
    target: Path
    exists: bool


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do, for the confirmation prompt."""

    snapshot: SnapshotInfo
    targets: tuple[RestoreTarget, ...]
    restore_bulk: bool
    restore_db: bool
    database_changes: dict[str, list[str]] = field(default_factory=dict)
    safety_snapshot: bool = True


@dataclass(frozen=True)
class RestoreResult:
    snapshot: SnapshotInfo
    safety_snapshot: str | None
    files: int
    bytes: int
    targets: tuple[str, ...]
    database: dict[str, Any] | None
    elapsed: float
