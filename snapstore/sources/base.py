"""What every part of a snapshot answers for the operations above the sources.

A snapshot holds parts of different kinds (the bulk roots, a database), each written and read
by its own source. Check, gc and archives only need one answer from each: which chunks the
part needs (``references``). Capture and restore differ too much in shape to share a
signature (a tree walk against a server dump) and stay each source's own
(``sources.files.capture``, ``sources.files.restore``; ``sources.database.DatabaseSource``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore


@dataclass(frozen=True, slots=True)
class Ref:
    """One reference: a chunk id and a human-readable place (``file a/b``, ``collection c``).
    ``hot``: metadata that is read to find other chunks (a listing chunk, a document tree's
    node): gc and archives keep such chunks in packs, never in cold archives."""

    chunk: bytes
    where: str
    hot: bool = False


class SnapshotPart(Protocol):
    """One kind of data in a snapshot, as the operations over manifests see it."""

    def references(self, manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
        """Every chunk this part of ``manifest`` needs (nothing if the manifest has none of
        it). Metadata chunks are read, and verified, to find the rest; a damaged one raises
        CorruptData naming the snapshot and the place."""
        ...
