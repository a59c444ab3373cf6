"""What restoring a snapshot would change on disk now (``restore --dry-run``).

The live tree is walked (``sources.files.walk``) and each entry made a listing entry the way create
makes one (``entry_from_stat``), then compared with the snapshot's listing by ``diff``'s
``compare_entries``. A live file with the snapshot's size and mtime is taken as unchanged (the
quick check rsync and create's reuse make); one with the same size but another mtime is read
and chunked (nothing is stored) so that a touched file shows as metadata-only; with ``verify``
(``restore --dry-run --verify``) every live file of the snapshot's size is read, as the real
``--verify`` restore reads it before keeping it. Live entries the
snapshot cannot speak for (``Coverage``: excluded names, special files...) are not changes:
restore keeps them. With ``parts`` (``restore --include``) only the included paths are
compared; the database half is the source's restore plan (collections, and the views,
analyzers, graphs and AQL functions that differ from the live ones).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from snapstore.base.errors import SourceError
from snapstore.inspection.diff import (
    ADDED,
    CHANGED,
    REMOVED,
    REPLACED,
    CollectionChange,
    ObjectChange,
    SnapshotDiff,
    compare_entries,
    snapshot_entries,
)
from snapstore.manifest.listing import Coverage, FileEntry
from snapstore.manifest.schema import Manifest
from snapstore.sources.database import DatabaseRestorePlan
from snapstore.sources.files.walk import TreeWalker, entry_from_stat
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore


def walk_live(
    root: Path, coverage: Coverage | None = None, holders: set[bytes] | None = None
) -> dict[bytes, FileEntry]:
    """The live tree as listing entries, without file contents (chunks left empty).

    With ``coverage``, live entries the snapshot cannot speak for (excluded names, special
    files, paths a partial snapshot could not read) are left out, with what is below them:
    restore keeps them as they are (spec/restore.md). The directories above such an entry are
    added to ``holders``: restore keeps them too, even where the snapshot lacks them.
    """
    out: dict[bytes, FileEntry] = {}
    base = os.fsencode(root)
    if not os.path.isdir(base):
        return out

    def unlistable(msg: str) -> None:
        raise SourceError(msg)

    kept: bytes | None = None  # a directory left out: nothing below it is compared
    for item in TreeWalker(()).walk(base, [], unlistable):
        rel = item.rel
        if kept is not None and rel.startswith(kept + b"/"):
            continue
        kept = None
        if rel and coverage is not None and not coverage.covers(rel, item.st.st_mode):
            if holders is not None:
                parent = rel.rpartition(b"/")[0]
                while parent and parent not in holders:
                    holders.add(parent)
                    parent = parent.rpartition(b"/")[0]
            if stat.S_ISDIR(item.st.st_mode):
                kept = rel
            continue
        try:
            entry = entry_from_stat(item, names=False)
        except OSError:  # a symlink that vanished while walking
            continue
        if entry is not None:
            out[rel] = entry
    return out


def _live_matcher(store: ChunkStore, base: bytes, verify: bool) -> Any:
    chunker = Chunker(store.identity)

    def same(live: FileEntry, snap: FileEntry) -> bool:
        if live.size != snap.size:
            return False
        if live.mtime_ns == snap.mtime_ns and not verify:
            return True
        ids = []
        try:
            with open(os.path.join(base, live.path), "rb", buffering=0) as f:
                ids = [chunker.chunk_id(piece) for piece in chunker.cut_stream(f)]
        except OSError:
            return False
        return tuple(ids) == snap.chunks

    return same


def diff_live(
    store: ChunkStore,
    m: Manifest,
    targets: Iterable[tuple[str, Path]],
    db_plan: DatabaseRestorePlan | None,
    excludes: Iterable[str] = (),
    parts: dict[str, list[bytes]] | None = None,
    verify: bool = False,
    kept: Mapping[str, frozenset[bytes]] | None = None,
) -> SnapshotDiff:
    """What restoring ``m`` into ``targets`` [(snapshot root, live dir)] would change.
    Live entries the snapshot cannot speak for (``excludes``, special files, what a partial
    snapshot could not read) are kept by restore, so they are not changes. ``parts``
    (``restore --include``): per root, the paths restored; nothing outside them changes.
    ``verify``: compare the content of every live file of the right size (``--verify``).
    ``kept``: per root, the paths restore keeps whatever the snapshot holds there (the
    repository inside a bulk root): neither side is compared there."""
    out = SnapshotDiff("live", m.name)
    roots = {r.path: r for r in m.bulk or []}
    excludes = tuple(excludes)
    for root_path, target in targets:
        snap = snapshot_entries(store, roots[root_path], m.name)
        holders: set[bytes] = set()
        coverage = Coverage.of(root_path, m.warnings, excludes)
        keep = (kept or {}).get(root_path, frozenset())
        if keep:
            coverage = replace(coverage, unread=coverage.unread | keep)
            inside_kept = _inside_any(list(keep))
            snap = {p: e for p, e in snap.items() if not inside_kept(p)}
        live = walk_live(target, coverage, holders)
        if parts is not None:
            inside = _inside_any(parts.get(root_path, []))
            snap = {p: e for p, e in snap.items() if inside(p)}
            live = {p: e for p, e in live.items() if inside(p)}
        elif not live:
            out.roots_added.append(str(target))
        after = _as_restored(snap)
        for path in holders:
            # A live directory the snapshot lacks that holds kept entries stays as it is.
            if path not in after and path in live:
                after[path] = live[path]
        out.files.extend(
            compare_entries(
                str(target), live, after, _live_matcher(store, os.fsencode(target), verify)
            )
        )
    if db_plan is not None:
        _database_changes(out, m, db_plan)
    return out


def _database_changes(out: SnapshotDiff, m: Manifest, db_plan: DatabaseRestorePlan) -> None:
    """What the database restore planned in ``db_plan`` changes, per collection and object."""
    for name in db_plan.drop:
        out.collections.append(CollectionChange(name, REMOVED, None, None, keys_known=False))
    merged = {w.name: w for w in db_plan.writes if w.path == "merge"}
    for name in db_plan.replace:
        w = merged.get(name)
        if w is not None:  # restored by difference: what it writes is known
            count_after = m.collections.get(name, 0)
            count_before = count_after - w.inserted + w.removed
            out.collections.append(
                CollectionChange(
                    name,
                    CHANGED,
                    count_before,
                    count_after,
                    n_added=w.inserted,
                    n_removed=w.removed,
                    n_changed=w.replaced,
                )
            )
            continue
        out.collections.append(
            CollectionChange(name, REPLACED, None, m.collections.get(name), keys_known=False)
        )
    for name in db_plan.create:
        out.collections.append(
            CollectionChange(name, ADDED, None, m.collections.get(name), keys_known=False)
        )
    out.objects = [ObjectChange(*c) for c in db_plan.objects]
    out.database_writes = list(db_plan.writes)


def _inside_any(tops: list[bytes]) -> Callable[[bytes], bool]:
    """Whether a path is one of ``tops`` or below one (b"": the whole root)."""
    if b"" in tops:
        return lambda p: True
    prefixes = tuple(t + b"/" for t in tops)
    wanted = set(tops)
    return lambda p: p in wanted or p.startswith(prefixes)


def _as_restored(snap: dict[bytes, FileEntry]) -> dict[bytes, FileEntry]:
    """The snapshot's entries as restore would write them: owner names are not compared
    (live entries carry numbers only), and without root privileges restore cannot set owners,
    so owners are not compared at all."""
    keep_owner = os.geteuid() == 0
    return {
        p: FileEntry(
            e.path,
            e.type,
            e.mode,
            e.mtime_ns,
            e.size,
            e.uid if keep_owner else None,
            e.gid if keep_owner else None,
            None,
            None,
            e.target,
            e.chunks,
        )
        for p, e in snap.items()
    }
