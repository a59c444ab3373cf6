"""Building hostile snapshots by hand: a real snapshot whose listing (or root labels) are then
replaced in the repository, as a corrupted or malicious repository would hold them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgpack

from snapstore.backend.local import LocalBackend
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import listing_params
from snapstore.manifest.schema import Manifest
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace


def raw_listing(store: ChunkStore, maps: Iterable[dict[str, Any]]) -> list[bytes]:
    """Store entry maps as a listing, without going through FileEntry (so anything goes)."""
    packer = msgpack.Packer(use_bin_type=True)
    data = b"".join(packer.pack(m) for m in maps)
    chunker = Chunker(listing_params(store.config.chunker))
    return [store.add(bytes(piece))[0] for piece in chunker.cut_bytes(data)]


def entry(path: bytes, kind: str = "f", **more: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"p": path, "t": kind, "m": 0o755 if kind == "d" else 0o644, "mt": 0}
    if kind == "f":
        d.update(s=0, c=[])
    d.update(more)
    return d


def edit_snapshot(ws: Workspace, name: str, change: Callable[[ChunkStore, Manifest], None]) -> None:
    """Rewrite snapshot ``name`` in ``ws``'s repository with ``change(store, manifest)``."""
    backend = LocalBackend(ws.repo)
    store = ChunkStore.open(backend, str(ws.cache))
    try:
        m = Catalog(backend).load(name)
        change(store, m)
        store.flush()
        Catalog(backend).replace(m)
    finally:
        store.close()


def set_listing(ws: Workspace, name: str, maps: list[dict[str, Any]], root: int = 0) -> None:
    def change(store: ChunkStore, m: Manifest) -> None:
        assert m.bulk is not None
        m.bulk[root].listing = raw_listing(store, maps)

    edit_snapshot(ws, name, change)


def snapshot_of(ws: Workspace, description: str, *extra: str) -> str:
    from tests.helpers import created_name, ok

    return created_name(ok(ws.run("create", description, "--no-db", *extra)).stdout)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
