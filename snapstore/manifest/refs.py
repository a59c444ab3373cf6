"""Every chunk a manifest references, with where it is used (for check, gc and error messages).

This is the one place that knows every part of the manifest schema that holds chunk ids: the
bulk roots' listings and the files in them, and the database section.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from snapstore.manifest.doctree import iter_tree
from snapstore.manifest.listing import load_listing
from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore


@dataclass(frozen=True, slots=True)
class Ref:
    """One reference: a chunk id and a human-readable place (``file a/b``, ``collection c``)."""

    chunk: bytes
    where: str


def iter_references(manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
    """Yield every chunk reference of ``manifest``; listings are read (and verified) as needed."""
    for root in manifest.bulk or []:
        for cid in root.listing:
            yield Ref(cid, f"listing of {root.path}")
        where = f"snapshot {manifest.name}: {root.path}"
        for entry in load_listing(store, root.listing, where):
            for cid in entry.chunks:
                yield Ref(cid, f"{root.path}: file {os.fsdecode(entry.path)}")
    if manifest.database:
        yield from iter_database_references(manifest.database, store, manifest.name)


def iter_database_references(
    section: dict,  # type: ignore[type-arg]
    store: ChunkStore,
    snapshot: str = "?",
) -> Iterator[Ref]:
    """Chunk references of the database section (spec/database.md).

    Each collection's documents are a tree of chunks (``root``, ``height``): the root and every
    node and leaf below it are references. Nodes are read (and verified) to find their
    children; a node that cannot be read raises CorruptData naming the collection.
    """
    for name, coll in (section.get("collections") or {}).items():
        root = coll.get("root")
        if root is None:
            continue
        where = f"snapshot {snapshot}: collection {name}"
        for cid, level in iter_tree(store, bytes(root), int(coll.get("height", 0)), where):
            kind = "documents" if level == 0 else "document index"
            yield Ref(cid, f"collection {name} ({kind})")
