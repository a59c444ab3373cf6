"""Garbage collection: execute the plan ``snapstore.maintenance.gc_plan`` made (mark, then sweep).

``collect_garbage`` is plan then execute: ``plan_gc`` marks every chunk the manifests
reference and decides each pack's and archive's fate without writing anything; a dry run
returns the plan's preview, and ``execute_gc`` carries out exactly that plan.

Reference counts are never stored: they are derived from the manifests on every run (mark),
so they can always be rebuilt and can never drift. The sweep (spec/gc.md) then:

1. deletes packs that no index names (leftovers of interrupted creates or gcs);
2. writes new packs holding the live chunks of packs whose dead share exceeds ``max_unused``
   (stored bytes copied as they are, each chunk verified first);
3. writes ONE new index object naming every live chunk of every kept and new pack: durable
   before anything is deleted;
4. deletes the old index objects, and only then the packs no longer indexed (so while any old
   index object exists, every pack it names exists: no ``supersedes`` is needed, see
   spec/gc.md for why gc avoids it);
5. does the same for cold archives: archives with no live chunk are deleted (index object
   first, then the archive), archives over ``max_unused`` are rewritten (new archive and index
   durable first), archives without an index are removed.

A chunk may transiently be both in a pack and in an archive (an interrupted archive run, or a
new snapshot that re-stored an archived chunk). One copy is live: the archive copy if the chunk
is *cold* (only compressed snapshots use it), the pack copy otherwise. File listings are never
archived: they stay in packs so that marking and diff never inflate archives.

The caller holds the exclusive lock, so no create or restore runs meanwhile. A crash at any
point leaves the old index objects (with some unindexed new packs), or old and new ones side
by side (duplicate entries pointing into packs that all exist), or the new one with unindexed
old packs: all pass ``check`` and restore every snapshot, and the next gc tidies up.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from snapstore.backend import Backend, Kind
from snapstore.base.reporting import Reporter
from snapstore.maintenance.gc_plan import (
    COMPRESSED,
    DEFAULT_MAX_UNUSED,
    GcPlan,
    GcResult,
    Live,
    Marks,
    is_compressed,
    mark,
    plan_gc,
)
from snapstore.manifest.schema import Manifest
from snapstore.store import archives as arch
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.index import IndexObject
from snapstore.store.packs import PackBuilder, PackEntry, read_whole

# Re-exported: callers import the gc's records and its marking from here.
__all__ = [
    "COMPRESSED",
    "DEFAULT_MAX_UNUSED",
    "GcPlan",
    "GcResult",
    "Marks",
    "collect_garbage",
    "execute_gc",
    "is_compressed",
    "mark",
    "plan_gc",
]

log = logging.getLogger(__name__)


def collect_garbage(
    backend: Backend,
    store: ChunkStore,
    manifests: list[Manifest],
    reporter: Reporter,
    *,
    max_unused: float = DEFAULT_MAX_UNUSED,
    dry_run: bool = False,
    marks: Marks | None = None,
    crash_hook: Callable[[str], None] | None = None,
) -> GcResult:
    """Mark and sweep: ``plan_gc`` then ``execute_gc`` (or, with ``dry_run``, the plan's
    preview). The caller holds the exclusive lock and passes every manifest."""
    plan = plan_gc(backend, store, manifests, reporter, max_unused=max_unused, marks=marks)
    if dry_run:
        return plan.preview()
    return execute_gc(backend, store, plan, reporter, crash_hook=crash_hook)


def execute_gc(
    backend: Backend,
    store: ChunkStore,
    plan: GcPlan,
    reporter: Reporter,
    *,
    crash_hook: Callable[[str], None] | None = None,
) -> GcResult:
    """Carry out ``plan`` in the order that makes every crash harmless (spec/gc.md, "Order of
    writes"). ``crash_hook(step)`` is called between the durable steps (tests kill the
    process there)."""
    hook = crash_hook or (lambda _step: None)
    result = dataclasses.replace(plan.counted)
    if plan.packs.rewrite_index:
        _sweep_packs(backend, store, plan, result, reporter, hook)
    _sweep_archives(backend, store, plan, result, hook)
    result.elapsed = time.monotonic() - plan.started
    return result


def _sweep_packs(
    backend: Backend,
    store: ChunkStore,
    plan: GcPlan,
    result: GcResult,
    reporter: Reporter,
    hook: Callable[[str], None],
) -> None:
    """Repack, publish one new index object, delete the old ones, then the dead packs."""
    packs = plan.packs
    keep = dict(packs.keep)
    keep.update(_repack(backend, store, packs.repack, plan.pack_sizes, result, reporter))
    hook("packs-written")
    # No `supersedes`: index objects are named by their content, so a create after a crash
    # could write an object identical to a superseded one and readers would ignore it (found
    # by the stateful model). The order alone is safe: while an old object exists, every pack
    # it names still exists, and duplicate entries are harmless.
    name, data = IndexObject(packs=keep).encode()
    backend.put(Kind.INDEX, name, data)
    result.bytes_written += len(data)
    hook("index-written")
    for old in sorted(plan.index_sizes):
        if old != name:
            backend.delete(Kind.INDEX, old)
            result.index_objects_replaced += 1
            result.bytes_deleted += plan.index_sizes[old]
    hook("old-index-deleted")
    store.cache.sync(backend)
    # The deletion set is fixed only now that the new index is durable, and never holds a
    # pack that index names: a repack may rebuild, byte for byte and so under the same
    # content-derived name, a pack that a killed gc left unindexed (spec/gc.md).
    for pack in sorted({*packs.drop, *packs.repack, *packs.unindexed} - keep.keys()):
        log.info("deleting pack %s (no kept snapshot needs it)", pack)
        backend.delete(Kind.PACKS, pack)
    hook("old-packs-deleted")


def _repack(
    backend: Backend,
    store: ChunkStore,
    repack: dict[str, Live],
    pack_sizes: dict[str, int],
    result: GcResult,
    reporter: Reporter,
) -> dict[str, list[PackEntry]]:
    """Copy the live chunks of ``repack`` into new packs; return their index entries."""
    written: dict[str, list[PackEntry]] = {}
    builder = PackBuilder(store.codec)

    def flush() -> None:
        nonlocal builder
        if not len(builder):
            return
        name, data = builder.finish()
        backend.put(Kind.PACKS, name, data)
        written[name] = builder.entries
        result.packs_written += 1
        result.bytes_written += len(data)
        builder = PackBuilder(store.codec)

    reporter.start("Repacking", sum(pack_sizes[p] for p in repack))
    for pack, live in sorted(repack.items()):
        data = backend.get(Kind.PACKS, pack)
        read_whole(data, pack[:16], store.codec)  # header, trailer, TOC intact
        for cid, loc in live:
            stored = data[loc.offset : loc.offset + loc.length]
            # Never copy damage into a new pack under the same id.
            store.verify(cid, stored, loc, f"pack {pack[:16]}")
            builder.add(cid, stored, loc.raw_length, loc.method)
            if builder.size >= store.config.pack_size:
                flush()
        result.packs_repacked += 1
        result.bytes_deleted += pack_sizes[pack]
        reporter.advance(pack_sizes[pack])
    flush()
    reporter.finish()
    return written


def _sweep_archives(
    backend: Backend,
    store: ChunkStore,
    plan: GcPlan,
    result: GcResult,
    hook: Callable[[str], None],
) -> None:
    """Delete and rewrite the planned archives (new archive and index durable before the old
    index goes, the old index before the old archive), then the orphaned archives."""
    # Archives are named by their content: a rewrite may reproduce, under the same name, an
    # archive that a killed gc already wrote (indexed or orphaned). What this gc wrote is
    # never deleted by it.
    written: set[str] = set()
    for step in plan.archive_steps:
        if not step.needed and step.name in written:
            continue
        result.bytes_deleted += step.stored
        if not step.needed:
            result.archives_deleted += 1
            backend.delete(Kind.ARCHIVES, arch.index_name(step.name))  # index first
            hook("archive-index-deleted")
            backend.delete(Kind.ARCHIVES, step.name)
            continue
        result.archives_rewritten += 1
        new = _rewrite_archive(backend, store, plan.archives, step.needed)
        written.add(new.archive)
        result.archives_written += 1
        result.bytes_written += new.size + len(new.encode())
        hook("archive-rewritten")
        if step.name not in written:
            backend.delete(Kind.ARCHIVES, arch.index_name(step.name))
            backend.delete(Kind.ARCHIVES, step.name)
    for orphan, size in plan.orphans.items():
        if orphan not in written:
            result.bytes_deleted += size
            backend.delete(Kind.ARCHIVES, orphan)


def _rewrite_archive(
    backend: Backend, store: ChunkStore, archives: arch.ArchiveSet, needed: tuple[bytes, ...]
) -> arch.ArchiveIndex:
    """A new archive (and its index, both durable) holding only ``needed``."""
    builder = arch.ArchiveBuilder(
        executor=store.workers(), spool_dir=backend.spool_dir(), codec=store.codec
    )
    try:
        for cid in needed:
            builder.add(cid, archives.read(cid))
    except BaseException:
        builder.discard()
        raise
    return arch.write_archive(backend, builder)
