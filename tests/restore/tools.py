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
from snapstore.manifest.schema import BulkRoot, Manifest
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


def hostile_listings(elsewhere: bytes) -> dict[str, list[dict[str, Any]]]:
    """Listings restore must refuse, by case name; ``elsewhere`` is a folder outside the
    target that symlinks point at (tests/restore/test_hostile.py, tests/test_check_hostile.py)."""
    root = entry(b"", "d")
    return {
        "symlink_then_file": [root, entry(b"a", "l", l=elsewhere), entry(b"a/evil")],
        "symlink_then_dir": [root, entry(b"a", "l", l=elsewhere), entry(b"a/sub", "d")],
        "relative_parent": [root, entry(b"a", "l", l=b"../elsewhere"), entry(b"a/evil")],
        "chain": [
            root,
            entry(b"b", "l", l=elsewhere),
            entry(b"c", "l", l=b"b"),
            entry(b"c/evil"),
        ],
        "dir_then_symlink": [root, entry(b"x", "d"), entry(b"x", "l", l=elsewhere)],
        "symlink_then_same_dir": [
            root,
            entry(b"x", "l", l=elsewhere),
            entry(b"x", "d"),
            entry(b"x/evil"),
        ],
        "duplicate_file": [root, entry(b"x"), entry(b"x")],
        "root_is_a_file": [entry(b"")],
        "no_root_entry": [entry(b"x")],
        "file_below_a_file": [root, entry(b"x"), entry(b"x/y")],
        "missing_parent": [root, entry(b"x/y/z")],
        "out_of_order": [root, entry(b"b"), entry(b"a")],
        "dotdot_name": [root, entry(b"../elsewhere/evil")],
        "absolute_name": [root, entry(elsewhere + b"/evil")],
        "nul_in_name": [root, entry(b"a\x00b")],
        "nul_in_target": [root, entry(b"a", "l", l=b"x\x00y")],
        "huge_uid": [root, entry(b"a", u=2**40, g=0)],
        "negative_mode": [root, entry(b"a", m=-1)],
        "huge_mtime": [root, entry(b"a", mt=2**64 - 1)],
        "unknown_type": [root, entry(b"a", "x")],
        "path_not_bytes": [root, entry("a")],  # type: ignore[arg-type]
    }


# Root labels restore --target must refuse; "ABS" stands for an absolute path outside the target.
HOSTILE_LABELS = ["..", "../elsewhere", "ABS", "a/b", "", "."]
# Recorded root paths that are not safe targets; "{tmp}" is the test's tmp dir (never aim one
# at a real system folder).
HOSTILE_ROOT_PATHS = ["relative/dir", "{tmp}/a/../../escaped", "{tmp}/bulk/.."]


def two_roots(store: ChunkStore, m: Manifest, labels: tuple[str, str]) -> None:
    """Give ``m`` two roots labelled ``labels`` (the first root's listing twice)."""
    assert m.bulk is not None
    first = m.bulk[0]
    m.bulk = [
        BulkRoot(first.path, labels[0], first.listing, first.files, first.dirs),
        BulkRoot(first.path + "_other", labels[1], first.listing, first.files, first.dirs),
    ]
