"""Looking inside snapshots without restoring them: ls, cat, find and export.

Each function works on an open chunk store and loaded manifests (the manager opens the
repository and takes the shared lock). Paths are those of ``snapstore.tree.bulk``: relative
to the bulk root, or, with several roots, starting with the root's label. Every byte read is
verified against its chunk id; a damaged chunk is an error naming the snapshot and the path.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapstore.base.errors import InvalidInput, PathNotFound
from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore
from snapstore.tree.bulk import BulkTree, matches, parse_path
from snapstore.tree.layout import SnapshotLayout
from snapstore.tree.nodes import DIR, FILE, SYMLINK, Node
from snapstore.tree.output import (
    DirectoryOutput,
    Output,
    TarFileOutput,
    TarOutput,
    WriteStats,
    write_tree,
)


def display(path: bytes) -> str:
    """A path as text: undecodable bytes kept by surrogateescape (``os.fsdecode``)."""
    return os.fsdecode(path) if path else "."


@dataclass(frozen=True)
class EntryInfo:
    """One entry of a snapshot as ``ls`` and ``find`` report it (``--json`` form below)."""

    snapshot: str
    path: str
    type: str  # "file", "dir" or "symlink"
    size: int
    mode: int
    mtime: str  # UTC, ISO 8601
    user: str | None
    group: str | None
    target: str | None

    @classmethod
    def of(cls, snapshot: str, node: Node) -> EntryInfo:
        kind = {FILE: "file", DIR: "dir", SYMLINK: "symlink"}[node.type]
        when = datetime.fromtimestamp(node.mtime_ns / 1e9, UTC).isoformat(timespec="seconds")
        return cls(
            snapshot=snapshot,
            path=display(node.path),
            type=kind,
            size=node.size,
            mode=node.mode,
            mtime=when,
            user=node.user if node.user is not None else _id(node.uid),
            group=node.group if node.group is not None else _id(node.gid),
            target=os.fsdecode(node.target) if node.target is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "mtime": self.mtime,
            "user": self.user,
            "group": self.group,
            "target": self.target,
        }


def _id(n: int | None) -> str | None:
    return None if n is None else str(n)


def _bulk(store: ChunkStore, m: Manifest) -> BulkTree:
    if not m.bulk:
        raise InvalidInput(f"snapshot {m.name} holds no bulk files (it was taken with --no-bulk)")
    return BulkTree(store, m)


def _node(tree: BulkTree, path: bytes, snapshot: str, text: str) -> Node:
    node = tree.get(path)
    if node is None:
        raise PathNotFound(f"snapshot {snapshot} has no {text!r} (see `snapstore ls {snapshot}`)")
    return node


def list_entries(
    store: ChunkStore, m: Manifest, path: str = "", *, recursive: bool = False
) -> Iterator[Node]:
    """``ls``: the folder's entries (all below it with ``recursive``), or the file itself."""
    tree = _bulk(store, m)
    want = parse_path(path)
    node = _node(tree, want, m.name, path)
    if node.type != DIR:
        yield node
        return
    if recursive:
        yield from (n for n in tree.walk(want) if n.path != want)
    else:
        yield from tree.children(want)


def file_content(store: ChunkStore, m: Manifest, path: str) -> Iterator[bytes]:
    """``cat``: the bytes of one file, verified as they are read."""
    tree = _bulk(store, m)
    node = _node(tree, parse_path(path), m.name, path)
    if node.type == DIR:
        raise InvalidInput(f"{path!r} is a folder in snapshot {m.name}; `snapstore ls` lists it")
    if node.type == SYMLINK:
        target = os.fsdecode(node.target or b"")
        raise InvalidInput(f"{path!r} is a symlink to {target!r} in snapshot {m.name}")
    assert node.content is not None
    return node.content.chunks()


def find(store: ChunkStore, manifests: list[Manifest], pattern: str) -> Iterator[EntryInfo]:
    """``find``: every entry matching ``pattern`` in each snapshot (newest first).

    Snapshots of an unchanged tree share their listings; each distinct listing is searched
    once and its matches reported for every snapshot that has it.
    """
    if not pattern:
        raise InvalidInput("give a pattern, e.g. 'results.csv' or 'runs/*/metrics.json'")
    seen: dict[tuple[tuple[str, tuple[bytes, ...]], ...], list[Node]] = {}
    for m in manifests:
        if not m.bulk:
            continue
        key = tuple((r.label, tuple(r.listing)) for r in m.bulk)
        if key not in seen:
            seen[key] = [
                n for n in BulkTree(store, m).walk() if n.path and matches(pattern, n.path)
            ]
        for node in seen[key]:
            yield EntryInfo.of(m.name, node)


def layout(store: ChunkStore, m: Manifest) -> SnapshotLayout:
    """The snapshot in the reference's folder layout (``mount``, ``export``)."""
    bulk = BulkTree(store, m) if m.bulk else None
    db = []
    if m.database is not None:
        # Imported here: the ArangoDB package pulls in python-arango, which only snapshots
        # with a database need.
        from snapstore.sources.arangodb.export import database_files

        db = database_files(store, m.database, m.name)
    return SnapshotLayout(m, bulk, db)


def export_snapshot(
    store: ChunkStore, m: Manifest, dest: str | None, tar: str | None
) -> WriteStats:
    """``export``: the layout written as plain files into ``dest``, or a tar to ``tar``
    (``-`` for standard output)."""
    if (dest is None) == (tar is None):
        raise InvalidInput("give a folder to export into, or --tar FILE (not both)")
    tree = layout(store, m)
    out: Output
    if tar == "-":
        out = TarOutput(sys.stdout.buffer, gzip=False, top=m.name)
    elif tar is not None:
        out = TarFileOutput(_path(tar), top=m.name)
    else:
        assert dest is not None
        out = DirectoryOutput(_path(dest))
    return write_tree(store, tree.walk(), out, f"snapshot {m.name}")


def _path(text: str) -> Path:
    if not text.strip():
        raise InvalidInput("an empty path is not a place to export to")
    return Path(text).expanduser().absolute()


def documents(
    store: ChunkStore, m: Manifest, collection: str, start: int, count: int
) -> tuple[list[bytes], int]:
    """``count`` documents of ``collection`` from the ``start``-th, in ``_key`` order, as
    their canonical JSON lines, and the collection's document count."""
    section = m.database
    entry = (section or {}).get("collections", {}).get(collection)
    if entry is None:
        raise PathNotFound(f"snapshot {m.name} has no collection {collection!r}")
    if start < 0 or count < 0:
        raise InvalidInput("start and count must not be negative")
    from snapstore.sources.arangodb.docchunks import iter_lines  # python-arango only here

    where = f"snapshot {m.name}: collection {collection}"
    lines = iter_lines(store, entry.get("root"), int(entry.get("height") or 0), where)
    return list(itertools.islice(lines, start, start + count)), int(entry.get("count") or 0)
