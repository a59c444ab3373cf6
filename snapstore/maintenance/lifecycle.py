"""Cleanup and cold archiving: apply the retention policy's decisions to the repository.

``snapstore cleanup`` and the automatic run after ``create`` plan, then execute:
``plan_cleanup`` decides (``snapstore.base.retention``) and changes nothing; ``execute_cleanup``,
under the exclusive lock the caller holds, deletes the manifests of snapshots whose fate is
``delete``, moves the chunks that only compressed snapshots use into tar.gz archives
(``archive_cold``), flags the newly compressed snapshots, and collects garbage.
``snapshot_usage`` answers ``list --verbose``'s "used by this snapshot alone".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from snapstore.backend import Backend
from snapstore.base.errors import RepositoryError
from snapstore.base.reporting import Reporter
from snapstore.base.retention import Decision, Fate, RetentionPolicy, SnapshotFacts, apply_policy
from snapstore.maintenance.gc import (
    COMPRESSED,
    DEFAULT_MAX_UNUSED,
    GcResult,
    Marks,
    collect_garbage,
    is_compressed,
    mark,
)
from snapstore.maintenance.references import iter_references
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.schema import Manifest
from snapstore.store import archives as arch
from snapstore.store.chunkstore import ChunkStore


@dataclass
class ArchiveResult:
    """What moving cold chunks into archives did."""

    snapshots: list[str] = field(default_factory=list)  # newly flagged as compressed
    chunks: int = 0
    raw_bytes: int = 0
    lz4_bytes: int = 0  # what the moved chunks occupied in packs
    archive_bytes: int = 0  # tar.gz archive objects written
    index_bytes: int = 0  # their archive index objects
    archives_written: int = 0
    elapsed: float = 0.0
    gc: GcResult | None = None  # the gc that dropped the pack copies (manager.archive)

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["elapsed"] = round(self.elapsed, 3)
        d["gc"] = self.gc.as_dict() if self.gc else None
        return d


@dataclass
class CleanupResult:
    """The policy's decisions and what applying them did (nothing, with ``dry_run``)."""

    now: datetime
    dry_run: bool
    policy: RetentionPolicy
    decisions: list[Decision]
    deleted: list[str] = field(default_factory=list)
    compressed: list[str] = field(default_factory=list)
    archive: ArchiveResult | None = None
    gc: GcResult | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "now": self.now.isoformat().replace("+00:00", "Z"),
            "dry_run": self.dry_run,
            "policy": self.policy.to_mapping(),
            "decisions": [d.as_dict() for d in self.decisions],
            "deleted": self.deleted,
            "compressed": self.compressed,
            "archive": self.archive.as_dict() if self.archive else None,
            "gc": self.gc.as_dict() if self.gc else None,
        }


def facts_of(m: Manifest) -> SnapshotFacts:
    return SnapshotFacts(
        name=m.name,
        created=m.created_at,
        permanent=m.permanent,
        safety=m.kind == "safety",
        compressed=is_compressed(m),
    )


def load_manifests(backend: Backend, what: str) -> list[Manifest]:
    """Every manifest; refuse to go on when one cannot be read (its references are unknown)."""
    listing = Catalog(backend).load_all()
    if listing.problems:
        raise RepositoryError(
            f"{what} stopped before changing anything: {listing.problems[0]} "
            "(delete or repair that snapshot first; `snapstore check` lists all problems)"
        )
    return listing.manifests


def decide(manifests: list[Manifest], now: datetime, policy: RetentionPolicy) -> list[Decision]:
    return apply_policy((facts_of(m) for m in manifests), now, policy)


@dataclass
class CleanupPlan:
    """What one cleanup will do, decided before anything changes: the policy's decision for
    every snapshot, made at ``now`` on ``manifests`` (every manifest of the repository).

    ``plan_cleanup`` builds it, a dry run renders ``preview()``, the confirmation shows its
    ``doomed``, and ``execute_cleanup`` carries out this very plan (spec/retention.md).
    """

    now: datetime
    policy: RetentionPolicy
    decisions: list[Decision]
    manifests: list[Manifest]

    @property
    def doomed(self) -> list[Decision]:
        """The snapshots the plan deletes, in the decisions' order (newest first)."""
        return [d for d in self.decisions if d.fate is Fate.DELETE]

    @property
    def to_compress(self) -> set[str]:
        return {d.name for d in self.decisions if d.fate is Fate.COMPRESS}

    def has_work(self) -> bool:
        """Whether the plan deletes or compresses a snapshot."""
        return bool(self.doomed or self.to_compress)

    def preview(self) -> CleanupResult:
        """The decisions, nothing applied (``cleanup --dry-run``)."""
        return CleanupResult(self.now, True, self.policy, self.decisions)

    def decided_on(self) -> list[tuple[str, bool, str | None]]:
        """What the decisions depend on, per snapshot: name, permanent flag, compression."""
        return [(m.name, m.permanent, m.compression) for m in self.manifests]


def plan_cleanup(backend: Backend, policy: RetentionPolicy, now: datetime) -> CleanupPlan:
    """Decide every snapshot's fate as of ``now``; change nothing."""
    manifests = load_manifests(backend, "cleanup")
    return CleanupPlan(now, policy, decide(manifests, now, policy), manifests)


def still_valid(backend: Backend, plan: CleanupPlan) -> bool:
    """Whether the repository's snapshots are still those ``plan`` decided on (a plan made
    under an earlier lock, then confirmed: a create, delete or pin meanwhile voids it)."""
    now = [(m.name, m.permanent, m.compression) for m in load_manifests(backend, "cleanup")]
    return now == plan.decided_on()


def execute_cleanup(
    backend: Backend,
    store: ChunkStore,
    plan: CleanupPlan,
    reporter: Reporter,
    *,
    always_gc: bool = True,
    max_unused: float = DEFAULT_MAX_UNUSED,
) -> CleanupResult:
    """Delete, archive, collect, as ``plan`` says. The caller holds the exclusive lock (and
    made or checked the plan under it). ``always_gc``: collect even when the plan deletes
    and compresses nothing."""
    result = CleanupResult(
        now=plan.now, dry_run=False, policy=plan.policy, decisions=plan.decisions
    )
    catalog = Catalog(backend)
    doomed = {d.name for d in plan.doomed}
    for name in sorted(doomed):
        catalog.delete(name)
        result.deleted.append(name)
    if not (always_gc or plan.has_work()):
        return result
    kept = [m for m in plan.manifests if m.name not in doomed]
    result.archive, marks = archive_cold(backend, store, kept, plan.to_compress, reporter)
    result.compressed = list(result.archive.snapshots)
    result.gc = collect_garbage(backend, store, kept, reporter, max_unused=max_unused, marks=marks)
    return result


def archive_cold(
    backend: Backend,
    store: ChunkStore,
    manifests: list[Manifest],
    to_compress: set[str],
    reporter: Reporter,
) -> tuple[ArchiveResult, Marks]:
    """Move every cold chunk (used only by compressed snapshots and ``to_compress``) that is
    still in a pack into new archives, then flag ``to_compress`` as compressed.

    Crash safety: each archive and its index are durable before anything else changes; the
    pack copies are dropped later by gc, which publishes a new pack index first. Returns the
    marks (as they are once the flags are set) for the gc that must follow.
    """
    started = time.monotonic()
    result = ArchiveResult()
    marks = mark(manifests, store, reporter, cold_names=to_compress)
    cold = [m for m in manifests if is_compressed(m) or m.name in to_compress]
    reporter.start("Archiving cold chunks", len(cold))
    # Oldest first and in listing order: a compressed snapshot's files sit together, so
    # restoring it reads the archive nearly sequentially.
    _move_cold(
        backend, store, sorted(cold, key=lambda m: (m.created, m.name)), marks, result, reporter
    )
    reporter.finish()
    catalog = Catalog(backend)
    for m in manifests:
        if m.name in to_compress and not is_compressed(m):
            m.compression = COMPRESSED
            catalog.replace(m)
            result.snapshots.append(m.name)
    result.elapsed = time.monotonic() - started
    return result, marks


def _move_cold(
    backend: Backend,
    store: ChunkStore,
    cold: list[Manifest],
    marks: Marks,
    result: ArchiveResult,
    reporter: Reporter,
) -> None:
    """Copy the cold chunks of ``cold`` that only a pack holds into archives of about
    ``ARCHIVE_TARGET`` raw bytes each, every one durable with its index when written."""
    archives = arch.ArchiveSet(backend, store.identity, store.codec).load()
    builder = arch.ArchiveBuilder(
        executor=store.workers(), spool_dir=backend.spool_dir(), codec=store.codec
    )

    def write() -> None:
        nonlocal builder
        if len(builder):
            idx = arch.write_archive(backend, builder)
            result.archives_written += 1
            result.archive_bytes += idx.size
            result.index_bytes += len(idx.encode())
        builder = arch.ArchiveBuilder(
            executor=store.workers(), spool_dir=backend.spool_dir(), codec=store.codec
        )

    try:
        for m in cold:
            for ref in iter_references(m, store):
                cid = ref.chunk
                if not marks.cold(cid) or cid in archives.locations or cid in builder:
                    continue
                loc = store.locate(cid)
                if loc is None:
                    continue  # already archived only (an earlier run), nothing to move
                data = store.read(cid)  # verified: never archive damage
                builder.add(cid, data)
                result.chunks += 1
                result.raw_bytes += len(data)
                result.lz4_bytes += loc.length
                if builder.raw_bytes >= arch.ARCHIVE_TARGET:
                    write()
            reporter.advance(1)
        write()
    except BaseException:
        builder.discard()  # no spooled half archive left behind
        raise


def snapshot_usage(
    store: ChunkStore, manifests: list[Manifest], reporter: Reporter
) -> dict[str, dict[str, int]]:
    """Per snapshot: stored bytes and chunks that no other snapshot references."""
    marks = mark(manifests, store, reporter)
    out = {m.name: {"unique_bytes": 0, "unique_chunks": 0, "archived_bytes": 0} for m in manifests}
    in_packs: set[bytes] = set()
    for cid, loc in store.cache.entries():
        in_packs.add(cid)
        owner = marks.owner.get(cid)
        if owner is not None:
            out[owner]["unique_bytes"] += loc.length
            out[owner]["unique_chunks"] += 1
    archives = arch.ArchiveSet(store.backend, store.identity, store.codec).load()
    for cid, owner in marks.owner.items():
        if cid not in in_packs and cid in archives.locations:
            share = archives.stored_share(cid)
            out[owner]["unique_bytes"] += share
            out[owner]["archived_bytes"] += share
            out[owner]["unique_chunks"] += 1
    return out
