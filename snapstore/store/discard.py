"""Removing the packs a failed create wrote (spec/repository.md, "A failed create").

A create that fails (a full disk, say) has put packs that no index object names yet
(``ChunkStore.abandon`` lists them). Only this process knows their chunks, so no snapshot
can use them; but a pack is named by the hash of its bytes, and another create that packed
the very same new chunks in the same order has put a pack of the same name, which its index
object names or will name. So the packs are removed only under the exclusive lock (no
create runs meanwhile) and only when no index object names them. Packs an interim index
object of the failed create already names may hold chunks another create reused: those are
left to ``gc``, which checks every snapshot's references.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapstore.backend import Backend, Kind
from snapstore.base.errors import ObjectNotFound
from snapstore.store.index import IndexObject


@dataclass(frozen=True)
class Discarded:
    """What removing a failed create's packs did."""

    removed: int  # packs removed
    removed_bytes: int
    kept_bytes: int  # packs left because an index object names them


def discard_unindexed(backend: Backend, packs: list[str]) -> Discarded:
    """Remove ``packs`` that no index object in ``backend`` names. The caller holds the
    exclusive lock."""
    named: set[str] = set()
    for info in backend.list(Kind.INDEX):
        try:
            obj = IndexObject.decode(backend.get(Kind.INDEX, info.name), info.name)
        except ObjectNotFound:
            continue
        named.update(obj.packs)
    removed = removed_bytes = kept_bytes = 0
    for name in packs:
        try:
            size = backend.stat(Kind.PACKS, name).size
        except ObjectNotFound:
            continue
        if name in named:
            kept_bytes += size
            continue
        backend.delete(Kind.PACKS, name)
        removed += 1
        removed_bytes += size
    return Discarded(removed, removed_bytes, kept_bytes)
