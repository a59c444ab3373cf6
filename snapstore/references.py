"""Every chunk a manifest references, with where it is used (for check, gc and error messages).

This is the one place that knows every part of the manifest schema that holds chunk ids: the
bulk roots' listings and the files in them, and the database section. A reference is *hot*
when the chunk is metadata that is read to find other chunks (a listing chunk, a document
tree's node): gc and archives keep such chunks in packs, never in cold archives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import msgpack

from snapstore.errors import CorruptData
from snapstore.manifest.listing import load_listing
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.sources.arangodb.doctree import iter_tree
from snapstore.store.chunkstore import ChunkStore


@dataclass(frozen=True, slots=True)
class Ref:
    """One reference: a chunk id and a human-readable place (``file a/b``, ``collection c``)."""

    chunk: bytes
    where: str
    hot: bool = False  # metadata read to find other chunks (listings, tree nodes)


def iter_references(manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
    """Yield every chunk reference of ``manifest``; listings are read (and verified) as needed."""
    for root in manifest.bulk or []:
        for cid in root.listing:
            yield Ref(cid, f"listing of {root.path}", hot=True)
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
            yield Ref(cid, f"collection {name} ({kind})", hot=level > 0)


def root_chunk_ids(store: ChunkStore, root: BulkRoot, snapshot: str) -> set[bytes]:
    """Every chunk id of one bulk root: its listing chunks and the chunks of its files.

    The same set ``iter_references`` gives for the root (a test holds them equal), without
    building a FileEntry and a place name per file: on 100 snapshots of 20,000 files that is
    most of gc's time. It reads the listing's msgpack maps directly and takes their ``c``
    (chunks) field, see ``FileEntry.to_map``.
    """
    out = set(root.listing)
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
    try:
        for data in store.read_many(root.listing):
            unpacker.feed(data)
            for d in unpacker:
                out.update(d.get("c", ()))
    except (ValueError, TypeError, AttributeError, msgpack.UnpackException) as e:
        raise CorruptData(
            f"snapshot {snapshot}: {root.path}: file listing is damaged ({e})"
        ) from None
    return out
