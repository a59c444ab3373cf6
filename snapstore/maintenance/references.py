"""Every chunk a manifest references, with where it is used (for check, gc and error messages).

Each part of a snapshot answers for itself (``sources.base.SnapshotPart``): the bulk roots'
listings and files (``sources.files.capture.BulkPart``) and the database section's document trees
(``sources.arangodb.doctree.DatabasePart``) and the other sources' sections
(``sources.registry``, which lists them all). This module asks all of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.sources.arangodb.doctree import iter_database_references
from snapstore.sources.base import Ref
from snapstore.sources.files.capture import BulkPart
from snapstore.sources.registry import parts
from snapstore.store.chunkstore import ChunkStore

__all__ = ["Ref", "iter_database_references", "iter_references", "root_chunk_ids"]


def iter_references(manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
    """Yield every chunk reference of ``manifest``; listings are read (and verified) as needed."""
    for part in parts():
        yield from part.references(manifest, store)


def root_chunk_ids(store: ChunkStore, root: BulkRoot, snapshot: str) -> set[bytes]:
    """Every chunk id of one bulk root, fast (gc): see ``BulkPart.root_chunk_ids``."""
    return BulkPart.root_chunk_ids(store, root, snapshot)
