"""Restore of bulk roots: staged, checked, incremental, swapped in, recoverable (spec/restore.md).

For each root a staged tree is built in a hidden sibling of its target (``stage``): the listing
is checked as it streams (``checks``) and merged with the live tree (``live``), so that live
files equal to the snapshot's are hard-linked in instead of rewritten and the live entries the
snapshot cannot speak for (excluded names, special files, unread paths) are kept. When every
root is staged and synced, a journal commits the restore and the trees are swapped in
(``swap``); a crash at any point leaves each target holding its old tree or its new one, and
the next ``restore``, ``check`` or ``unlock`` finishes or undoes what was left (``recover``).
Afterwards the restored files' inodes are recorded in the local cache (``record``) so the
next create reuses them without reading.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from snapstore.base.errors import SourceError
from snapstore.base.reporting import Reporter
from snapstore.manifest.listing import DIR, FILE, Coverage, FileEntry, load_listing
from snapstore.manifest.schema import BulkRoot
from snapstore.sources.files.record import forget, restored_parent, write_record
from snapstore.sources.files.restore.checks import plan_targets
from snapstore.sources.files.restore.include import Part, part_coverage, part_target, select_parts
from snapstore.sources.files.restore.live import MAKE_SYMLINK, WRITE, Action, Comparer, LivePlanner
from snapstore.sources.files.restore.recover import recover
from snapstore.sources.files.restore.stage import RestoreStats, fill
from snapstore.sources.files.restore.swap import (
    OLD_TAG,
    REMOVE_THREADS,
    STAGING_TAG,
    Journal,
    Names,
    new_journal,
    new_token,
    remove_journal,
    remove_parts,
    remove_tree,
    swap_in,
    sync_trees,
    write_journal,
    write_parts,
)
from snapstore.sources.files.walk import Item
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.tree.bulk import TreeChecker

__all__ = [
    "OLD_TAG",
    "STAGING_TAG",
    "Part",
    "RestoreJob",
    "RestoreStats",
    "part_jobs",
    "plan_targets",
    "recover",
    "remove_tree",
    "restore_root",
    "restore_roots",
    "restored_parent",
    "select_parts",
]


@dataclass
class RestoreJob:
    """One root to restore into one target, with what its listing speaks for; with ``part``
    only that path of the root, at ``target`` (``restore --include``, see ``include``)."""

    root: BulkRoot
    target: Path
    coverage: Coverage
    part: Part | None = None
    anchor: Path | None = None  # a part's root target, where a crash is looked for
    # Live paths (relative to ``target``) kept as they are whatever the snapshot holds there:
    # the repository and the cache inside a bulk root. The snapshot's entries at and below
    # them are left out, and ``coverage`` must not cover them (the live ones are kept).
    kept: frozenset[bytes] = frozenset()


def part_jobs(job: RestoreJob, parts: list[Part]) -> list[RestoreJob]:
    """The jobs that restore ``parts`` of ``job``'s root below its target (a part at or
    below one of ``job.kept`` must have been refused before)."""
    out = []
    for p in parts:
        if p.root is not job.root:
            continue
        below = p.path + b"/"
        kept = (
            frozenset(k[len(below) :] for k in job.kept if k.startswith(below))
            if p.path
            else job.kept
        )
        coverage = part_coverage(job.coverage, p)
        out.append(RestoreJob(p.root, part_target(job.target, p), coverage, p, job.target, kept))
    return out


def _without(entries: Iterator[FileEntry], kept: frozenset[bytes]) -> Iterator[FileEntry]:
    """``entries`` less those at or below a ``kept`` path."""
    if not kept:
        return entries
    below = tuple(k + b"/" for k in kept)
    return (e for e in entries if e.path not in kept and not e.path.startswith(below))


def _checked(entries: Iterator[FileEntry], where: str) -> Iterator[FileEntry]:
    checker = TreeChecker(where)
    for e in entries:
        checker.check(e)
        yield e
    checker.finish()


def _prepare(target: Path, part: Part | None = None) -> Path:
    """The directory to swap: a target that is a symlink (to a data disk) is restored into
    the directory it points to, and the link is kept. A part's target is swapped as it is
    (a symlink there is replaced, never followed: ``include.part_target`` checked the way)."""
    target = Path(os.path.abspath(target))
    if part is not None and part.path:
        return target
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if os.path.lexists(target) and not target.is_dir():
        raise SourceError(f"restore target {target} exists and is not a directory")
    if os.path.ismount(target):
        raise SourceError(
            f"restore target {target} is a mount point: the restored tree cannot be swapped "
            "in; restore into a directory below it (--target)"
        )
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SourceError(f"cannot create {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SourceError(f"restore target {target} is not writable (no write access to {parent})")
    return target


def restore_roots(
    store: ChunkStore,
    jobs: list[RestoreJob],
    reporter: Reporter,
    snapshot: str,
    *,
    verify: bool = False,
    safety_snapshot: str | None = None,
    record: bool = False,
    cache_dir: str | None = None,
) -> list[RestoreStats]:
    """Restore every job's root at its target, all committed at once (module doc).
    ``record``: leave the restored inodes in the cache at ``cache_dir`` for the next create."""
    token = new_token()
    chunker = Chunker(store.identity) if verify else None
    staged: list[Names] = []
    results: list[RestoreStats] = []
    targets = [_prepare(j.target, j.part) for j in jobs]
    keys = [str(Path(os.path.abspath(j.target))) for j in jobs]
    for key in keys:  # the live tree is about to change: an older record is void
        forget(cache_dir, store.config.id, key)
    anchors = _anchors(jobs, targets)
    anchored = [Names(a, token) for a in anchors]
    for n in anchored:  # a partial restore stages inside the tree: say where, first
        write_parts(n, anchors[n.target])
    journal = None
    try:
        for job, target in zip(jobs, targets, strict=True):
            names = Names(target, token)
            where = f"snapshot {snapshot}: {job.root.path}"
            stats = RestoreStats()
            results.append(stats)
            if job.part is not None and job.part.type != DIR:
                if _restore_one(store, job, names, verify, chunker, reporter, stats, where):
                    staged.append(names)
                continue
            os.mkdir(names.staging, 0o700)
            staged.append(names)
            _stage_tree(store, job, names, verify, chunker, reporter, stats, where)
        if not staged:
            for n in anchored:
                remove_parts(n)
            return results  # every part already equals the snapshot's
        # One sync for every tree: the swap must not publish files still in the page cache.
        sync_trees([n.staging for n in staged])
        journal = new_journal(snapshot, token, safety_snapshot, staged, list(anchors) or None)
        write_journal(journal)
    except BaseException:
        _discard(journal, staged, anchored)
        raise
    # Committed: from here a crash is finished by the next run (swap.recover).
    _swap_all(journal, staged, anchored)
    if record:
        for job, key, target in zip(jobs, keys, targets, strict=True):
            write_record(store, cache_dir, key, target, snapshot, job.root)
    return results


def _anchors(jobs: list[RestoreJob], targets: list[Path]) -> dict[Path, list[Path]]:
    """Each partial restore's anchor (the tree it stages inside) -> the parts it writes."""
    anchors: dict[Path, list[Path]] = {}
    for job, target in zip(jobs, targets, strict=True):
        if job.anchor is not None:
            anchors.setdefault(_prepare(job.anchor), []).append(target)
    return anchors


def _stage_tree(
    store: ChunkStore,
    job: RestoreJob,
    names: Names,
    verify: bool,
    chunker: Chunker | None,
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> None:
    """Fill the (made) staging folder of a directory job: what the live tree at its target
    already holds is reused, the rest read from the store."""
    target = names.target
    live = os.fsencode(target) if target.is_dir() and not target.is_symlink() else None
    planner = LivePlanner(
        live, job.coverage, Comparer(os.lstat(names.staging).st_dev, verify, chunker), where
    )
    if job.part is not None:
        entries = job.part.entries(store, where)
        title = f"Restoring {target}"  # the part's own path, where it is written
    else:
        entries = _checked(load_listing(store, job.root.listing, where), where)
        title = f"Restoring {target}"  # --target's folder, not the recorded root
    reporter.start(title, job.root.bytes if job.part is None else None)
    actions = planner.actions(_without(entries, job.kept))
    fill(store, actions, os.fsencode(names.staging), reporter, stats, where)
    reporter.finish()
    stats.removed = planner.removed


def _discard(journal: Journal | None, staged: list[Names], anchored: list[Names]) -> None:
    """Undo an uncommitted restore: its journal first, then its staging and parts lists."""
    if journal is not None:
        remove_journal(journal)
    for names in staged:
        remove_tree(names.staging)
    for n in anchored:
        remove_parts(n)


def _swap_all(journal: Journal, staged: list[Names], anchored: list[Names]) -> None:
    """Swap every staged tree in (the commit is written), then drop the replaced trees, the
    journal and the parts lists. A failure on the first swap undoes the commit; a later one
    leaves the journal for `snapstore check` to finish."""
    replaced = []
    for i, names in enumerate(staged):
        try:
            replaced.append(swap_in(names))
        except OSError as e:
            if i == 0:  # nothing swapped yet: undo the commit
                _discard(journal, staged, anchored)
                raise SourceError(f"cannot swap in {names.target}: {e.strerror}") from None
            raise SourceError(
                f"cannot swap in {names.target} ({e.strerror}) after restoring "
                f"{', '.join(str(n.target) for n in staged[:i])}: run `snapstore check` to "
                "finish the restore once the problem is fixed"
            ) from None
    for old in replaced:
        if old is not None:
            remove_tree(old, REMOVE_THREADS)
    remove_journal(journal)
    for n in anchored:
        remove_parts(n)


def _restore_one(
    store: ChunkStore,
    job: RestoreJob,
    names: Names,
    verify: bool,
    chunker: Chunker | None,
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> bool:
    """Stage a file or symlink part beside its target; False (nothing staged) when the live
    file already is the snapshot's."""
    assert job.part is not None and job.part.entry is not None
    e = job.part.entry
    target = names.target
    if e.type == FILE:
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            st = None
        if st is not None:
            comparer = Comparer(os.lstat(target.parent).st_dev, verify, chunker)
            if comparer.same(e, Item(b"", os.fsencode(target), st)):
                stats.files += 1
                stats.bytes += e.size
                stats.linked_files += 1
                return False
    kind = WRITE if e.type == FILE else MAKE_SYMLINK
    reporter.start(f"Restoring {target}", e.size)
    fill(store, iter([Action(kind, b"", e)]), os.fsencode(names.staging), reporter, stats, where)
    reporter.finish()
    return True


def restore_root(
    store: ChunkStore,
    root: BulkRoot,
    target: Path,
    reporter: Reporter,
    where: str,
    *,
    excludes: Iterable[str] = (),
    warnings: Iterable[str] = (),
    verify: bool = False,
) -> RestoreStats:
    """Restore one root (``where``: the snapshot's name), after recovering leftovers."""
    recover([target], reporter)
    job = RestoreJob(root, target, Coverage.of(root.path, warnings, excludes))
    return restore_roots(store, [job], reporter, where, verify=verify)[0]
