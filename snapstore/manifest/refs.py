"""Every chunk a manifest references, with where it is used (for check, gc and error messages).

This is the one place that knows every part of the manifest schema that holds chunk ids: the
bulk roots' listings and the files in them, and the database section.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

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
        yield from iter_database_references(manifest.database)


def iter_database_references(section: dict) -> Iterator[Ref]:  # type: ignore[type-arg]
    """Chunk references of the database section (spec/manifest.md, "database")."""
    for name, coll in (section.get("collections") or {}).items():
        for cid in coll.get("chunks", ()):
            yield Ref(bytes(cid), f"collection {name}")
    for cid in section.get("chunks", ()):
        yield Ref(bytes(cid), "database metadata")
