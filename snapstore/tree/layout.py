"""One snapshot in the reference's own storage layout, as a tree of nodes.

The Metis snapshot manager kept each snapshot as a folder, and its users know that shape::

    metadata.json                 the seed's metadata fields (show --json's first keys)
    bulk_store/<root label>/...   the bulk files
    database/...                  the database, in the files arangodump writes

``mount`` shows every snapshot this way and ``export`` writes one out. The database files
come from the database source (``sources.arangodb.export``); this module only places them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

from snapstore.base.errors import CorruptData
from snapstore.manifest.schema import Manifest
from snapstore.tree.bulk import BulkTree, check_label
from snapstore.tree.nodes import DIR, BytesContent, Content, Node
from snapstore.tree.shape import ShapeChecker

METADATA = b"metadata.json"
BULK = b"bulk_store"
DATABASE = b"database"


@dataclass
class DatabaseFile:
    """One file of the ``database/`` folder: its name and content."""

    name: str
    content: Content


def metadata_json(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.metadata(), indent=2, ensure_ascii=False) + "\n").encode()


def _checked_names(m: Manifest, files: list[DatabaseFile]) -> list[DatabaseFile]:
    """The database's files, each name one plain file name used once (names come from the
    manifest: a collection or view name must not reach outside ``database/``)."""
    seen: set[str] = set()
    for f in files:
        name = f.name
        if name in ("", ".", "..") or "/" in name or "\0" in name or name in seen:
            what = "used twice" if name in seen else "not a file name"
            raise CorruptData(f"snapshot {m.name}: database file {name!r} is {what}")
        seen.add(name)
    return files


class SnapshotLayout:
    """``metadata.json``, ``bulk_store/`` and ``database/`` of one snapshot."""

    def __init__(
        self, manifest: Manifest, bulk: BulkTree | None, database: list[DatabaseFile]
    ) -> None:
        self.manifest = manifest
        self.bulk = bulk if bulk is not None and not bulk.empty else None
        self.database = _checked_names(manifest, database)
        self.mtime_ns = int(manifest.created_at.timestamp() * 1e9)

    def _bulk_path(self, path: bytes) -> bytes | None:
        """Where a bulk tree path goes in the layout (None: the bulk tree's own top)."""
        assert self.bulk is not None
        if len(self.bulk.roots) == 1:
            label = os.fsencode(check_label(self.manifest, self.bulk.roots[0].root.label))
            return BULK + b"/" + label + (b"/" + path if path else b"")
        return BULK + b"/" + path if path else None

    def walk(self) -> Iterator[Node]:
        """Every node, parents before children."""
        yield Node.directory(b"", self.mtime_ns, 0o755)
        yield Node.file(METADATA, BytesContent(metadata_json(self.manifest)), self.mtime_ns)
        if self.bulk is not None:
            yield Node.directory(BULK, self.mtime_ns)
            for node in self.bulk.walk():
                path = self._bulk_path(node.path)
                if path is not None:
                    node.path = path
                    yield node
        if self.database:
            yield Node.directory(DATABASE, self.mtime_ns)
            for f in self.database:
                yield Node.file(DATABASE + b"/" + f.name.encode(), f.content, self.mtime_ns)


class TreeIndex:
    """A whole tree held as folder -> children, for random lookups (a mount). Built on
    first use from a ``walk``, checked as it is read (``ShapeChecker``, as for an export);
    memory grows with the number of entries."""

    def __init__(self, nodes: Iterator[Node], where: str) -> None:
        self.nodes: dict[bytes, Node] = {}
        self.kids: dict[bytes, list[bytes]] = {}
        checker = ShapeChecker(where)
        for node in nodes:
            checker.check(node)
            self.nodes[node.path] = node
            if node.type == DIR:
                self.kids.setdefault(node.path, [])
            if node.path:
                parent = node.path.rsplit(b"/", 1)[0] if b"/" in node.path else b""
                self.kids.setdefault(parent, []).append(node.name)

    def get(self, path: bytes) -> Node | None:
        return self.nodes.get(path)

    def children(self, path: bytes) -> list[bytes]:
        return self.kids.get(path, [])
