"""The snapshot manifest: one msgpack map per snapshot, versioned (spec/manifest.md).

It carries the seed's metadata.json fields unchanged in meaning, plus what restore needs: for
each bulk root the chunk ids of its file listing, and for the database the section written by
the ArangoDB source. Listings are stored as chunks, so a manifest stays a few KB however big
the tree is and unchanged parts of a listing deduplicate between snapshots.

Format 2 wraps the map in an envelope with its BLAKE3 hash, so any changed byte is an error
(a manifest is the one object not named by its content). Format 1, the bare map written before
that, is still read; it is rewritten as format 2 the next time snapstore changes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeGuard

import blake3
import msgpack

from snapstore.base.errors import CorruptData, RepositoryError

MANIFEST_VERSION = 2
LEGACY_VERSION = 1  # the bare map without a checksum, as written before format 2

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
    # The snapshots that no other snapshot named when this one was published (spec/manifest.md,
    # "Predecessors"): a later manifest vouching for them is how a removed one is noticed.
    previous: list[str] = field(default_factory=list)
    # The catalog's logical clock when this object was written, and the snapshots whose delete
    # this manifest records (name -> UTC time): spec/manifest.md, "Going back in time".
    generation: int = 0
    deleted: dict[str, str] = field(default_factory=dict)
    # The state of each source beyond the files and the database, by source name
    # (spec/sources.md): plain data only that source reads.
    sections: dict[str, Any] = field(default_factory=dict)
    version: int = MANIFEST_VERSION  # the format it was read from; encode writes the newest

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)

    @property
    def checksummed(self) -> bool:
        """Read from a format that carries a checksum (format 1 did not)."""
        return self.version >= 2

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
        """The object's bytes: the envelope ``{version, manifest, blake3}`` (spec/manifest.md)."""
        d = asdict(self)
        d["version"] = MANIFEST_VERSION
        body = msgpack.packb(d, use_bin_type=True)
        envelope = {"version": MANIFEST_VERSION, "manifest": body, "blake3": _digest(body)}
        packed: bytes = msgpack.packb(envelope, use_bin_type=True)
        return packed

    @classmethod
    def decode(cls, data: bytes, name: str) -> Manifest:
        """Read a manifest object named ``name``; CorruptData (one line naming the snapshot)
        for any damage, RepositoryError for a format newer than this snapstore."""
        outer = _unpack(data, name)
        version = outer.get("version")
        if not _is_int(version) or version < LEGACY_VERSION:
            raise _damaged(name, "no format version")
        if version > MANIFEST_VERSION:
            raise RepositoryError(
                f"snapshot {name}: manifest format version {version} is newer than this "
                f"snapstore reads ({MANIFEST_VERSION}); upgrade snapstore"
            )
        if version == LEGACY_VERSION:
            d = outer
        else:
            body, digest = outer.get("manifest"), outer.get("blake3")
            if not isinstance(body, bytes) or not isinstance(digest, bytes):
                raise _damaged(name, "no checksummed body")
            if _digest(body) != digest:
                raise _damaged(name, "checksum mismatch")
            d = _unpack(body, name)
            if d.get("version") != version:
                raise _damaged(name, "format versions disagree")
        problem = _type_problem(d)
        if problem:
            raise _damaged(name, problem)
        known = set(cls.__dataclass_fields__)
        bulk = d.pop("bulk")
        m = cls(**{k: v for k, v in d.items() if k in known})
        m.bulk = None if bulk is None else [BulkRoot(**r) for r in bulk]
        if m.name != name:
            raise CorruptData(f"snapshot {name}: manifest names itself {m.name!r}")
        return m


def _digest(body: bytes) -> bytes:
    return blake3.blake3(body).digest()


def _damaged(name: str, why: str) -> CorruptData:
    return CorruptData(f"snapshot {name}: manifest is damaged ({why})")


def _unpack(data: bytes, name: str) -> dict[str, Any]:
    try:
        d = msgpack.unpackb(data, raw=False)
    except Exception as e:
        raise _damaged(name, str(e) or type(e).__name__) from None
    if not isinstance(d, dict):
        raise _damaged(name, "not a map")
    return d


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_id_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, bytes) and len(x) == 32 for x in v)


def _opt(check: Any) -> Any:
    return lambda v: v is None or check(v)


def _str(v: object) -> bool:
    return isinstance(v, str)


def _bool(v: object) -> bool:
    return isinstance(v, bool)


def _number(v: object) -> bool:
    return _is_int(v) or isinstance(v, float)


def _str_int_map(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _is_int(x) for k, x in v.items())


def _created(v: object) -> bool:
    if not isinstance(v, str):
        return False
    try:
        return datetime.fromisoformat(v).utcoffset() is not None
    except ValueError:
        return False


# Required keys and their types: a manifest that breaks these would fail later, far from here
# (retention sorting on `created`, restore writing under `path`), so it is damaged now.
_FIELDS: dict[str, Any] = {
    "name": _str,
    "created": _created,
    "timestamp": _str,
    "description": _str,
    "kind": lambda v: v in ("regular", "safety"),
    "permanent": _bool,
    "bulk": _opt(lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v)),
    "database": _opt(lambda v: isinstance(v, dict)),
}
# Optional keys (absent in some format-1 manifests; the dataclass default applies).
_OPTIONAL: dict[str, Any] = {
    "git_commit": _opt(_str),
    "git_branch": _opt(_str),
    "git_dirty": _opt(_bool),
    "collections": _str_int_map,
    "bulk_store_size_mb": _number,
    "database_size_mb": _number,
    "compression": _opt(_str),
    "hostname": _str,
    "username": _str,
    "partial": _bool,
    "warnings": _is_str_list,
    "stats": _str_int_map,
    "safety_for": _opt(_str),
    "previous": _is_str_list,
    "generation": lambda v: _is_int(v) and v >= 0,
    "sections": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
    "deleted": lambda v: (
        isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
    ),
}
_ROOT_FIELDS: dict[str, Any] = {"path": _str, "label": _str, "listing": _is_id_list}
_ROOT_COUNTS = ("files", "dirs", "symlinks", "bytes")


def _type_problem(d: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a decoded manifest map, or None."""
    for key, ok in _FIELDS.items():
        if key not in d:
            return f"no {key!r}"
        if not ok(d[key]):
            return f"bad {key!r}"
    for key, ok in _OPTIONAL.items():
        if key in d and not ok(d[key]):
            return f"bad {key!r}"
    for root in d["bulk"] or []:
        for key, ok in _ROOT_FIELDS.items():
            if not ok(root.get(key)):
                return f"bad bulk root {key!r}"
        if any(not _is_int(root.get(k, 0)) for k in _ROOT_COUNTS):
            return "bad bulk root counts"
        if set(root) - set(_ROOT_FIELDS) - set(_ROOT_COUNTS):
            return "unknown bulk root key"
    return None
