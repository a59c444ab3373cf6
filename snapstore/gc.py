"""Garbage collection: mark every chunk the manifests reference, sweep packs and archives.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from snapstore.backend import Backend, Kind
from snapstore.errors import CorruptData, ObjectNotFound, RepositoryError
from snapstore.manifest.schema import Manifest
from snapstore.references import iter_references, root_chunk_ids
from snapstore.reporting import Reporter
from snapstore.store import archives as arch
from snapstore.store.cache import Location
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import short
from snapstore.store.index import IndexObject
from snapstore.store.packs import PackBuilder, PackEntry, read_whole

# A pack (or archive) is rewritten when more than this share of its stored bytes is dead.
log = logging.getLogger(__name__)

DEFAULT_MAX_UNUSED = 0.10
COMPRESSED = "tar.gz"  # the manifest `compression` value of a snapshot whose cold chunks moved


@dataclass
class Marks:
    """What the manifests reference.

    ``refs``: chunk -> number of snapshots that reference it; ``owner``: for chunks referenced
    by exactly one snapshot, that snapshot; ``hot``: chunks some non-compressed snapshot uses;
    ``listing``: chunks of file listings and document-tree nodes (metadata that mark and diff
    read: never archived).
    """

    refs: dict[bytes, int] = field(default_factory=dict)
    owner: dict[bytes, str] = field(default_factory=dict)
    hot: set[bytes] = field(default_factory=set)
    listing: set[bytes] = field(default_factory=set)

    def cold(self, cid: bytes) -> bool:
        return cid in self.refs and cid not in self.hot and cid not in self.listing


def is_compressed(m: Manifest) -> bool:
    return m.compression == COMPRESSED


def mark(
    manifests: Iterable[Manifest],
    store: ChunkStore,
    reporter: Reporter,
    *,
    cold_names: set[str] | None = None,
) -> Marks:
    """Reference counts derived from ``manifests``; ``cold_names`` counts as compressed too."""
    manifests = list(manifests)
    cold_names = cold_names or set()
    marks = Marks()
    # Snapshots of an unchanged tree share whole listings: decode each distinct one once.
    memo: dict[tuple[str, tuple[bytes, ...]], frozenset[bytes]] = {}
    reporter.start("Marking referenced chunks", len(manifests))
    for m in manifests:
        seen: set[bytes] = set()
        try:
            for root in m.bulk or []:
                marks.listing.update(root.listing)
                key = (root.path, tuple(root.listing))
                if key not in memo:
                    memo[key] = frozenset(root_chunk_ids(store, root, m.name))
                seen |= memo[key]
            if m.database is not None:
                for ref in iter_references(dataclasses.replace(m, bulk=None), store):
                    seen.add(ref.chunk)
                    if ref.hot:  # read to find the leaves (mark, diff): never archived
                        marks.listing.add(ref.chunk)
        except CorruptData as e:
            raise RepositoryError(
                f"gc stopped before deleting anything: snapshot {m.name} cannot be read "
                f"({e}); run `snapstore check`"
            ) from None
        hot = not (is_compressed(m) or m.name in cold_names)
        for cid in seen:
            n = marks.refs.get(cid, 0)
            marks.refs[cid] = n + 1
            if n == 0:
                marks.owner[cid] = m.name
            elif n == 1:
                marks.owner.pop(cid, None)
        if hot:
            marks.hot.update(seen)
        reporter.advance(1)
    reporter.finish()
    return marks


@dataclass
class GcResult:
    """What one gc did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    snapshots: int = 0
    live_chunks: int = 0
    dead_chunks: int = 0
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_written: int = 0
    unindexed_packs: int = 0
    index_objects_replaced: int = 0
    archives_deleted: int = 0
    archives_rewritten: int = 0
    archives_written: int = 0
    bytes_deleted: int = 0
    bytes_written: int = 0
    dead_bytes_kept: int = 0  # dead chunks left in packs under the max_unused threshold
    elapsed: float = 0.0

    @property
    def reclaimed_bytes(self) -> int:
        return self.bytes_deleted - self.bytes_written

    def as_dict(self) -> dict[str, object]:
        d = {k: v for k, v in self.__dict__.items()}
        d["reclaimed_bytes"] = self.reclaimed_bytes
        d["elapsed"] = round(self.elapsed, 3)
        return d


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
    """Mark and sweep. The caller holds the exclusive lock and passes every manifest.

    ``crash_hook(step)`` is called between the durable steps (tests kill the process there).
    """
    started = time.monotonic()
    hook = crash_hook or (lambda _step: None)
    if not 0.0 <= max_unused <= 1.0:
        raise RepositoryError("max_unused must be between 0 and 1")
    store.cache.sync(backend)  # the store was opened before the lock: catch up
    if marks is None:
        marks = mark(manifests, store, reporter)
    result = GcResult(dry_run=dry_run, snapshots=len(manifests))
    archives = arch.ArchiveSet(backend, store.identity, store.codec).load()
    if archives.problems:
        raise RepositoryError(
            f"gc stopped before deleting anything: {archives.problems[0]}; run `snapstore check`"
        )
    archive_sizes = {o.name: o.size for o in backend.list(Kind.ARCHIVES)}
    for name, idx in sorted(archives.indexes.items()):
        # Pack copies of cold chunks are dropped on the strength of the archive copy: make
        # sure the archive is there (and whole) before trusting it.
        if archive_sizes.get(name) != idx.size and any(c in marks.refs for c in idx.chunks):
            what = "missing" if name not in archive_sizes else "truncated or damaged"
            raise RepositoryError(
                f"gc stopped before deleting anything: archive {name[:16]} is {what}; "
                "run `snapstore check`"
            )

    # -- packs --------------------------------------------------------------------------------
    index_sizes = {o.name: o.size for o in backend.list(Kind.INDEX)}
    index_names = sorted(index_sizes)
    pack_sizes = {o.name: o.size for o in backend.list(Kind.PACKS)}
    by_pack, stale = _locations(backend, index_names, pack_sizes)

    def pack_copy_live(cid: bytes) -> bool:
        # A cold chunk that an archive holds lives there; its pack copy is dead.
        return cid in marks.refs and not (marks.cold(cid) and cid in archives.locations)

    keep: dict[str, list[PackEntry]] = {}
    repack: dict[str, list[tuple[bytes, Location]]] = {}
    drop: list[str] = []
    changed = stale  # leftovers of a crashed gc are tidied by publishing a fresh index
    live_in_packs: set[bytes] = set()
    for pack, entries in sorted(by_pack.items()):
        live = [(c, loc) for c, loc in entries if pack_copy_live(c)]
        live_bytes = sum(loc.length for _, loc in live)
        result.dead_chunks += len(entries) - len(live)
        if not live:
            drop.append(pack)
            result.bytes_deleted += pack_sizes[pack]
            result.packs_deleted += 1
            changed = True
            continue
        live_in_packs.update(c for c, _ in live)
        # Measured against the whole object: chunks dropped from the index by an earlier gc
        # still occupy the pack, so dead space keeps counting until the pack is rewritten.
        total = pack_sizes[pack]
        if total - live_bytes - _overhead(len(live)) > max_unused * total:
            repack[pack] = live
            changed = True
            continue
        if len(live) != len(entries):
            changed = True
        result.dead_bytes_kept += max(0, total - live_bytes - _overhead(len(live)))
        keep[pack] = [
            PackEntry(c, loc.offset, loc.length, loc.raw_length, loc.method) for c, loc in live
        ]
    unindexed = sorted(pack_sizes.keys() - by_pack.keys())
    result.unindexed_packs = len(unindexed)
    if unindexed:
        # An index object may still name such a pack (a chunk indexed twice): publish the
        # new index before deleting it.
        changed = True
    result.bytes_deleted += sum(pack_sizes[p] for p in unindexed)
    result.live_chunks = len(marks.refs)
    if len(index_names) > 64:
        changed = True  # consolidate many small index objects into one

    # A referenced chunk the index does not know may sit in an unindexed pack (a lost index
    # object): deleting those packs would destroy it, so stop before deleting anything.
    missing = [c for c in marks.refs if c not in live_in_packs and c not in archives.locations]
    if missing:
        raise RepositoryError(
            f"gc stopped before deleting anything: {len(missing)} referenced chunk(s) are in "
            f"no index (e.g. {missing[0].hex()[:16]}, used by "
            f"{marks.owner.get(missing[0], 'several snapshots')}); run `snapstore "
            "rebuild-index`, then `snapstore check`"
        )

    if not dry_run and changed:
        new_packs = _repack(backend, store, repack, pack_sizes, result, reporter)
        hook("packs-written")
        keep.update(new_packs)
        # No `supersedes`: index objects are named by their content, so a create after a
        # crash could write an object identical to a superseded one and readers would ignore
        # it (found by the stateful model). The order alone is safe: while an old object
        # exists, every pack it names still exists, and duplicate entries are harmless.
        name, data = IndexObject(packs=keep).encode()
        backend.put(Kind.INDEX, name, data)
        result.bytes_written += len(data)
        hook("index-written")
        for old in index_names:
            if old != name:
                backend.delete(Kind.INDEX, old)
                result.index_objects_replaced += 1
                result.bytes_deleted += index_sizes.get(old, 0)
        hook("old-index-deleted")
        store.cache.sync(backend)
        # The deletion set is fixed only now that the new index is durable, and never holds a
        # pack that index names: a repack may rebuild, byte for byte and so under the same
        # content-derived name, a pack that a killed gc left unindexed (spec/gc.md).
        for pack in sorted({*drop, *repack, *unindexed} - keep.keys()):
            log.info("deleting pack %s (no kept snapshot needs it)", pack)
            backend.delete(Kind.PACKS, pack)
        hook("old-packs-deleted")
    elif dry_run:
        for pack, live in repack.items():
            result.packs_repacked += 1
            result.bytes_deleted += pack_sizes[pack]
            result.bytes_written += sum(loc.length for _, loc in live)

    # -- archives -----------------------------------------------------------------------------
    _sweep_archives(
        backend, store, archives, marks, live_in_packs, max_unused, dry_run, result, hook
    )
    result.elapsed = time.monotonic() - started
    return result


def _locations(
    backend: Backend, index_names: list[str], pack_sizes: dict[str, int]
) -> tuple[dict[str, list[tuple[bytes, Location]]], bool]:
    """Chunk locations by pack, read from the index objects themselves (not the cache), and
    whether some object is superseded or names a missing pack (an index worth rewriting).

    Entries of superseded objects count too when their pack exists: packs are immutable and
    named by their content, so such an entry is a valid location; this keeps gc safe even when
    an object that a crashed gc superseded was written again by a create. Non-superseded
    objects are read first, so their locations win.
    """
    objects: dict[str, IndexObject] = {}
    for name in index_names:
        try:
            objects[name] = IndexObject.decode(backend.get(Kind.INDEX, name), name)
        except ObjectNotFound:
            continue
    superseded = {s for o in objects.values() for s in o.supersedes}
    order = sorted(objects, key=lambda n: (n in superseded, n))
    seen: set[bytes] = set()
    by_pack: dict[str, list[tuple[bytes, Location]]] = {}
    # A superseded object still present, or a `supersedes` list left behind: a gc was cut short.
    stale = bool(superseded & objects.keys()) or any(o.supersedes for o in objects.values())
    for name in order:
        for pack, entries in objects[name].packs.items():
            if pack not in pack_sizes:
                stale = True
                continue  # a pack deleted by an earlier gc: nothing to keep there
            for e in entries:
                if e.id not in seen:
                    seen.add(e.id)
                    loc = Location(pack, e.offset, e.length, e.raw_length, e.method)
                    by_pack.setdefault(pack, []).append((e.id, loc))
    return by_pack, stale


def _overhead(n: int) -> int:
    """Approximate bytes of a pack that are not chunk data (header, TOC, trailer)."""
    # header, trailer, TOC array header, and an upper bound per TOC row (id as bin8 of 34
    # bytes, three uint32 and a method byte): never under-estimated, so a pack just written
    # by a repack never looks dead enough to be rewritten again.
    return 8 + 16 + 5 + n * 56


def _repack(
    backend: Backend,
    store: ChunkStore,
    repack: dict[str, list[tuple[bytes, Location]]],
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
    archives: arch.ArchiveSet,
    marks: Marks,
    live_in_packs: set[bytes],
    max_unused: float,
    dry_run: bool,
    result: GcResult,
    hook: Callable[[str], None],
) -> None:
    sizes = {o.name: o.size for o in backend.list(Kind.ARCHIVES)}
    claimed: set[bytes] = set()  # needed chunks already kept in an earlier archive
    # Archives are named by their content: a rewrite may reproduce, under the same name, an
    # archive that a killed gc already wrote (indexed or orphaned). What this gc wrote is
    # never deleted by it.
    written: set[str] = set()
    for name in sorted(archives.indexes):
        idx = archives.indexes[name]
        needed = [
            c for c in idx.chunks if c in marks.refs and c not in live_in_packs and c not in claimed
        ]
        total = idx.raw_bytes()
        live_raw = sum(idx.chunks[c][2] for c in needed)
        size = sizes.get(name, 0)
        if name not in sizes and needed:
            raise RepositoryError(
                f"gc stopped: archive {name[:16]} holding live chunk {short(needed[0])} is "
                "missing; run `snapstore check`"
            )
        if not needed:
            if name in written:
                continue
            result.archives_deleted += 1
            result.bytes_deleted += size + sizes.get(arch.index_name(name), 0)
            if not dry_run:
                backend.delete(Kind.ARCHIVES, arch.index_name(name))  # index first
                hook("archive-index-deleted")
                backend.delete(Kind.ARCHIVES, name)
            continue
        claimed.update(needed)
        if total - live_raw <= max_unused * total:
            continue
        result.archives_rewritten += 1
        result.bytes_deleted += size + sizes.get(arch.index_name(name), 0)
        if dry_run:
            result.bytes_written += size * live_raw // max(1, total)
            continue
        builder = arch.ArchiveBuilder(
            executor=store.workers(), spool_dir=backend.spool_dir(), codec=store.codec
        )
        try:
            for cid in needed:
                builder.add(cid, archives.read(cid))
        except BaseException:
            builder.discard()
            raise
        new = arch.write_archive(backend, builder)
        written.add(new.archive)
        result.archives_written += 1
        result.bytes_written += new.size + len(new.encode())
        hook("archive-rewritten")
        if name not in written:
            backend.delete(Kind.ARCHIVES, arch.index_name(name))
            backend.delete(Kind.ARCHIVES, name)
    for orphan in archives.orphans:
        if orphan in written:
            continue
        result.bytes_deleted += sizes.get(orphan, 0)
        if not dry_run:
            backend.delete(Kind.ARCHIVES, orphan)
