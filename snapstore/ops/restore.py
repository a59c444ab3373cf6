"""Restoring a snapshot: plan (the confirmation), dry run, and the restore itself.

Planning is the one place that decides what a request writes (spec/restore.md, "What a
restore writes" and "Targets"), so the CLI, the Python API and the web view agree: which
parts (``_scope``: ``--target`` leaves the live database alone without ``--target-db``,
``--collection`` alone is a database restore) and where (in place only into the configured
bulk roots, never where a manifest says; snapstore's own folders inside a root are kept).

Plan, then execute (spec/restore.md): ``restore_session`` opens the repository once for the
whole command and plans once; the dry run and the confirmation show that ``PlannedRestore``,
and its ``execute`` is what runs (the safety snapshot writes through the same opening).

Order (spec/restore.md): resolve and plan (refusing unsafe targets and hostile manifests);
finish what an interrupted restore left; take the safety snapshot of what will be replaced;
then, under a shared lock, restore the bulk roots (staged, journaled, swapped in) and the
database (``database_restore``, which rolls back from the safety snapshot when it stops
half-way).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from shlex import quote
from typing import Any

from snapstore.base.errors import InvalidInput, SnapshotNotFound
from snapstore.inspection.diff import SnapshotDiff
from snapstore.inspection.live_diff import diff_live
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import DIR, Coverage
from snapstore.manifest.schema import Manifest
from snapstore.ops.create import CreateRequest, create_snapshot, own_folders
from snapstore.ops.database_restore import DatabaseRestore
from snapstore.ops.records import (
    RestoreOptions,
    RestorePlan,
    RestoreResult,
    RestoreTarget,
    SnapshotInfo,
)
from snapstore.ops.repository import Opened, Repository
from snapstore.sources.database import DatabaseRestorePlan
from snapstore.sources.files.restore import (
    Part,
    RestoreJob,
    part_jobs,
    plan_targets,
    recover,
    restore_roots,
    select_parts,
)
from snapstore.sources.files.restore.checks import refuse_mount_points
from snapstore.sources.files.walk import paths_inside
from snapstore.sources.registry import SourcePlan, find
from snapstore.store.chunkstore import ChunkStore


@dataclass
class PlannedRestore:
    """A restore planned once, inside the command's one opening of the repository: ``plan``
    is what the confirmation and ``--dry-run`` show, and ``execute`` runs exactly that plan
    (spec/restore.md, "Plan, then execute"). Made by ``restore_session``."""

    repo: Repository
    opened: Opened
    manifest: Manifest
    options: RestoreOptions
    plan: RestorePlan
    # --include: the selected parts (None: whole roots).
    parts: list[Part] | None = None
    # With ``dry_run``: what the restore writes into each collection (compared with the live
    # database), for ``preview``.
    db_plan: DatabaseRestorePlan | None = None

    def preview(self) -> SnapshotDiff:
        """``restore --dry-run``: what restoring would change in the live files and database
        (live state as "before", the snapshot as "after"). Changes nothing."""
        parts: dict[str, list[bytes]] | None = None
        if self.parts is not None:
            parts = {}
            for p in self.parts:
                parts.setdefault(p.root.path, []).append(p.path)
        plan = self.plan
        return diff_live(
            self.opened.store,
            self.manifest,
            [(t.root, t.target) for t in plan.targets],
            self.db_plan,
            excludes=self.repo.settings.exclude,
            parts=parts,
            verify=self.options.verify,
            kept={t.root: t.kept_paths for t in plan.targets if t.kept},
        )

    def execute(self) -> RestoreResult:
        """Make the live bulk storage (and database) equal to the snapshot, as planned
        (module doc)."""
        started = time.monotonic()
        repo, opts, plan, m = self.repo, self.options, self.plan, self.manifest
        # Finish (or undo) what an interrupted restore left, before anything looks at it.
        recover([t.target for t in plan.targets], repo.reporter)
        live = [t for t in plan.targets if t.exists and any(t.target.iterdir())]
        # The safety snapshot holds the database being replaced (--target-db's, if given),
        # and only if it exists: a database the restore creates has no state to keep.
        live_db = plan.restore_db and repo.database(opts.target_db).database_exists()
        safety_name = None
        if opts.safety_snapshot and (live or live_db):
            safety_name = _take_safety(repo, m, opts, [str(t.target) for t in live], live_db)
            # Said as soon as it exists: if the restore stops, this is the way back.
            repo.reporter.info(f"Safety snapshot taken: {safety_name}")
            back = _way_back(opts, live_db)
            if back:
                repo.reporter.info(f"  to go back: snapstore restore {safety_name}{back}")
        # The repository (or the cache) inside a bulk root is swapped with it, its files
        # linked into the new tree: nothing else may write to it meanwhile.
        guard = any(t.kept for t in plan.targets)
        backend = self.opened.backend
        with repo.lock(backend, "restore", exclusive=guard):
            if m.name not in Catalog(backend).names():  # a delete ran while we waited
                raise SnapshotNotFound(
                    f"snapshot {m.name} was deleted while this restore waited for the lock"
                )
            jobs, files, nbytes = self._restore_files(safety_name)
            db_result = self._restore_database(jobs, safety_name, live_db)
            for sp in plan.sources:
                source = find(sp.source)
                assert source is not None  # planned from the registry
                repo.reporter.info(source.restore(sp, self.opened.store, repo.reporter))
        return RestoreResult(
            snapshot=plan.snapshot,
            safety_snapshot=safety_name,
            files=files,
            bytes=nbytes,
            targets=tuple(str(j.target) for j in jobs),
            database=db_result,
            elapsed=time.monotonic() - started,
        )

    def _restore_files(self, safety_name: str | None) -> tuple[list[RestoreJob], int, int]:
        """The bulk roots (staged, journaled, swapped in): the jobs, files and bytes."""
        m, settings, reporter = self.manifest, self.repo.settings, self.repo.reporter
        roots = {r.path: r for r in m.bulk or []}
        jobs = [
            RestoreJob(
                roots[t.root],
                t.target,
                _coverage(t, m, settings.exclude),
                kept=t.kept_paths,
            )
            for t in self.plan.targets
        ]
        if self.parts is not None:
            jobs = [j for job in jobs for j in part_jobs(job, self.parts)]
        files = nbytes = 0
        if jobs:
            done = restore_roots(
                self.opened.store,
                jobs,
                reporter,
                m.name,
                verify=self.options.verify,
                safety_snapshot=safety_name,
                # A partial restore leaves the root's record valid: the files it rewrote
                # have new inodes, which the record does not name.
                record=self.parts is None,
                cache_dir=settings.cache_dir,
            )
            for job, stats in zip(jobs, done, strict=True):
                files += stats.files
                nbytes += stats.bytes
                reporter.info(stats.describe(str(job.target)))
        return jobs, files, nbytes

    def _restore_database(
        self, jobs: list[RestoreJob], safety_name: str | None, live_db: bool
    ) -> dict[str, Any] | None:
        """The database, rolled back from the safety snapshot when it stops half-way."""
        m, opts = self.manifest, self.options
        if not self.plan.restore_db or m.database is None:
            return None
        restored = ", ".join(str(t.target) for t in self.plan.targets)
        backend = self.opened.backend
        safety = Catalog(backend).load(safety_name) if live_db and safety_name else None
        return DatabaseRestore(
            self.opened.store,
            self.repo.database(opts.target_db),
            m,
            self.repo.reporter,
            list(opts.collections) or None,
            safety=safety,
            existed=live_db,
            flags=f" --target-db {opts.target_db}" if opts.target_db else "",
            done_before=f"the bulk files were restored into {restored}" if restored else "",
            verify=opts.verify,
        ).run()


@contextmanager
def restore_session(
    repo: Repository, name: str, opts: RestoreOptions, *, dry_run: bool = False
) -> Iterator[PlannedRestore]:
    """Open the repository (once, for the whole command: the safety snapshot and the restore
    use this opening too), resolve ``name`` and plan the restore; raises on requests it could
    not carry out. ``dry_run``: also compare with the live database (``preview``)."""
    if dry_run:  # nothing is written, so no safety snapshot is taken
        opts = replace(opts, safety_snapshot=False)
    with repo.open(share=True) as opened:
        m = repo.resolve(opened.backend, name)
        plan, db_plan = _plan(repo, m, opts, opened.store if dry_run else None)
        plan = replace(plan, sources=_plan_sections(m, opts, opened.store))
        parts = None
        if opts.include and plan.restore_bulk:
            parts = select_parts(opened.store, m, list(opts.include))
            _kept_parts(plan, parts)
            plan = replace(plan, include=_include_text(m, parts))
        yield PlannedRestore(repo, opened, m, opts, plan, parts, db_plan)


def plan_restore(repo: Repository, name: str, opts: RestoreOptions) -> RestorePlan:
    """What ``run_restore`` would do; raises on requests it could not carry out."""
    with restore_session(repo, name, opts) as planned:
        return planned.plan


def preview_restore(
    repo: Repository, name: str, opts: RestoreOptions
) -> tuple[RestorePlan, SnapshotDiff]:
    """``restore --dry-run``: the plan (what would be written: files into which folders, which
    database) and what restoring would change there (``PlannedRestore.preview``)."""
    with restore_session(repo, name, opts, dry_run=True) as planned:
        return planned.plan, planned.preview()


def restore_changes(repo: Repository, name: str, opts: RestoreOptions) -> SnapshotDiff:
    """What restoring would change in the live files and database (``preview_restore``)."""
    return preview_restore(repo, name, opts)[1]


def run_restore(repo: Repository, name: str, opts: RestoreOptions) -> RestoreResult:
    """Plan and execute in one opening of the repository (``PlannedRestore.execute``)."""
    with restore_session(repo, name, opts) as planned:
        return planned.execute()


def _plan_sections(m: Manifest, opts: RestoreOptions, store: ChunkStore) -> tuple[SourcePlan, ...]:
    """The sections a restore writes back: on a restore of the whole snapshot only (what
    ``--include``, ``--collection``, ``--target``, ``--target-db``, ``--no-bulk`` or
    ``--no-db`` narrow it to is files or the database: spec/sources.md)."""
    narrowed = opts.include or opts.collections or opts.target or opts.target_db
    if narrowed or not (opts.restore_bulk and opts.restore_db):
        return ()
    out = []
    for name, section in sorted(m.sections.items()):
        source = find(name)
        if source is not None:
            out.append(source.plan(section, store))
    return tuple(out)


def _coverage(t: RestoreTarget, m: Manifest, excludes: tuple[str, ...]) -> Coverage:
    """What root ``t``'s listing speaks for: not the folders the restore keeps."""
    coverage = Coverage.of(t.root, m.warnings, excludes)
    return replace(coverage, unread=coverage.unread | t.kept_paths) if t.kept else coverage


def _way_back(opts: RestoreOptions, live_db: bool) -> str:
    """The flags that restore the safety snapshot to where it was taken, when a plain
    ``snapstore restore SAFETY`` would not (its roots are not the configured ones, or its
    database is not the configured one)."""
    back = f" --target {quote(opts.target)}" if opts.target is not None else ""
    if opts.target_db and live_db:
        back += f" --target-db {quote(opts.target_db)}"
    return back


def _take_safety(
    repo: Repository, m: Manifest, opts: RestoreOptions, roots: list[str], live_db: bool
) -> str:
    """Snapshot what the restore will replace; with --target-db, that database."""
    source = repo
    if opts.target_db:
        arango = replace(repo.settings.arangodb, database=opts.target_db)
        # A copy that shares ``repo``'s opening (``Repository.open(share=True)``).
        source = replace(repo, settings=replace(repo.settings, arangodb=arango))
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


def _scope(opts: RestoreOptions) -> tuple[bool, bool]:
    """Which parts a request asks for, (files, database): the one place for the rule
    (spec/restore.md, "What a restore writes"). ``--collection`` without ``--include`` is a
    database restore; ``--include`` without ``--collection`` a files restore; ``--target``
    (files elsewhere) leaves the live database alone unless ``--target-db`` names one."""
    files = opts.restore_bulk and (not opts.collections or bool(opts.include))
    database = (
        opts.restore_db
        and (not opts.include or bool(opts.collections))
        and (opts.target is None or opts.target_db is not None)
    )
    return files, database


def _why_not(opts: RestoreOptions) -> tuple[str, str]:
    """Why the files, and why the database, are not restored (for the plan)."""
    if not opts.restore_bulk:
        bulk = "--no-bulk"
    else:
        bulk = "--collection restores the database only (add --include PATH for files too)"
    if not opts.restore_db:
        db = "--no-db"
    elif opts.include and not opts.collections:
        db = "--include restores files only (add --collection NAME for collections too)"
    else:
        db = (
            "--target restores the files only, the live database is left alone "
            "(add --target-db NAME to restore it into database NAME)"
        )
    return bulk, db


def _check_flags(opts: RestoreOptions, files: bool) -> None:
    if not opts.restore_bulk and not opts.restore_db:
        raise InvalidInput("--no-bulk and --no-db together leave nothing to restore")
    if opts.collections and not opts.restore_db:
        raise InvalidInput(
            "--collection names collections of the database, and --no-db restores none"
        )
    if opts.target is not None and not files:
        why = "--no-bulk" if not opts.restore_bulk else "--collection without --include"
        raise InvalidInput(
            f"--target is where the files go, and {why} restores none: drop --target "
            "(--target-db NAME restores the database into another database)"
        )


def _plan(
    repo: Repository, m: Manifest, opts: RestoreOptions, compare: ChunkStore | None = None
) -> tuple[RestorePlan, DatabaseRestorePlan | None]:
    """The plan, and the database's (compared with the live one, reading the snapshot's
    documents from ``compare``, when given: the dry run)."""
    settings = repo.settings
    files, database = _scope(opts)
    _check_flags(opts, files)
    do_bulk = files and m.bulk is not None
    do_db = database and m.database is not None
    if do_db and not settings.database_configured:
        raise InvalidInput(
            f"snapshot {m.name} holds a database dump but no database is configured "
            "(set --arango-url, or pass --no-db)"
        )
    if not do_bulk and not do_db:
        raise InvalidInput(_nothing(m, opts, files))
    bulk_note, db_note = _why_not(opts)
    targets: list[RestoreTarget] = []
    if do_bulk:
        # Checks labels and root paths (a hostile manifest), that in-place roots are
        # configured ones, and the target (bad input).
        own = own_folders(settings)
        configured = [str(Path(p).expanduser().absolute()) for p in settings.bulk]
        for root, dest in plan_targets(m, opts.target, list(own), configured):
            inside = paths_inside(dest, own) if opts.target is None else {}
            _same_disk(dest, inside, own)
            refuse_mount_points(dest)
            targets.append(
                RestoreTarget(
                    root.path,
                    dest,
                    dest.exists(),
                    tuple((rel, f"{own[p]} {p}") for rel, p in inside.items()),
                )
            )
    db_changes: dict[str, list[str]] = {}
    into = None
    db_plan = None
    if do_db and m.database is not None:
        db_plan = repo.database(opts.target_db).plan_restore(
            m.database, list(opts.collections) or None, compare=compare is not None, store=compare
        )
        db_changes = {"drop": db_plan.drop, "replace": db_plan.replace, "create": db_plan.create}
        into = opts.target_db or settings.arangodb.database
        db_changes["database"] = [into]
    restore_plan = RestorePlan(
        snapshot=SnapshotInfo.from_manifest(m),
        targets=tuple(targets),
        restore_bulk=do_bulk,
        restore_db=do_db,
        database_changes=db_changes,
        safety_snapshot=opts.safety_snapshot,
        bulk_note=bulk_note if m.bulk is not None and not do_bulk else "",
        database_note=db_note if m.database is not None and not do_db else "",
        database=into,
    )
    return restore_plan, db_plan


def _same_disk(dest: Path, inside: dict[bytes, str], own: dict[str, str]) -> None:
    """A folder the restore keeps is linked into the new tree: one on another file system
    (a mount point inside the bulk root) could only be copied, and the replaced tree's
    removal would then empty it. Refused before anything is written."""
    if not inside or not dest.exists():
        return
    disk = os.stat(dest).st_dev
    for path in inside.values():
        try:
            other = os.stat(os.path.expanduser(path)).st_dev
        except FileNotFoundError:
            continue  # not made yet (a cache nothing wrote to): nothing to keep
        if other != disk:
            raise InvalidInput(
                f"{own[path]} {path} is inside bulk root {dest} but on another file system: "
                "an in-place restore cannot keep it there; restore with --target DIR"
            )


def _nothing(m: Manifest, opts: RestoreOptions, files: bool) -> str:
    """The refusal of a request that restores nothing of ``m``."""
    if opts.collections and m.database is None:
        return f"snapshot {m.name} holds no database: --collection has nothing to restore"
    if files and m.bulk is None and opts.target is not None and opts.restore_db:
        return (
            f"snapshot {m.name} holds only a database dump, and --target restores files "
            "only: add --target-db NAME to restore the database into database NAME"
        )
    has = "bulk storage" if m.bulk is not None else "a database dump"
    return f"snapshot {m.name} has only {has}; nothing left to restore"


def _kept_parts(plan: RestorePlan, parts: list[Part]) -> None:
    """Refuse an include at or below a folder the restore keeps (the repository...)."""
    targets = {t.root: t for t in plan.targets}
    for p in parts:
        t = targets.get(p.root.path)
        for k, what in t.kept if t else ():
            if p.path == k or p.path.startswith(k + b"/"):
                raise InvalidInput(
                    f"--include {os.fsdecode(p.path)} is inside {what}, which restore keeps "
                    "as it is"
                )


def _include_text(m: Manifest, parts: list[Part]) -> tuple[str, ...]:
    """The paths ``--include`` selected (checked against the snapshot), for the prompt."""
    multi = len(m.bulk or []) > 1
    return tuple(
        "/".join(x for x in ((p.root.label if multi else ""), os.fsdecode(p.path)) if x)
        + ("/" if p.type == DIR else "")
        for p in parts
    )
