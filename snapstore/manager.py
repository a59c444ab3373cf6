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

from snapstore.backend import Backend, open_backend
from snapstore.check import CheckReport, check_repository
from snapstore.errors import (
    AmbiguousSnapshot,
    DatabaseError,
    InvalidInput,
    NotConfirmed,
    RepositoryError,
    SnapshotNotFound,
)
from snapstore.gitinfo import read_git_info
from snapstore.locking import LockInfo, RepositoryLock, read_locks, remove_stale
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import FileEntry
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.naming import check_prefix, check_snapshot_name, slugify, snapshot_name
from snapstore.records import (
    CreateResult,
    RestorePlan,
    RestoreResult,
    RestoreTarget,
    SnapshotInfo,
)
from snapstore.reporting import Reporter
from snapstore.settings import Settings, load_settings
from snapstore.sources.database import DatabaseSource
from snapstore.sources.files import FilesBackup, load_entries, restore_root
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import ChunkerParams, RepoConfig, read_config, write_config

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
        try:
            yield backend, store, initialized
        finally:
            store.close()
            backend.close()

    def _lock(self, backend: Backend, operation: str, *, exclusive: bool) -> RepositoryLock:
        return RepositoryLock.acquire(
            backend,
            operation,
            exclusive=exclusive,
            wait=self.settings.lock_wait,
            warn=self.reporter.warn,
        )

    def _database(self) -> DatabaseSource:
        try:
            from snapstore.sources.arangodb import ArangoSource
        except ImportError as e:
            raise DatabaseError(f"ArangoDB support is not available: {e}") from None
        return ArangoSource(self.settings.arangodb, self.reporter)

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
    ) -> CreateResult:
        """Snapshot the configured bulk roots and database; publish the manifest last."""
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

        with self._store(create=True) as (backend, store, initialized):
            with self._lock(backend, "create", exclusive=False):
                catalog = Catalog(backend)
                existing = catalog.load_all().manifests
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
                if want_db:
                    capture = self._database().capture(store, self.reporter)
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
                )
                self._publish(catalog, manifest, now_local)
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
    ) -> dict[bytes, FileEntry] | None:
        """The newest snapshot's entries for ``root``, for stat-based reuse."""
        for m in existing:  # newest first
            for r in m.bulk or []:
                if r.path == root and not m.partial:
                    return {e.path: e for e in load_entries(store, r, m.name)}
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
    ) -> RestorePlan:
        """What ``restore_snapshot`` would do; raises on requests it could not carry out."""
        backend = self._backend()
        read_config(backend)
        m = self._resolve(backend, snapshot_name)
        return self._plan(m, restore_bulk, restore_db, target, safety_snapshot, collections)

    def _plan(
        self,
        m: Manifest,
        restore_bulk: bool,
        restore_db: bool,
        target: str | None,
        safety_snapshot: bool,
        collections: list[str] | None,
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
            roots = m.bulk or []
            for root in roots:
                if target is None:
                    dest = Path(root.path)
                elif len(roots) == 1:
                    dest = Path(target).expanduser().absolute()
                else:
                    dest = Path(target).expanduser().absolute() / root.label
                targets.append(RestoreTarget(root.path, dest, dest.exists()))
        db_changes: dict[str, list[str]] = {}
        if do_db and m.database is not None:
            plan = self._database().plan_restore(m.database, collections)
            db_changes = {"drop": plan.drop, "replace": plan.replace, "create": plan.create}
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
    ) -> RestoreResult:
        """Make the live bulk storage (and database) equal to the snapshot.

        ``confirm=True`` is required: restore replaces current data. Unless
        ``safety_snapshot`` is False, the current state is snapshotted first.
        """
        if confirm is not True:
            raise NotConfirmed("restore replaces current data: pass confirm=True to proceed")
        started = time.monotonic()
        with self._store() as (backend, store, _):
            m = self._resolve(backend, snapshot_name)
            plan = self._plan(m, restore_bulk, restore_db, target, safety_snapshot, collections)
            safety_name = None
            live = [t for t in plan.targets if t.exists and any(t.target.iterdir())]
            if safety_snapshot and (live or plan.restore_db):
                safety = self.create(
                    f"Safety snapshot before restoring {m.name}",
                    kind="safety",
                    include_bulk=bool(live),
                    include_db=plan.restore_db,
                    bulk_roots=[str(t.target) for t in live],
                    safety_for=m.name,
                )
                safety_name = safety.snapshot.snapshot_name
                self.reporter.info(f"Safety snapshot taken: {safety_name}")
            with self._lock(backend, "restore", exclusive=False):
                files = nbytes = 0
                roots = {r.path: r for r in m.bulk or []}
                for t in plan.targets:
                    stats = restore_root(store, roots[t.root], t.target, self.reporter, m.name)
                    files += stats.files
                    nbytes += stats.bytes
                db_result = None
                if plan.restore_db and m.database is not None:
                    try:
                        db_result = self._database().restore(
                            store, m.database, self.reporter, collections
                        )
                    except DatabaseError as e:
                        if safety_name:
                            raise DatabaseError(
                                f"{e}; the state before this restore is in snapshot {safety_name}"
                            ) from None
                        raise
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
        return SnapshotInfo.from_manifest(m)

    # -- maintenance --------------------------------------------------------------------------

    def check(self, read_data: bool = False) -> CheckReport:
        with self._store() as (backend, store, _):
            with self._lock(backend, "check", exclusive=False):
                return check_repository(backend, store, read_data=read_data, reporter=self.reporter)

    def locks(self) -> list[LockInfo]:
        backend = self._backend()
        read_config(backend)
        return read_locks(backend)

    def unlock(self, everything: bool = False) -> list[LockInfo]:
        """Remove stale locks (all locks with ``everything``)."""
        backend = self._backend()
        read_config(backend)
        return remove_stale(backend, everything=everything)


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
