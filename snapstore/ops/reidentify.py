"""Re-identification: a snapshot rewritten with the destination's chunk ids (spec/copy.md,
"Re-identification").

Two repositories whose chunk ids differ (an encrypted one keys its ids) cannot share ids: every
chunk gets the destination's id of its bytes, and every chunk that names other chunks is
rewritten to name the new ids, bottom-up:

- a bulk root's file listing: each entry's ``c`` (its content's chunk ids) is translated, and
  the listing is stored again with the destination's listing chunker (``store_listing``), which
  gives new listing chunks and so new ids in the manifest's ``listing``;
- a collection's document tree: leaves are translated, each node is re-encoded with its
  children's new ids (same keys, counts and digests; ids are 32 bytes on both sides, so the
  node sizes and therefore the tree's shape stay the same) and stored, up to the new root.

Data chunks (file content, document leaves) keep their bytes and boundaries; only their names
change. The manifest's other fields are kept as they are.
"""

from __future__ import annotations

import copy as copying
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from snapstore.manifest.listing import FileEntry, load_listing, store_listing
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.ops.copy_send import Plan, Sender
from snapstore.sources.arangodb.doctree import encode_node, read_node
from snapstore.store.chunkstore import ChunkStore

# Listing entries translated together (one batched lookup and read of their chunks).
ENTRY_BATCH = 512


def same_ids(src: ChunkStore, dst: ChunkStore) -> bool:
    """Whether both stores give the same bytes the same id (then nothing is rewritten and
    chunks move as they are, whatever their chunkers: an id names content, not cuts)."""
    probe = b"snapstore copy: id probe"
    return src.identity.id(probe) == dst.identity.id(probe)


def reidentify(m: Manifest, sender: Sender) -> Manifest:
    """``m`` as the destination names it; every chunk it needs is in the destination's
    store (not yet flushed) when this returns."""
    bulk = None if m.bulk is None else [_root(r, sender, m.name) for r in m.bulk]
    database = None if m.database is None else _database(m.database, sender, m.name)
    return replace(m, bulk=bulk, database=database)


def _root(root: BulkRoot, sender: Sender, snapshot: str) -> BulkRoot:
    where = f"snapshot {snapshot}: bulk root {root.path}"
    entries = load_listing(sender.src, root.listing, where)  # verified and validated
    listing = store_listing(sender.dst, _translated(entries, sender))
    return replace(root, listing=listing)


def _translated(entries: Iterator[FileEntry], sender: Sender) -> Iterator[FileEntry]:
    """The listing entries with each file's chunk ids translated, in order."""
    for batch in _entry_batches(entries):
        yield from _translate_batch(batch, sender)


def _translate_batch(batch: list[FileEntry], sender: Sender) -> list[FileEntry]:
    files = [e for e in batch if e.chunks]
    if not files:
        return batch
    if sender.chunker is not None:  # different chunkers: contents are cut again
        cuts = iter(sender.recut([(e.chunks, e.size) for e in files]))
        return [replace(e, chunks=next(cuts)) if e.chunks else e for e in batch]
    new = iter(sender.translate([c for e in files for c in e.chunks]))
    return [replace(e, chunks=tuple(next(new) for _ in e.chunks)) if e.chunks else e for e in batch]


def _database(section: dict[str, Any], sender: Sender, snapshot: str) -> dict[str, Any]:
    out = copying.deepcopy(section)
    for name, coll in (out.get("collections") or {}).items():
        root = coll.get("root")
        if root is not None:
            where = f"snapshot {snapshot}: collection {name}"
            coll["root"] = _tree(bytes(root), int(coll.get("height", 0)), sender, where)
    return out


def _tree(cid: bytes, level: int, sender: Sender, where: str) -> bytes:
    """The destination's id of the (sub)tree rooted at ``cid``, rewritten bottom-up."""
    if level == 0:
        return sender.translate([cid])[0]
    done = sender.known(cid)
    if done is not None:  # rewritten by an earlier copy, still in the destination
        return done
    entries = read_node(sender.src, cid, level, where)
    if level == 1:
        children = sender.translate([e.child for e in entries])
    else:
        children = [_tree(e.child, level - 1, sender, where) for e in entries]
    node = encode_node(level, [replace(e, child=c) for e, c in zip(entries, children, strict=True)])
    return sender.put(node, source_id=cid)


def plan_reidentified(m: Manifest, sender: Sender) -> Plan:
    """A dry run of ``reidentify``: what it would send, as far as the id map can tell (data
    chunks it vouches for are not counted; listings and nodes it cannot vouch for count as
    rewritten, with their source sizes). Nothing is written."""
    plan = Plan()
    for root in m.bulk or []:
        sender.plan(root.listing, plan)  # rewritten whenever a file's ids change: an upper bound
        entries = load_listing(
            sender.src, root.listing, f"snapshot {m.name}: bulk root {root.path}"
        )
        for batch in _entry_batches(entries):
            files = [(e.chunks, e.size) for e in batch if e.chunks]
            if sender.chunker is not None:
                sender.plan_files(files, plan)
            else:
                sender.plan([c for ids, _ in files for c in ids], plan)
    for name, coll in ((m.database or {}).get("collections") or {}).items():
        if coll.get("root") is not None:
            where = f"snapshot {m.name}: collection {name}"
            _plan_tree(bytes(coll["root"]), int(coll.get("height", 0)), sender, where, plan)
    return plan


def _entry_batches(entries: Iterator[FileEntry]) -> Iterator[list[FileEntry]]:
    batch: list[FileEntry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= ENTRY_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _plan_tree(cid: bytes, level: int, sender: Sender, where: str, plan: Plan) -> None:
    if level == 0:
        sender.plan([cid], plan)
        return
    if sender.known(cid) is not None:
        return
    entries = read_node(sender.src, cid, level, where)
    sender.plan([cid], plan)
    if level == 1:
        sender.plan([e.child for e in entries], plan)
        return
    for e in entries:
        _plan_tree(e.child, level - 1, sender, where, plan)
