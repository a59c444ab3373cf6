"""The snapshot manifest: one msgpack map per snapshot, versioned (spec/manifest.md).

It carries the seed's metadata.json fields unchanged in meaning, plus what restore needs: for
each bulk root the chunk ids of its file listing, and for the database the section written by
the ArangoDB source. Listings are stored as chunks, so a manifest stays a few KB however big
the tree is and unchanged parts of a listing deduplicate between snapshots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import msgpack

from snapstore.errors import CorruptData, RepositoryError

MANIFEST_VERSION = 1

# The keys of the seed's metadata.json, in its order; `show --json` and `list --json` print these.
METADATA_KEYS = (
    "snapshot_name",
    "timestamp",
    "description",
    "git_commit",
    "git_branch",
    "permanent",
    "collections",
    "bulk_store_size_mb",
    "database_size_mb",
    "compression",
)


@dataclass
class BulkRoot:
    """One bulk-storage root as captured: where it was, and the chunks of its listing."""

    path: str
    label: str
    listing: list[bytes]
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0


@dataclass
class Manifest:
    """Everything known about one snapshot."""

    name: str
    created: str  # UTC, ISO 8601 with microseconds: the sort key
    timestamp: str  # local time, ISO 8601 to the second: the seed's field
    description: str
    kind: str = "regular"  # "regular" or "safety" (taken automatically before a restore)
    permanent: bool = False
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    collections: dict[str, int] = field(default_factory=dict)
    bulk_store_size_mb: float = 0.0
    database_size_mb: float = 0.0
    compression: str | None = None
    hostname: str = ""
    username: str = ""
    partial: bool = False
    warnings: list[str] = field(default_factory=list)
    bulk: list[BulkRoot] | None = None
    database: dict[str, Any] | None = None
    stats: dict[str, int] = field(default_factory=dict)
    safety_for: str | None = None
    version: int = MANIFEST_VERSION

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)

    def metadata(self) -> dict[str, Any]:
        """The seed's metadata.json object, followed by snapstore's additions."""
        d: dict[str, Any] = {
            "snapshot_name": self.name,
            "timestamp": self.timestamp,
            "description": self.description,
            "git_commit": self.git_commit,
            "git_branch": self.git_branch,
            "permanent": self.permanent,
            "collections": dict(self.collections),
            "bulk_store_size_mb": self.bulk_store_size_mb,
            "database_size_mb": self.database_size_mb,
            "compression": self.compression,
        }
        d.update(
            {
                "created": self.created,
                "kind": self.kind,
                "git_dirty": self.git_dirty,
                "partial": self.partial,
                "warnings": list(self.warnings),
                "includes_bulk": self.bulk is not None,
                "includes_database": self.database is not None,
                "bulk_roots": [r.path for r in self.bulk or []],
                "hostname": self.hostname,
                "safety_for": self.safety_for,
                "added_bytes": self.stats.get("added_bytes", 0),
            }
        )
        return d

    # -- encoding -----------------------------------------------------------------------------

    def encode(self) -> bytes:
        d = asdict(self)
        return msgpack.packb(d, use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes, name: str) -> Manifest:
        try:
            d = msgpack.unpackb(data, raw=False)
        except Exception as e:
            raise CorruptData(f"snapshot {name}: manifest is damaged ({e})") from None
        if not isinstance(d, dict):
            raise CorruptData(f"snapshot {name}: manifest is damaged (not a map)")
        version = d.get("version")
        if not isinstance(version, int) or version > MANIFEST_VERSION:
            raise RepositoryError(
                f"snapshot {name}: manifest format version {version} is newer than this "
                f"snapstore reads ({MANIFEST_VERSION}); upgrade snapstore"
            )
        try:
            bulk = d.pop("bulk")
            known = {f for f in cls.__dataclass_fields__}
            m = cls(**{k: v for k, v in d.items() if k in known})
            m.bulk = None if bulk is None else [BulkRoot(**r) for r in bulk]
        except (TypeError, KeyError) as e:
            raise CorruptData(f"snapshot {name}: manifest is damaged ({e})") from None
        if m.name != name:
            raise CorruptData(f"snapshot {name}: manifest names itself {m.name!r}")
        return m
