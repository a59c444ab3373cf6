"""Diff: what changed between two snapshots, or between the live state and a snapshot.

Files are compared by their listings alone: two files with the same chunk ids have the same
content, so file data is never read (spec/diff.md). A bulk root whose listing chunks are
identical in both snapshots is not even decoded. Each path is one of: added, removed,
modified (content; symlink target), metadata (mode, mtime, owner only), or type (file <->
directory <-> symlink). An added or removed directory is reported once, with the number of
entries and bytes below it, instead of once per descendant.

Collections: added, removed, and for collections present in both whose data chunks differ,
the document counts and the document keys added, removed and changed. Collections whose data
chunks are identical are unchanged without reading anything. Views, analyzers, named graphs
and AQL functions: added, removed or changed, by name. What a collection's definition, its
document tree and those objects' definitions are is ArangoDB knowledge:
snapstore/sources/arangodb/compare.py.

The live state against a snapshot (``restore --dry-run``) is ``live_diff``, on these records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from snapstore.manifest.listing import (
    DIR,
    FILE,
    SYMLINK,
    FileEntry,
    load_listing,
    sort_key,
)
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.sources.arangodb import compare
from snapstore.sources.arangodb.compare import differing_documents as differing_documents
from snapstore.sources.database import CollectionWrites, DatabaseSection
from snapstore.sources.registry import find
from snapstore.store.chunkstore import ChunkStore

ADDED, REMOVED, MODIFIED, METADATA, TYPE = "added", "removed", "modified", "metadata", "type"
CHANGED, UNCHANGED, REPLACED = "changed", "unchanged", "replaced"
# Keys listed per collection and change kind; the counts are always complete.
MAX_KEYS = 1000
_TYPE_NAMES = {FILE: "file", DIR: "directory", SYMLINK: "symlink"}


@dataclass(frozen=True)
class FileChange:
    """One changed path of one bulk root (``path`` relative to it, "." for the root)."""

    root: str
    path: str
    change: str  # added / removed / modified / metadata / type
    type_before: str | None
    type_after: str | None
    size_before: int = 0
    size_after: int = 0
    # What differs: "size", "content", "link a -> b", "mode 644 -> 600", "owner ...", "mtime"
    details: tuple[str, ...] = ()
    entries: int = 0  # summarised directory: entries below it (files, dirs, links)
    bytes: int = 0  # summarised directory: file bytes below it

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, details=list(self.details))


@dataclass(frozen=True)
class CollectionChange:
    """One collection that differs (``change``: added / removed / changed / replaced)."""

    name: str
    change: str
    count_before: int | None
    count_after: int | None
    structure_changed: bool = False
    keys_added: tuple[str, ...] = ()
    keys_removed: tuple[str, ...] = ()
    keys_changed: tuple[str, ...] = ()
    n_added: int = 0
    n_removed: int = 0
    n_changed: int = 0
    keys_known: bool = True  # False when the documents could not be decoded

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("keys_added", "keys_removed", "keys_changed"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class ObjectChange:
    """A view, analyzer, named graph or AQL function that differs (``kind``: ``view``,
    ``analyzer``, ``graph``, ``AQL function``; ``change``: added / removed / changed)."""

    kind: str
    name: str
    change: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SnapshotDiff:
    """Everything that differs from ``before`` to ``after``."""

    before: str
    after: str
    files: list[FileChange] = field(default_factory=list)
    collections: list[CollectionChange] = field(default_factory=list)
    roots_added: list[str] = field(default_factory=list)
    roots_removed: list[str] = field(default_factory=list)
    database: str | None = None  # "added" / "removed" when only one side has a database
    objects: list[ObjectChange] = field(default_factory=list)
    # restore --dry-run: what the restore writes into each collection (spec/database.md)
    database_writes: list[CollectionWrites] = field(default_factory=list)
    # The other sources' differences, one line each, by source (spec/sources.md).
    sections: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (
            self.files
            or self.collections
            or self.roots_added
            or self.roots_removed
            or self.database
            or self.objects
            or self.sections
        )

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in (ADDED, REMOVED, MODIFIED, METADATA, TYPE)}
        for c in self.files:
            out[c.change] += 1
        out["bytes_added"] = sum(
            c.size_after if c.change == ADDED and not c.entries else c.bytes
            for c in self.files
            if c.change == ADDED
        )
        out["bytes_removed"] = sum(
            c.size_before if not c.entries else c.bytes for c in self.files if c.change == REMOVED
        )
        out["collections_changed"] = len(self.collections)
        out["objects_changed"] = len(self.objects)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "summary": self.counts(),
            "roots_added": self.roots_added,
            "roots_removed": self.roots_removed,
            "database": self.database,
            "files": [c.as_dict() for c in self.files],
            "collections": [c.as_dict() for c in self.collections],
            "objects": [o.as_dict() for o in self.objects],
            **(
                {"database_writes": [w.as_dict() for w in self.database_writes]}
                if self.database_writes
                else {}
            ),
            **({"sections": self.sections} if self.sections else {}),
        }


# -- files ------------------------------------------------------------------------------------


def _path_text(path: bytes) -> str:
    return os.fsdecode(path) if path else "."


def _metadata_details(a: FileEntry, b: FileEntry) -> tuple[str, ...]:
    out = []
    if a.mode != b.mode:
        out.append(f"mode {a.mode:o} -> {b.mode:o}")
    # A directory's mtime follows every change inside it: reporting it would repeat them.
    if a.mtime_ns != b.mtime_ns and a.type != DIR:
        out.append("mtime")
    owner_a = (a.uid, a.gid, a.user, a.group)
    owner_b = (b.uid, b.gid, b.user, b.group)
    if owner_a != owner_b and None not in (a.uid, b.uid):
        out.append(
            f"owner {a.user or a.uid}:{a.group or a.gid} -> {b.user or b.uid}:{b.group or b.gid}"
        )
    return tuple(out)


def _content_details(a: FileEntry, b: FileEntry) -> tuple[str, ...]:
    """What a ``modified`` change changed, before the metadata details: a file's ``size``
    and ``content``, a symlink's target."""
    if a.type == SYMLINK:
        return (f"link {_link_text(a.target)} -> {_link_text(b.target)}",)
    return (("size",) if a.size != b.size else ()) + ("content",)


def _link_text(target: bytes | None) -> str:
    return os.fsdecode(target or b"")


def compare_entries(
    root: str,
    before: dict[bytes, FileEntry],
    after: dict[bytes, FileEntry],
    same_content: Any = None,
) -> list[FileChange]:
    """Per-path changes, directories added or removed whole summarised into one line.

    ``same_content(a, b)`` decides content equality of two file entries (default: equal chunk
    ids); ``diff_live`` passes one that may chunk the live file.
    """
    same = same_content or (lambda a, b: a.chunks == b.chunks and a.size == b.size)
    raw: list[FileChange] = []
    for path in sorted(before.keys() | after.keys(), key=sort_key):
        a, b = before.get(path), after.get(path)
        text = _path_text(path)
        if a is None and b is not None:
            raw.append(FileChange(root, text, ADDED, None, _TYPE_NAMES[b.type], 0, b.size))
        elif b is None and a is not None:
            raw.append(FileChange(root, text, REMOVED, _TYPE_NAMES[a.type], None, a.size, 0))
        elif a is not None and b is not None:
            ta, tb = _TYPE_NAMES[a.type], _TYPE_NAMES[b.type]
            if a.type != b.type:
                raw.append(FileChange(root, text, TYPE, ta, tb, a.size, b.size))
            elif (a.type == FILE and not same(a, b)) or (
                a.type == SYMLINK and a.target != b.target
            ):
                raw.append(
                    FileChange(
                        root,
                        text,
                        MODIFIED,
                        ta,
                        tb,
                        a.size,
                        b.size,
                        _content_details(a, b) + _metadata_details(a, b),
                    )
                )
            else:
                details = _metadata_details(a, b)
                if details:
                    raw.append(FileChange(root, text, METADATA, ta, tb, a.size, b.size, details))
    return _summarise(raw)


def _summarise(changes: list[FileChange]) -> list[FileChange]:
    """Fold the descendants of an added / removed directory (or of a path that became or
    stopped being a directory) into that directory's line."""
    out: list[FileChange] = []
    holder: tuple[int, str, str] | None = None  # (index in out, prefix, direction)
    for c in changes:
        if holder is not None:
            idx, prefix, direction = holder
            if c.path.startswith(prefix) and c.change == direction:
                h = out[idx]
                size = c.size_after if direction == ADDED else c.size_before
                out[idx] = FileChange(
                    h.root,
                    h.path,
                    h.change,
                    h.type_before,
                    h.type_after,
                    h.size_before,
                    h.size_after,
                    h.details,
                    h.entries + 1,
                    h.bytes + size,
                )
                continue
            holder = None
        out.append(c)
        if c.change == ADDED and c.type_after == "directory":
            holder = (len(out) - 1, _prefix(c.path), ADDED)
        elif c.change == REMOVED and c.type_before == "directory":
            holder = (len(out) - 1, _prefix(c.path), REMOVED)
        elif c.change == TYPE and "directory" in (c.type_before, c.type_after):
            holder = (
                len(out) - 1,
                _prefix(c.path),
                ADDED if c.type_after == "directory" else REMOVED,
            )
    return out


def _prefix(path: str) -> str:
    return "" if path == "." else path + "/"


def snapshot_entries(store: ChunkStore, root: BulkRoot, where: str) -> dict[bytes, FileEntry]:
    return {e.path: e for e in load_listing(store, root.listing, f"snapshot {where}: {root.path}")}


def diff_snapshots(store: ChunkStore, a: Manifest, b: Manifest) -> SnapshotDiff:
    """Differences from snapshot ``a`` to snapshot ``b``."""
    out = SnapshotDiff(a.name, b.name)
    roots_a = {r.path: r for r in a.bulk or []}
    roots_b = {r.path: r for r in b.bulk or []}
    out.roots_removed = sorted(roots_a.keys() - roots_b.keys())
    out.roots_added = sorted(roots_b.keys() - roots_a.keys())
    for path in sorted(roots_a.keys() & roots_b.keys()):
        ra, rb = roots_a[path], roots_b[path]
        if ra.listing == rb.listing:
            continue  # identical listing chunks: identical trees, nothing to decode
        out.files.extend(
            compare_entries(
                path, snapshot_entries(store, ra, a.name), snapshot_entries(store, rb, b.name)
            )
        )
    if (a.database is None) != (b.database is None):
        out.database = "added" if a.database is None else "removed"
    out.collections = diff_collections(store, a, b)
    out.objects = object_diff(a.database, b.database)
    out.sections = diff_sections(store, a, b)
    return out


def diff_sections(store: ChunkStore, a: Manifest, b: Manifest) -> dict[str, list[str]]:
    """Each section source's lines for the sections of ``a`` and ``b`` that differ."""
    out = {}
    for name in sorted(a.sections.keys() | b.sections.keys()):
        source = find(name)
        lines = source.diff(a.sections.get(name), b.sections.get(name), store) if source else []
        if lines:
            out[name] = lines
    return out


def object_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[ObjectChange]:
    """The views, analyzers, graphs and AQL functions that differ between two database
    sections (or a live database read the same way, ``compare.live_objects``)."""
    if before is None or after is None:
        return []  # a database only on one side is reported whole
    return [ObjectChange(*c) for c in compare.object_changes(before, after)]


# -- collections ------------------------------------------------------------------------------


def _sections(m: Manifest) -> dict[str, dict[str, Any]]:
    section = DatabaseSection.of(m.database)
    return section.collections if section else {}


def diff_collections(store: ChunkStore, a: Manifest, b: Manifest) -> list[CollectionChange]:
    ca, cb = _sections(a), _sections(b)
    names = sorted(ca.keys() | cb.keys() | a.collections.keys() | b.collections.keys())
    out: list[CollectionChange] = []
    for name in names:
        sa, sb = ca.get(name), cb.get(name)
        na, nb = a.collections.get(name), b.collections.get(name)
        if sa is None and sb is None:
            if na != nb:
                out.append(CollectionChange(name, CHANGED, na, nb, keys_known=False))
            continue
        if sa is None:
            out.append(CollectionChange(name, ADDED, None, nb, n_added=nb or 0))
            continue
        if sb is None:
            out.append(CollectionChange(name, REMOVED, na, None, n_removed=na or 0))
            continue
        structure = compare.structure(sa) != compare.structure(sb)
        if compare.data_id(sa) == compare.data_id(sb):
            if structure or na != nb:
                out.append(CollectionChange(name, CHANGED, na, nb, structure_changed=structure))
            continue
        out.append(_key_diff(store, name, sa, sb, na, nb, structure))
    return out


def _key_diff(
    store: ChunkStore,
    name: str,
    sa: dict[str, Any],
    sb: dict[str, Any],
    na: int | None,
    nb: int | None,
    structure: bool,
) -> CollectionChange:
    keys = compare.key_diff(store, name, sa, sb)
    if keys is None:
        return CollectionChange(name, CHANGED, na, nb, structure, keys_known=False)
    return CollectionChange(
        name,
        CHANGED,
        na,
        nb,
        structure,
        tuple(keys.added[:MAX_KEYS]),
        tuple(keys.removed[:MAX_KEYS]),
        tuple(keys.changed[:MAX_KEYS]),
        len(keys.added),
        len(keys.removed),
        len(keys.changed),
    )
