"""Planning a gc: mark what the manifests reference, then decide each pack's and archive's fate.

``plan_gc`` reads everything and writes nothing: it returns a ``GcPlan`` naming the packs to
keep, repack and delete, the archives to delete and rewrite, and the figures those decisions
fix. ``snapstore.maintenance.gc`` executes exactly that plan; a dry run renders ``GcPlan.preview()``
(restic's PlanPrune and DoPrune, spec/gc.md). Every refusal (a manifest, archive or index that
cannot be trusted) happens here, before anything is deleted.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, ObjectNotFound, RepositoryError
from snapstore.base.reporting import Reporter
from snapstore.maintenance.references import iter_references, root_chunk_ids
from snapstore.manifest.schema import Manifest
from snapstore.store import archives as arch
from snapstore.store.cache import Location
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.index import IndexObject
from snapstore.store.packs import PackEntry

# A pack (or archive) is rewritten when more than this share of its stored bytes is dead.
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
            if m.database is not None or m.sections:
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


Live = list[tuple[bytes, Location]]  # the live chunks of one pack and where they are


@dataclass
class PackPlan:
    """What the sweep does to each pack: ``keep`` (their live entries), ``repack`` (their live
    chunks go into new packs), ``drop`` (no live chunk), ``unindexed`` (named by no index
    object). ``rewrite_index``: a new index object is published (something changed, or
    leftovers of a crashed gc, or too many small index objects)."""

    keep: dict[str, list[PackEntry]] = field(default_factory=dict)
    repack: dict[str, Live] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    unindexed: list[str] = field(default_factory=list)
    live: set[bytes] = field(default_factory=set)  # chunks whose live copy is in a pack
    rewrite_index: bool = False


@dataclass(frozen=True)
class ArchiveStep:
    """One archive the sweep deletes (``needed`` empty) or rewrites with ``needed`` only."""

    name: str
    needed: tuple[bytes, ...]
    stored: int  # bytes of the archive and its index object
    estimate: int  # bytes a rewrite is expected to write (the dry run's figure)


@dataclass
class GcPlan:
    """Everything one gc will do, decided before anything is written (spec/gc.md).

    ``plan_gc`` builds it under the exclusive lock, ``execute_gc`` carries out exactly this
    plan, and a dry run renders ``preview()``: the object shown is the object run.
    ``counted`` holds the figures the plan alone fixes (live and dead chunks, packs deleted).
    """

    started: float
    marks: Marks
    archives: arch.ArchiveSet
    index_sizes: dict[str, int]
    pack_sizes: dict[str, int]
    packs: PackPlan
    archive_steps: list[ArchiveStep]
    orphans: dict[str, int]  # archives without an index object, and their sizes
    counted: GcResult

    def preview(self) -> GcResult:
        """What executing the plan is expected to do (``gc --dry-run``)."""
        r = dataclasses.replace(self.counted, dry_run=True)
        for pack, live in self.packs.repack.items():
            r.packs_repacked += 1
            r.bytes_deleted += self.pack_sizes[pack]
            r.bytes_written += sum(loc.length for _, loc in live)
        for step in self.archive_steps:
            r.bytes_deleted += step.stored
            r.bytes_written += step.estimate
            if step.needed:
                r.archives_rewritten += 1
            else:
                r.archives_deleted += 1
        r.bytes_deleted += sum(self.orphans.values())
        r.elapsed = time.monotonic() - self.started
        return r


def plan_gc(
    backend: Backend,
    store: ChunkStore,
    manifests: list[Manifest],
    reporter: Reporter,
    *,
    max_unused: float = DEFAULT_MAX_UNUSED,
    marks: Marks | None = None,
) -> GcPlan:
    """Mark, and decide the fate of every pack and archive; write nothing. Refuses (before
    anything is deleted) when some live chunk could be lost (spec/gc.md)."""
    started = time.monotonic()
    if not 0.0 <= max_unused <= 1.0:
        raise RepositoryError("max_unused must be between 0 and 1")
    store.cache.sync(backend)  # the store was opened before the lock: catch up
    if marks is None:
        marks = mark(manifests, store, reporter)
    archives = arch.ArchiveSet(backend, store.identity, store.codec).load()
    archive_sizes = {o.name: o.size for o in backend.list(Kind.ARCHIVES)}
    _refuse_broken_archives(archives, archive_sizes, marks)
    index_sizes = {o.name: o.size for o in backend.list(Kind.INDEX)}
    pack_sizes = {o.name: o.size for o in backend.list(Kind.PACKS)}
    counted = GcResult(snapshots=len(manifests), live_chunks=len(marks.refs))
    packs = _plan_packs(
        backend, marks, archives, sorted(index_sizes), pack_sizes, max_unused, counted
    )
    _refuse_unindexed_chunks(marks, packs.live, archives)
    steps = _plan_archives(archives, archive_sizes, marks, packs.live, max_unused)
    orphans = {name: archive_sizes.get(name, 0) for name in archives.orphans}
    return GcPlan(started, marks, archives, index_sizes, pack_sizes, packs, steps, orphans, counted)


def _refuse_broken_archives(archives: arch.ArchiveSet, sizes: dict[str, int], marks: Marks) -> None:
    """Pack copies of cold chunks are dropped on the strength of the archive copy: refuse
    unless every archive holding a referenced chunk is there, whole."""
    if archives.problems:
        raise RepositoryError(
            f"gc stopped before deleting anything: {archives.problems[0]}; run `snapstore check`"
        )
    for name, idx in sorted(archives.indexes.items()):
        if sizes.get(name) != idx.size and any(c in marks.refs for c in idx.chunks):
            what = "missing" if name not in sizes else "truncated or damaged"
            raise RepositoryError(
                f"gc stopped before deleting anything: archive {name[:16]} is {what}; "
                "run `snapstore check`"
            )


def _refuse_unindexed_chunks(
    marks: Marks, live_in_packs: set[bytes], archives: arch.ArchiveSet
) -> None:
    """A referenced chunk the index does not know may sit in an unindexed pack (a lost index
    object): deleting those packs would destroy it, so stop before deleting anything."""
    missing = [c for c in marks.refs if c not in live_in_packs and c not in archives.locations]
    if missing:
        raise RepositoryError(
            f"gc stopped before deleting anything: {len(missing)} referenced chunk(s) are in "
            f"no index (e.g. {missing[0].hex()[:16]}, used by "
            f"{marks.owner.get(missing[0], 'several snapshots')}); run `snapstore "
            "rebuild-index`, then `snapstore check`"
        )


def _plan_packs(
    backend: Backend,
    marks: Marks,
    archives: arch.ArchiveSet,
    index_names: list[str],
    pack_sizes: dict[str, int],
    max_unused: float,
    counted: GcResult,
) -> PackPlan:
    """Keep, repack or drop each indexed pack; count what that fixes into ``counted``."""
    by_pack, stale = _locations(backend, index_names, pack_sizes)
    # Leftovers of a crashed gc are tidied by publishing a fresh index, and many small index
    # objects are consolidated into one.
    plan = PackPlan(rewrite_index=stale or len(index_names) > 64)

    def pack_copy_live(cid: bytes) -> bool:
        # A cold chunk that an archive holds lives there; its pack copy is dead.
        return cid in marks.refs and not (marks.cold(cid) and cid in archives.locations)

    for pack, entries in sorted(by_pack.items()):
        live = [(c, loc) for c, loc in entries if pack_copy_live(c)]
        counted.dead_chunks += len(entries) - len(live)
        total = pack_sizes[pack]
        if not live:
            plan.drop.append(pack)
            counted.bytes_deleted += total
            counted.packs_deleted += 1
            plan.rewrite_index = True
            continue
        plan.live.update(c for c, _ in live)
        # Measured against the whole object: chunks dropped from the index by an earlier gc
        # still occupy the pack, so dead space keeps counting until the pack is rewritten.
        dead = total - sum(loc.length for _, loc in live) - _overhead(len(live))
        if dead > max_unused * total:
            plan.repack[pack] = live
            plan.rewrite_index = True
            continue
        plan.rewrite_index |= len(live) != len(entries)
        counted.dead_bytes_kept += max(0, dead)
        plan.keep[pack] = [
            PackEntry(c, loc.offset, loc.length, loc.raw_length, loc.method) for c, loc in live
        ]
    plan.unindexed = sorted(pack_sizes.keys() - by_pack.keys())
    counted.unindexed_packs = len(plan.unindexed)
    counted.bytes_deleted += sum(pack_sizes[p] for p in plan.unindexed)
    # An index object may still name an unindexed pack (a chunk indexed twice): publish the
    # new index before deleting it.
    plan.rewrite_index |= bool(plan.unindexed)
    return plan


def _plan_archives(
    archives: arch.ArchiveSet,
    sizes: dict[str, int],
    marks: Marks,
    live_in_packs: set[bytes],
    max_unused: float,
) -> list[ArchiveStep]:
    """The archives to delete (no live chunk) or rewrite (dead raw bytes over
    ``max_unused``), in name order; a chunk two archives hold is kept in the first."""
    steps: list[ArchiveStep] = []
    claimed: set[bytes] = set()  # needed chunks already kept in an earlier archive
    for name in sorted(archives.indexes):
        idx = archives.indexes[name]
        needed = tuple(
            c for c in idx.chunks if c in marks.refs and c not in live_in_packs and c not in claimed
        )
        size = sizes.get(name, 0)
        stored = size + sizes.get(arch.index_name(name), 0)
        if not needed:
            steps.append(ArchiveStep(name, (), stored, 0))
            continue
        claimed.update(needed)
        total = idx.raw_bytes()
        live_raw = sum(idx.raw_lengths.get(c, idx.chunks[c][2]) for c in needed)
        if total - live_raw > max_unused * total:
            steps.append(ArchiveStep(name, needed, stored, size * live_raw // max(1, total)))
    return steps


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
