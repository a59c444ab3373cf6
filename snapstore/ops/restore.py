"""Restoring a snapshot: plan (the confirmation), dry run, and the restore itself.

Order (spec/restore.md): resolve and plan (refusing unsafe targets and hostile manifests);
finish what an interrupted restore left; take the safety snapshot of what will be replaced;
then, under a shared lock, restore the bulk roots (staged, journaled, swapped in) and the
database (``database_restore``, which rolls back from the safety snapshot when it stops
half-way).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from snapstore.diff import SnapshotDiff
from snapstore.errors import InvalidInput, SnapshotNotFound
from snapstore.live_diff import diff_live
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import DIR, Coverage
from snapstore.manifest.schema import Manifest
from snapstore.ops.create import CreateRequest, create_snapshot
from snapstore.ops.database_restore import DatabaseRestore
from snapstore.ops.repository import Repository
from snapstore.records import (
    RestoreOptions,
    RestorePlan,
    RestoreResult,
    RestoreTarget,
    SnapshotInfo,
)
from snapstore.sources.restore import (
    RestoreJob,
    part_jobs,
    plan_targets,
    recover,
    restore_roots,
    select_parts,
)
from snapstore.store.cache import default_cache_root
from snapstore.store.chunkstore import ChunkStore


def plan_restore(repo: Repository, name: str, opts: RestoreOptions) -> RestorePlan:
    """What ``run_restore`` would do; raises on requests it could not carry out."""
    with repo.open() as opened:
        m = repo.resolve(opened.backend, name)
        plan = _plan(repo, m, opts)
        if opts.include and plan.restore_bulk:
            plan = replace(plan, include=_include_text(opened.store, m, list(opts.include)))
        return plan


def restore_changes(repo: Repository, name: str, opts: RestoreOptions) -> SnapshotDiff:
    """``restore --dry-run``: what restoring would change in the live files and database
    (live state as "before", the snapshot as "after"). Changes nothing."""
    with repo.open() as opened:
        m = repo.resolve(opened.backend, name)
        plan = _plan(repo, m, replace(opts, safety_snapshot=False))
        parts: dict[str, list[bytes]] | None = None
        if opts.include and plan.restore_bulk:
            parts = {}
            for p in select_parts(opened.store, m, list(opts.include)):
                parts.setdefault(p.root.path, []).append(p.path)
        db_plan = None
        if plan.restore_db and m.database is not None:
            db_plan = repo.database(opts.target_db).plan_restore(
                m.database, list(opts.collections) or None, compare=True
            )
        return diff_live(
            opened.store,
            m,
            [(t.root, t.target) for t in plan.targets],
            db_plan,
            excludes=repo.settings.exclude,
            parts=parts,
        )


def run_restore(repo: Repository, name: str, opts: RestoreOptions) -> RestoreResult:
    """Make the live bulk storage (and database) equal to the snapshot (module doc)."""
    started = time.monotonic()
    reporter, settings = repo.reporter, repo.settings
    collections = list(opts.collections) or None
    with repo.open() as opened:
        m = repo.resolve(opened.backend, name)
        plan = _plan(repo, m, opts)
        parts = (
            select_parts(opened.store, m, list(opts.include))
            if opts.include and plan.restore_bulk
            else None
        )
    # Finish (or undo) what an interrupted restore left, before anything looks at it.
    recover([t.target for t in plan.targets], reporter)
    live = [t for t in plan.targets if t.exists and any(t.target.iterdir())]
    # The safety snapshot holds the database being replaced (--target-db's, if given), and
    # only if it exists: a database the restore creates has no state to keep.
    live_db = plan.restore_db and repo.database(opts.target_db).database_exists()
    safety_name = None
    if opts.safety_snapshot and (live or live_db):
        safety_name = _take_safety(repo, m, opts, [str(t.target) for t in live], live_db)
        # Said as soon as it exists: if the restore stops, this is the way back.
        reporter.info(f"Safety snapshot taken: {safety_name}")
    files = nbytes = 0
    db_result = None
    with repo.session("restore", exclusive=False) as opened:
        backend, store = opened.backend, opened.store
        if m.name not in Catalog(backend).names():  # a delete ran while we waited
            raise SnapshotNotFound(
                f"snapshot {m.name} was deleted while this restore waited for the lock"
            )
        roots = {r.path: r for r in m.bulk or []}
        jobs = [
            RestoreJob(roots[t.root], t.target, Coverage.of(t.root, m.warnings, settings.exclude))
            for t in plan.targets
        ]
        if parts is not None:
            jobs = [j for job in jobs for j in part_jobs(job, parts)]
        if jobs:
            done = restore_roots(
                store,
                jobs,
                reporter,
                m.name,
                verify=opts.verify,
                safety_snapshot=safety_name,
                # A partial restore leaves the root's record valid: the files it rewrote
                # have new inodes, which the record does not name.
                record=parts is None,
                cache_dir=settings.cache_dir,
            )
            for job, stats in zip(jobs, done, strict=True):
                files += stats.files
                nbytes += stats.bytes
                reporter.info(stats.describe(str(job.target)))
        if plan.restore_db and m.database is not None:
            restored = ", ".join(str(t.target) for t in plan.targets)
            safety = Catalog(backend).load(safety_name) if live_db and safety_name else None
            db_result = DatabaseRestore(
                store,
                repo.database(opts.target_db),
                m,
                reporter,
                collections,
                safety=safety,
                existed=live_db,
                flags=f" --target-db {opts.target_db}" if opts.target_db else "",
                done_before=f"the bulk files were restored into {restored}" if restored else "",
                verify=opts.verify,
            ).run()
    return RestoreResult(
        snapshot=plan.snapshot,
        safety_snapshot=safety_name,
        files=files,
        bytes=nbytes,
        targets=tuple(str(j.target) for j in jobs),
        database=db_result,
        elapsed=time.monotonic() - started,
    )


def _take_safety(
    repo: Repository, m: Manifest, opts: RestoreOptions, roots: list[str], live_db: bool
) -> str:
    """Snapshot what the restore will replace; with --target-db, that database."""
    source = repo
    if opts.target_db:
        arango = replace(repo.settings.arangodb, database=opts.target_db)
        source = Repository(replace(repo.settings, arangodb=arango), repo.reporter)
    result, _ = create_snapshot(
        source,
        CreateRequest(
            f"Safety snapshot before restoring {m.name}",
            kind="safety",
            include_bulk=bool(roots),
            include_db=live_db,
            bulk_roots=tuple(roots),
            safety_for=m.name,
        ),
    )
    return result.snapshot.snapshot_name


def _plan(repo: Repository, m: Manifest, opts: RestoreOptions) -> RestorePlan:
    settings = repo.settings
    restore_db = opts.database_wanted
    if not opts.restore_bulk and not opts.restore_db:
        raise InvalidInput("--no-bulk and --no-db together leave nothing to restore")
    do_bulk = opts.restore_bulk and m.bulk is not None
    do_db = restore_db and m.database is not None
    if restore_db and m.database is not None and not settings.database_configured:
        raise InvalidInput(
            f"snapshot {m.name} holds a database dump but no database is configured "
            "(set --arango-url, or pass --no-db)"
        )
    if not do_bulk and not do_db:
        has = "bulk storage" if m.bulk is not None else "a database dump"
        raise InvalidInput(f"snapshot {m.name} has only {has}; nothing left to restore")
    targets: list[RestoreTarget] = []
    if do_bulk:
        # Checks labels and root paths (a hostile manifest) and the target (bad input).
        location = settings.repository
        keep_out = [] if "://" in location else [location]
        keep_out.append(str(default_cache_root(settings.cache_dir)))
        for root, dest in plan_targets(m, opts.target, keep_out):
            targets.append(RestoreTarget(root.path, dest, dest.exists()))
    db_changes: dict[str, list[str]] = {}
    if do_db and m.database is not None:
        db_plan = repo.database(opts.target_db).plan_restore(
            m.database, list(opts.collections) or None
        )
        db_changes = {"drop": db_plan.drop, "replace": db_plan.replace, "create": db_plan.create}
        db_changes["database"] = [opts.target_db or settings.arangodb.database]
    return RestorePlan(
        snapshot=SnapshotInfo.from_manifest(m),
        targets=tuple(targets),
        restore_bulk=do_bulk,
        restore_db=do_db,
        database_changes=db_changes,
        safety_snapshot=opts.safety_snapshot,
    )


def _include_text(store: ChunkStore, m: Manifest, include: list[str]) -> tuple[str, ...]:
    """The paths ``--include`` selects (checked against the snapshot), for the prompt."""
    multi = len(m.bulk or []) > 1
    return tuple(
        "/".join(x for x in ((p.root.label if multi else ""), os.fsdecode(p.path)) if x)
        + ("/" if p.type == DIR else "")
        for p in select_parts(store, m, include)
    )
