"""SnapshotManager: the public API. Each method runs one whole operation on the repository.

It resolves settings, opens the backend and chunk store, takes the right lock, drives the
sources, and publishes or removes manifests in the order the durability promises require.
The CLI and ``tools.backup`` are thin layers over it.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapstore import browse
from snapstore.backend import Backend, open_backend
from snapstore.browse import EntryInfo
from snapstore.check import CheckReport, check_repository
from snapstore.diff import SnapshotDiff, diff_live, diff_snapshots
from snapstore.errors import (
    AmbiguousSnapshot,
    ConfigError,
    DatabaseError,
    InvalidInput,
    NotConfirmed,
    RepositoryError,
    SnapshotNotFound,
    SnapstoreError,
)
from snapstore.gc import DEFAULT_MAX_UNUSED, GcResult, collect_garbage
from snapstore.gitinfo import read_git_info
from snapstore.lifecycle import (
    ArchiveResult,
    CleanupResult,
    archive_cold,
    decide,
    load_manifests,
    run_cleanup,
    snapshot_usage,
)
from snapstore.locking import LockInfo, RepositoryLock, read_locks, remove_stale
from snapstore.manifest.catalog import Catalog, missing_problem
from snapstore.manifest.listing import Coverage, FileEntry
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.naming import check_prefix, check_snapshot_name, slugify, snapshot_name
from snapstore.ops.database_restore import DatabaseRestore
from snapstore.records import (
    CreateResult,
    RestorePlan,
    RestoreResult,
    RestoreTarget,
    SnapshotInfo,
)
from snapstore.reporting import Reporter
from snapstore.retention import Fate, RetentionPolicy
from snapstore.settings import Settings, load_settings
from snapstore.sources.database import DatabaseSource
from snapstore.sources.files import FilesBackup, load_entries, load_entry_maps
from snapstore.sources.restore import (
    RestoreJob,
    plan_targets,
    recover,
    restore_roots,
    restored_parent,
)
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import ChunkerParams, RepoConfig, read_config, write_config
from snapstore.store.rebuild import RebuildReport, rebuild_index
from snapstore.tree.output import WriteStats

MB = 1024 * 1024
MAX_NAME_ATTEMPTS = 100


def _mb(n: int) -> float:
    return round(n / MB, 1)


class SnapshotManager:
    """Create, list, restore, delete and check snapshots of the configured sources.

    ``SnapshotManager()`` reads settings the way the CLI does (config file, environment);
    pass ``settings`` or keyword overrides (``repository=``, ``bulk=``...) to choose otherwise.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        reporter: Reporter | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = load_settings(overrides=overrides)
        elif overrides:
            settings = replace(settings, **overrides)
        self.settings = settings
        self.reporter = reporter or Reporter()
        # The chunk store open on each backend (by id), so that ``_lock`` can bring it up to
        # date once the lock is held (spec/packs.md, "Index cache").
        self._open_stores: dict[int, ChunkStore] = {}
        check_prefix(settings.prefix)

    # -- repository plumbing ------------------------------------------------------------------

    def _backend(self) -> Backend:
        return open_backend(self.settings.repository)

    def init_repository(self, chunker: ChunkerParams | None = None) -> RepoConfig:
        """Create an empty repository at the configured location."""
        backend = self._backend()
        if backend.exists():
            raise RepositoryError(f"{backend.location} is already a snapstore repository")
        config = RepoConfig(chunker=chunker or ChunkerParams())
        write_config(backend, config)
        return config

    def repository_config(self) -> RepoConfig:
        return read_config(self._backend())

    @contextmanager
    def _store(self, *, create: bool = False) -> Iterator[tuple[Backend, ChunkStore, bool]]:
        backend = self._backend()
        initialized = False
        if create and not backend.exists():
            write_config(backend, RepoConfig())
            initialized = True
            self.reporter.info(f"Initialized a new repository at {backend.location}")
        store = ChunkStore.open(backend, self.settings.cache_dir)
        self._open_stores[id(backend)] = store
        try:
            yield backend, store, initialized
        finally:
            self._open_stores.pop(id(backend), None)
            store.close()
            backend.close()

    def _lock(self, backend: Backend, operation: str, *, exclusive: bool) -> RepositoryLock:
        """Take the lock; then re-sync the index cache of the store open on ``backend``: a
        gc that held the lock while we waited may have deleted or moved chunks it lists."""
        lock = RepositoryLock.acquire(
            backend,
            operation,
            exclusive=exclusive,
            wait=self.settings.lock_wait,
            warn=self.reporter.warn,
        )
        store = self._open_stores.get(id(backend))
        if store is not None:
            try:
                store.resync()
            except BaseException:
                lock.release()
                raise
        return lock

    def _database(self, target_db: str | None = None) -> DatabaseSource:
        """The database source; ``target_db`` names another database (restore --target-db)."""
        try:
            from snapstore.sources.arangodb import ArangoSource
        except ImportError as e:
            raise DatabaseError(f"ArangoDB support is not available: {e}") from None
        return ArangoSource(self.settings.arangodb, self.reporter, target_db)

    # -- create -------------------------------------------------------------------------------

    def create_snapshot(
        self,
        description: str,
        permanent: bool = False,
        include_bulk: bool = True,
        include_db: bool = True,
    ) -> str:
        """The seed's call: create a snapshot and return its name."""
        return self.create(
            description, permanent=permanent, include_bulk=include_bulk, include_db=include_db
        ).snapshot.snapshot_name

    def create(
        self,
        description: str,
        *,
        permanent: bool = False,
        include_bulk: bool = True,
        include_db: bool = True,
        kind: str = "regular",
        bulk_roots: list[str] | None = None,
        safety_for: str | None = None,
        cleanup: bool = True,
    ) -> CreateResult:
        """Snapshot the configured bulk roots and database; publish the manifest last.
        ``cleanup=False`` skips the automatic cleanup (``auto_cleanup``) for this create."""
        started = time.monotonic()
        if not include_bulk and not include_db:
            raise InvalidInput("--no-bulk and --no-db together leave nothing to snapshot")
        slugify(description)  # reject a description that cannot name a snapshot, early
        want_db = include_db and self.settings.database_configured
        roots = [Path(p).expanduser().absolute() for p in (bulk_roots or self.settings.bulk)]
        if include_bulk:
            if not roots:
                raise InvalidInput("no bulk root is configured (use --bulk PATH)")
            for root in roots:
                if not root.is_dir():
                    raise InvalidInput(f"bulk root {root} does not exist or is not a directory")
        if not include_bulk and not want_db:
            raise InvalidInput("--no-bulk given but no database is configured: nothing to snapshot")
        git = read_git_info(self.settings.project_dir)
        db_source = None
        if want_db:
            # Unreachable server, wrong password, missing database: fail before anything
            # (a new repository, bulk chunks) is written.
            db_source = self._database()
            db_source.connect()

        with self._store(create=True) as (backend, store, initialized):
            with self._lock(backend, "create", exclusive=False):
                catalog = Catalog(backend)
                seen = catalog.load_all()
                existing = seen.manifests
                bulk: list[BulkRoot] | None = None
                read_bytes = reused = 0
                skipped: list[str] = []
                if include_bulk:
                    bulk = []
                    files = FilesBackup(store, self.settings.exclude, self.reporter)
                    labels = _labels(roots)
                    for root, label in zip(roots, labels, strict=True):
                        parent = self._parent_listing(store, existing, str(root))
                        res = files.backup_root(root, label, parent)
                        bulk.append(res.root)
                        read_bytes += res.read_bytes
                        reused += res.reused_files
                        skipped += res.skipped
                db_section = None
                collections: dict[str, int] = {}
                db_size = 0
                if db_source is not None:
                    capture = db_source.capture(store, self.reporter)
                    db_section = capture.section
                    collections = capture.collections
                    db_size = capture.size_bytes
                # Durability order: packs and index first, the manifest last.
                store.flush()
                added = store.stats.pack_bytes + store.stats.index_bytes
                now_local = datetime.now().astimezone()
                manifest = Manifest(
                    name="",
                    created=now_local.astimezone(UTC).isoformat(timespec="microseconds"),
                    timestamp=now_local.replace(tzinfo=None).isoformat(timespec="seconds"),
                    description=description,
                    kind=kind,
                    permanent=permanent,
                    git_commit=git.commit,
                    git_branch=git.branch,
                    git_dirty=git.dirty,
                    collections=collections,
                    bulk_store_size_mb=_mb(sum(r.bytes for r in bulk or [])),
                    database_size_mb=_mb(db_size),
                    hostname=socket.gethostname(),
                    username=_username(),
                    partial=bool(skipped),
                    warnings=skipped,
                    bulk=bulk,
                    database=db_section,
                    stats={
                        "added_bytes": added,
                        "new_chunks": store.stats.new_chunks,
                        "read_bytes": read_bytes,
                        "reused_files": reused,
                    },
                    safety_for=safety_for,
                    previous=catalog.predecessors(seen),
                )
                self._publish(catalog, manifest, now_local)
        self.last_cleanup = None
        if cleanup:
            self._after_create(manifest)  # lifecycle hook: automatic cleanup
        info = SnapshotInfo.from_manifest(manifest)
        return CreateResult(
            snapshot=info,
            metadata=manifest.metadata(),
            added_bytes=added + len(manifest.encode()),
            new_chunks=store.stats.new_chunks,
            read_bytes=read_bytes,
            reused_files=reused,
            skipped=tuple(skipped),
            elapsed=time.monotonic() - started,
            initialized=initialized,
        )

    def _publish(self, catalog: Catalog, manifest: Manifest, when: datetime) -> None:
        # Two snapshots in the same second get _2, _3...: the create-only put decides the race.
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            manifest.name = snapshot_name(self.settings.prefix, when, manifest.description, attempt)
            if catalog.publish(manifest):
                return
        raise RepositoryError(
            f"could not find a free snapshot name after {MAX_NAME_ATTEMPTS} tries"
        )

    def _parent_listing(
        self, store: ChunkStore, existing: list[Manifest], root: str
    ) -> Iterator[dict[str, Any]] | None:
        """The newest snapshot's entries for ``root``, for stat-based reuse: a stream in
        listing order that the files source merges with its walk (a damaged listing is
        reported there and the files are read instead). Right after a restore into ``root``,
        the restored snapshot's entries with the inodes the restore recorded."""
        restored = restored_parent(store, self.settings.cache_dir, root, existing)
        if restored is not None:
            return restored
        for m in existing:  # newest first
            for r in m.bulk or []:
                if r.path == root and not m.partial:
                    return load_entry_maps(store, r, m.name)
        return None

    # -- list / show --------------------------------------------------------------------------

    def list_snapshots(self) -> list[SnapshotInfo]:
        """All readable snapshots, newest first (see ``list_with_problems``)."""
        return self.list_with_problems()[0]

    def list_with_problems(self) -> tuple[list[SnapshotInfo], list[str]]:
        backend = self._backend()
        read_config(backend)
        listing = Catalog(backend).load_all()
        return [SnapshotInfo.from_manifest(m) for m in listing.manifests], listing.problems

    def _resolve(self, backend: Backend, name: str) -> Manifest:
        check_snapshot_name(name)
        catalog = Catalog(backend)
        names = catalog.names()
        if name not in names:
            matches = [n for n in names if n.startswith(name)]
            if not matches:
                raise SnapshotNotFound(f"no snapshot named {name!r} (see `snapstore list`)")
            if len(matches) > 1:
                shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
                raise AmbiguousSnapshot(
                    f"{name!r} matches {len(matches)} snapshots ({shown}); give more of the name"
                )
            name = matches[0]
        return catalog.load(name)

    def get_snapshot(self, name: str) -> SnapshotInfo:
        """One snapshot by full name or unique prefix."""
        backend = self._backend()
        read_config(backend)
        return SnapshotInfo.from_manifest(self._resolve(backend, name))

    def snapshot_files(self, name: str) -> Iterator[tuple[str, FileEntry]]:
        """Every (root, entry) of a snapshot's bulk listing."""
        with self._store() as (backend, store, _):
            m = self._resolve(backend, name)
            for root in m.bulk or []:
                for entry in load_entries(store, root, m.name):
                    yield root.path, entry

    # -- restore ------------------------------------------------------------------------------

    def plan_restore(
        self,
        snapshot_name: str,
        *,
        restore_bulk: bool = True,
        restore_db: bool = True,
        target: str | None = None,
        safety_snapshot: bool = True,
        collections: list[str] | None = None,
        target_db: str | None = None,
    ) -> RestorePlan:
        """What ``restore_snapshot`` would do; raises on requests it could not carry out."""
        backend = self._backend()
        read_config(backend)
        m = self._resolve(backend, snapshot_name)
        return self._plan(
            m, restore_bulk, restore_db, target, safety_snapshot, collections, target_db
        )

    def _plan(
        self,
        m: Manifest,
        restore_bulk: bool,
        restore_db: bool,
        target: str | None,
        safety_snapshot: bool,
        collections: list[str] | None,
        target_db: str | None = None,
    ) -> RestorePlan:
        if not restore_bulk and not restore_db:
            raise InvalidInput("--no-bulk and --no-db together leave nothing to restore")
        do_bulk = restore_bulk and m.bulk is not None
        do_db = restore_db and m.database is not None
        if restore_db and m.database is not None and not self.settings.database_configured:
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
            repo = self.settings.repository
            for root, dest in plan_targets(m, target, [] if "://" in repo else [repo]):
                targets.append(RestoreTarget(root.path, dest, dest.exists()))
        db_changes: dict[str, list[str]] = {}
        if do_db and m.database is not None:
            plan = self._database(target_db).plan_restore(m.database, collections)
            db_changes = {"drop": plan.drop, "replace": plan.replace, "create": plan.create}
            db_changes["database"] = [target_db or self.settings.arangodb.database]
        return RestorePlan(
            snapshot=SnapshotInfo.from_manifest(m),
            targets=tuple(targets),
            restore_bulk=do_bulk,
            restore_db=do_db,
            database_changes=db_changes,
            safety_snapshot=safety_snapshot,
        )

    def restore_snapshot(
        self,
        snapshot_name: str,
        confirm: bool = False,
        restore_bulk: bool = True,
        restore_db: bool = True,
        *,
        target: str | None = None,
        safety_snapshot: bool = True,
        collections: list[str] | None = None,
        target_db: str | None = None,
        verify: bool = False,
    ) -> RestoreResult:
        """Make the live bulk storage (and database) equal to the snapshot.

        ``confirm=True`` is required: restore replaces current data. Unless
        ``safety_snapshot`` is False, the current state is snapshotted first.
        ``target_db`` restores the database into that database instead (created if missing).
        Live files are kept when type, size, mtime, mode and owner match the snapshot's
        (``verify``: their content too), see spec/restore.md.
        """
        if confirm is not True:
            raise NotConfirmed("restore replaces current data: pass confirm=True to proceed")
        started = time.monotonic()
        with self._store() as (backend, store, _):
            m = self._resolve(backend, snapshot_name)
            plan = self._plan(
                m, restore_bulk, restore_db, target, safety_snapshot, collections, target_db
            )
            # Finish (or undo) what an interrupted restore left, before anything looks at it.
            recover([t.target for t in plan.targets], self.reporter)
            safety_name = None
            live = [t for t in plan.targets if t.exists and any(t.target.iterdir())]
            # The safety snapshot holds the database being replaced (--target-db's, if given),
            # and only if it exists: a database the restore creates has no state to keep.
            live_db = plan.restore_db and self._database(target_db).database_exists()
            if safety_snapshot and (live or live_db):
                source = self
                if target_db:
                    arango = replace(self.settings.arangodb, database=target_db)
                    source = SnapshotManager(
                        replace(self.settings, arangodb=arango), reporter=self.reporter
                    )
                safety = source.create(
                    f"Safety snapshot before restoring {m.name}",
                    kind="safety",
                    include_bulk=bool(live),
                    include_db=live_db,
                    bulk_roots=[str(t.target) for t in live],
                    safety_for=m.name,
                )
                safety_name = safety.snapshot.snapshot_name
                self.reporter.info(f"Safety snapshot taken: {safety_name}")
            with self._lock(backend, "restore", exclusive=False):
                if m.name not in Catalog(backend).names():  # a delete ran while we waited
                    raise SnapshotNotFound(
                        f"snapshot {m.name} was deleted while this restore waited for the lock"
                    )
                files = nbytes = 0
                roots = {r.path: r for r in m.bulk or []}
                jobs = [
                    RestoreJob(
                        roots[t.root],
                        t.target,
                        Coverage.of(t.root, m.warnings, self.settings.exclude),
                    )
                    for t in plan.targets
                ]
                if jobs:
                    done = restore_roots(
                        store,
                        jobs,
                        self.reporter,
                        m.name,
                        verify=verify,
                        safety_snapshot=safety_name,
                        record=True,
                        cache_dir=self.settings.cache_dir,
                    )
                    for t, stats in zip(plan.targets, done, strict=True):
                        files += stats.files
                        nbytes += stats.bytes
                        self.reporter.info(stats.describe(str(t.target)))
                db_result = None
                if plan.restore_db and m.database is not None:
                    restored = ", ".join(str(t.target) for t in plan.targets)
                    safety = Catalog(backend).load(safety_name) if live_db and safety_name else None
                    db_result = DatabaseRestore(
                        store,
                        self._database(target_db),
                        m,
                        self.reporter,
                        collections,
                        safety=safety,
                        existed=live_db,
                        flags=f" --target-db {target_db}" if target_db else "",
                        done_before=f"the bulk files were restored into {restored}"
                        if restored
                        else "",
                    ).run()
        return RestoreResult(
            snapshot=plan.snapshot,
            safety_snapshot=safety_name,
            files=files,
            bytes=nbytes,
            targets=tuple(str(t.target) for t in plan.targets),
            database=db_result,
            elapsed=time.monotonic() - started,
        )

    # -- delete -------------------------------------------------------------------------------

    def delete_snapshot(self, snapshot_name: str, force: bool = False) -> SnapshotInfo:
        """Remove a snapshot's manifest; its data is reclaimed by the next gc."""
        backend = self._backend()
        read_config(backend)
        with self._lock(backend, "delete", exclusive=True):
            m = self._resolve(backend, snapshot_name)
            if m.permanent and not force:
                raise InvalidInput(f"snapshot {m.name} is permanent; use --force to delete it")
            Catalog(backend).delete(m.name)
        self._after_delete()  # lifecycle hook: reclaim the space at once
        return SnapshotInfo.from_manifest(m)

    def broken_snapshot(self, name: str) -> str | None:
        """Why snapshot ``name`` (exact) is broken: its manifest is damaged, or it was removed
        outside snapstore while another manifest names it (spec/manifest.md). None if not."""
        backend = self._backend()
        read_config(backend)
        listing = Catalog(backend).load_all()
        if name in listing.missing:
            return missing_problem(name, listing.missing[name])
        return listing.unreadable.get(name)

    def delete_broken(self, name: str) -> None:
        """``delete --force`` of a broken snapshot (``broken_snapshot``): remove its damaged
        manifest, or accept the loss of a removed one; its data is reclaimed by gc."""
        check_snapshot_name(name)
        backend = self._backend()
        read_config(backend)
        with self._lock(backend, "delete", exclusive=True):
            catalog = Catalog(backend)
            listing = catalog.load_all()
            if name not in listing.unreadable and name not in listing.missing:
                raise SnapshotNotFound(f"snapshot {name} is not damaged or missing")
            catalog.delete(name)
        self._after_delete()

    # -- maintenance --------------------------------------------------------------------------

    def check(self, read_data: bool = False) -> CheckReport:
        self._recover_restores()
        with self._store() as (backend, store, _):
            with self._lock(backend, "check", exclusive=False):
                return check_repository(backend, store, read_data=read_data, reporter=self.reporter)

    def rebuild_index(self) -> RebuildReport:
        """Rebuild the repository index from the packs' tables of contents."""
        backend = self._backend()
        read_config(backend)
        with self._lock(backend, "rebuild-index", exclusive=True):
            return rebuild_index(backend, self.reporter)

    def locks(self) -> list[LockInfo]:
        backend = self._backend()
        read_config(backend)
        return read_locks(backend)

    def unlock(self, everything: bool = False) -> list[LockInfo]:
        """Remove stale locks (all locks with ``everything``), and finish or undo what
        interrupted restores left beside the configured bulk roots."""
        backend = self._backend()
        read_config(backend)
        self._recover_restores()
        return remove_stale(backend, everything=everything)

    def _recover_restores(self) -> list[str]:
        """Leftovers of interrupted restores beside the bulk roots (spec/restore.md)."""
        return recover([Path(p).expanduser() for p in self.settings.bulk], self.reporter)

    # -- lifecycle: retention, gc, pin, archives, diff, usage (spec/gc.md, archives.md, ...) --

    last_cleanup: CleanupResult | None = None  # what the automatic cleanup of create did

    def retention_policy(self) -> RetentionPolicy:
        """The configured ``[retention]`` policy (spec/retention.md)."""
        try:
            return RetentionPolicy.from_mapping(self.settings.retention)
        except ValueError as e:
            raise ConfigError(f"[retention]: {e}") from None

    def apply_retention_policy(
        self, dry_run: bool = False, now: datetime | None = None
    ) -> CleanupResult:
        """The seed's call: apply the retention policy (delete, compress, then gc).

        ``now`` (aware datetime) evaluates the policy as of that instant; ``dry_run`` decides
        and changes nothing. The decisions are in ``result.decisions``.
        """
        when = now if now is not None else datetime.now(UTC)
        if when.utcoffset() is None:
            raise InvalidInput("now must be a timezone-aware datetime")
        policy = self.retention_policy()
        with self._store() as (backend, store, _):
            # A dry run only reads: a shared lock, so it never waits for (or blocks) a create.
            with self._lock(backend, "cleanup", exclusive=not dry_run):
                return run_cleanup(backend, store, policy, when, self.reporter, dry_run=dry_run)

    def gc(self, *, max_unused: float = DEFAULT_MAX_UNUSED, dry_run: bool = False) -> GcResult:
        """Delete what no snapshot references; rewrite packs more than ``max_unused`` dead."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "gc", exclusive=True):
                manifests = load_manifests(backend, "gc")
                return collect_garbage(
                    backend,
                    store,
                    manifests,
                    self.reporter,
                    max_unused=max_unused,
                    dry_run=dry_run,
                )

    def archive(
        self, names: list[str] | None = None, *, now: datetime | None = None
    ) -> ArchiveResult:
        """Compress snapshots now: ``names``, or those the policy marks ``compress``; then gc
        drops the pack copies of the archived chunks. Deletes no snapshot."""
        policy = self.retention_policy()
        with self._store() as (backend, store, _):
            with self._lock(backend, "archive", exclusive=True):
                manifests = load_manifests(backend, "archive")
                if names:
                    chosen = {self._resolve(backend, n).name for n in names}
                else:
                    when = now if now is not None else datetime.now(UTC)
                    chosen = {
                        d.name for d in decide(manifests, when, policy) if d.fate is Fate.COMPRESS
                    }
                result, marks = archive_cold(backend, store, manifests, chosen, self.reporter)
                result.gc = collect_garbage(backend, store, manifests, self.reporter, marks=marks)
                return result

    def pin(self, name: str) -> SnapshotInfo:
        """Mark a snapshot permanent (never deleted by cleanup)."""
        return self._set_permanent(name, True)

    def unpin(self, name: str) -> SnapshotInfo:
        """Clear a snapshot's permanent flag (cleanup may then delete it)."""
        return self._set_permanent(name, False)

    def _set_permanent(self, name: str, value: bool) -> SnapshotInfo:
        backend = self._backend()
        read_config(backend)
        # Exclusive: a concurrent cleanup must not decide on the old flag and delete it.
        with self._lock(backend, "pin" if value else "unpin", exclusive=True):
            m = self._resolve(backend, name)
            if m.permanent != value:
                m.permanent = value
                Catalog(backend).replace(m)
        return SnapshotInfo.from_manifest(m)

    def diff(self, a: str, b: str) -> SnapshotDiff:
        """What changed from snapshot ``a`` to snapshot ``b`` (file data is never read)."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "diff", exclusive=False):
                ma, mb = self._resolve(backend, a), self._resolve(backend, b)
                return diff_snapshots(store, ma, mb)

    def restore_changes(
        self,
        snapshot_name: str,
        *,
        restore_bulk: bool = True,
        restore_db: bool = True,
        target: str | None = None,
        collections: list[str] | None = None,
        target_db: str | None = None,
    ) -> SnapshotDiff:
        """``restore --dry-run``: what restoring would change in the live files and database
        (live state as "before", the snapshot as "after"). Changes nothing."""
        with self._store() as (backend, store, _):
            m = self._resolve(backend, snapshot_name)
            plan = self._plan(m, restore_bulk, restore_db, target, False, collections, target_db)
            db_plan = None
            if plan.restore_db and m.database is not None:
                db_plan = self._database(target_db).plan_restore(
                    m.database, collections, compare=True
                )
            return diff_live(
                store,
                m,
                [(t.root, t.target) for t in plan.targets],
                db_plan,
                excludes=self.settings.exclude,
            )

    # -- looking inside snapshots (snapstore/browse.py) --------------------------------------

    def ls(self, name: str, path: str = "", *, recursive: bool = False) -> Iterator[EntryInfo]:
        """Entries of a snapshot's bulk tree at ``path`` (all below it with ``recursive``)."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "ls", exclusive=False):
                m = self._resolve(backend, name)
                for node in browse.list_entries(store, m, path, recursive=recursive):
                    yield browse.EntryInfo.of(m.name, node)

    def cat(self, name: str, path: str) -> Iterator[bytes]:
        """The bytes of one file of a snapshot, verified as they are read."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "cat", exclusive=False):
                yield from browse.file_content(store, self._resolve(backend, name), path)

    def find(self, pattern: str, snapshots: list[str] | None = None) -> Iterator[EntryInfo]:
        """Entries matching ``pattern`` in the given snapshots (all, newest first, if none)."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "find", exclusive=False):
                if snapshots:
                    manifests = [self._resolve(backend, n) for n in snapshots]
                else:
                    manifests = load_manifests(backend, "find")
                yield from browse.find(store, manifests, pattern)

    def export(
        self, name: str, dest: str | None = None, *, tar: str | None = None
    ) -> tuple[str, WriteStats]:
        """Write a snapshot out in the reference's layout (database as arangodump files)
        into the new folder ``dest``, or as a tar file ``tar`` (``-``: standard output)."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "export", exclusive=False):
                m = self._resolve(backend, name)
                return m.name, browse.export_snapshot(store, m, dest, tar)

    def documents(
        self, name: str, collection: str, start: int = 0, count: int = 50
    ) -> tuple[list[bytes], int]:
        """A page of a collection's documents in a snapshot (canonical JSON lines, ``_key``
        order) and the collection's count."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "documents", exclusive=False):
                m = self._resolve(backend, name)
                return browse.documents(store, m, collection, start, count)

    def mount(self, mountpoint: str) -> None:
        """Serve every snapshot read-only under ``mountpoint`` (FUSE) until unmounted. A
        shared lock is held meanwhile: delete, cleanup and gc wait for the unmount."""
        from snapstore import mount  # FUSE bindings only for this command

        where = mount.check_mountpoint(mountpoint)
        with self._store() as (backend, store, _):
            with self._lock(backend, "mount", exclusive=False):
                mount.serve(backend, store, where, self.reporter)

    def usage(self) -> dict[str, dict[str, int]]:
        """Per snapshot: ``unique_bytes`` (stored bytes only it references), ``unique_chunks``,
        ``archived_bytes``."""
        with self._store() as (backend, store, _):
            with self._lock(backend, "usage", exclusive=False):
                return snapshot_usage(store, load_manifests(backend, "usage"), self.reporter)

    def _after_create(self, manifest: Manifest) -> None:
        """Automatic cleanup after a successful create (``auto_cleanup``; never for the
        safety snapshot of a restore, which must not delete what is being restored)."""
        if not self.settings.auto_cleanup or manifest.kind == "safety":
            return
        try:
            policy = self.retention_policy()
            with self._store() as (backend, store, _):
                # Decide under a shared lock first: most creates have nothing to clean up,
                # and then they neither wait for nor warn about concurrent creates.
                with self._lock(backend, "cleanup", exclusive=False):
                    fates = {
                        d.fate
                        for d in decide(
                            load_manifests(backend, "cleanup"), datetime.now(UTC), policy
                        )
                    }
                if not fates & {Fate.DELETE, Fate.COMPRESS}:
                    return
                with self._lock(backend, "cleanup", exclusive=True):
                    result = run_cleanup(
                        backend,
                        store,
                        policy,
                        datetime.now(UTC),
                        self.reporter,
                        dry_run=False,
                        always_gc=False,
                    )
        except SnapstoreError as e:
            self.reporter.warn(f"automatic cleanup skipped: {e}; run `snapstore cleanup` later")
            return
        self.last_cleanup = result
        if result.deleted or result.compressed:
            reclaimed = result.gc.reclaimed_bytes if result.gc else 0
            self.reporter.info(
                f"Automatic cleanup: deleted {len(result.deleted)} snapshot(s)"
                + (f" ({', '.join(result.deleted)})" if result.deleted else "")
                + f", compressed {len(result.compressed)}, reclaimed {_mb(reclaimed)} MB"
            )

    def _after_delete(self) -> None:
        """Reclaim a deleted snapshot's space at once, as the seed's delete did."""
        try:
            result = self.gc()
        except SnapstoreError as e:
            self.reporter.warn(f"space not reclaimed yet ({e}); run `snapstore gc` later")
            return
        self.reporter.info(f"Reclaimed {_mb(result.reclaimed_bytes)} MB")


def _labels(roots: list[Path]) -> list[str]:
    """Short unique names for bulk roots (used as folder names by ``restore --target``)."""
    labels: list[str] = []
    for root in roots:
        base = root.name or "root"
        label, n = base, 2
        while label in labels:
            label, n = f"{base}_{n}", n + 1
        labels.append(label)
    return labels


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
