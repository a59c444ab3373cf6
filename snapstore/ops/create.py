"""Taking a snapshot: capture the bulk roots and the database, publish the manifest last.

Durability order (spec/README.md, promise 1): packs and index objects are written and flushed
first, the manifest is published last with a create-only put, so a crash at any point leaves
either no snapshot or a complete one. ``plan_create`` checks the request and decides what is
captured before the repository is opened (``CreatePlan``); ``create_snapshot`` executes it on
one opening of the repository, and runs the automatic cleanup (``maintain.after_create``) on
the same opening.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapstore.base.errors import InvalidInput, RepositoryError
from snapstore.base.gitinfo import GitInfo, read_git_info
from snapstore.base.naming import slugify, snapshot_name
from snapstore.base.reporting import Reporter
from snapstore.config.settings import Settings
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.ops import history
from snapstore.ops.create_cleanup import create_session
from snapstore.ops.records import CreateResult, SnapshotInfo
from snapstore.ops.repository import Opened, Repository
from snapstore.sources import registry
from snapstore.sources.database import DatabaseCapture, DatabaseSource
from snapstore.sources.files.capture import FilesBackup, load_entry_maps
from snapstore.sources.files.record import restored_parent
from snapstore.sources.files.walk import paths_inside
from snapstore.store.cache import default_cache_root
from snapstore.store.chunkstore import ChunkStore

if TYPE_CHECKING:
    from snapstore.maintenance.lifecycle import CleanupResult

log = logging.getLogger(__name__)

MB = 1024 * 1024
MAX_NAME_ATTEMPTS = 100


def mb(n: int) -> float:
    return round(n / MB, 1)


@dataclass(frozen=True)
class CreateRequest:
    """What to snapshot. ``bulk_roots`` overrides the configured roots (a restore's safety
    snapshot covers the roots it replaces); ``kind`` is "regular" or "safety"."""

    description: str
    permanent: bool = False
    include_bulk: bool = True
    include_db: bool = True
    kind: str = "regular"
    bulk_roots: tuple[str, ...] | None = None
    safety_for: str | None = None
    reread: bool = False  # read every file and document again (no reuse of the parent's)


@dataclass(frozen=True)
class RootPlan:
    """One bulk root a create captures: where it is, its label (``restore --target`` folder
    name), and the folders snapstore writes inside it that are left out, by relative path."""

    path: Path
    label: str
    leave_out: dict[bytes, str]


@dataclass(frozen=True)
class CreatePlan:
    """What one create captures, decided (and checked) before the repository is opened:
    ``roots`` (none with ``--no-bulk``), whether the database is captured, and the project's
    git state recorded in the manifest. ``create_snapshot`` executes it."""

    request: CreateRequest
    roots: tuple[RootPlan, ...]
    database: bool
    git: GitInfo


def plan_create(repo: Repository, req: CreateRequest) -> CreatePlan:
    """Check ``req`` against the settings and the file system; read nothing of the
    repository. Bad input (no root, a missing root, nothing to snapshot) is refused here."""
    settings = repo.settings
    if not req.include_bulk and not req.include_db:
        raise InvalidInput("--no-bulk and --no-db together leave nothing to snapshot")
    slugify(req.description)  # reject a description that cannot name a snapshot, early
    want_db = req.include_db and settings.database_configured
    roots: tuple[RootPlan, ...] = ()
    if req.include_bulk:
        paths = [Path(p).expanduser().absolute() for p in (req.bulk_roots or settings.bulk)]
        if not paths:
            raise InvalidInput("no bulk root is configured (use --bulk PATH)")
        for root in paths:
            if not root.is_dir():
                raise InvalidInput(f"bulk root {root} does not exist or is not a directory")
        own = own_folders(settings)
        roots = tuple(
            RootPlan(root, label, _leave_out(root, own))
            for root, label in zip(paths, labels(paths), strict=True)
        )
        if req.kind != "safety":  # said once, by the create the user asked for
            for r in roots:
                for path in r.leave_out.values():
                    repo.reporter.info(
                        f"Not captured: {own[path]} {path} is inside bulk root {r.path} "
                        "(restore keeps it as it is)"
                    )
    if not req.include_bulk and not want_db:
        raise InvalidInput("--no-bulk given but no database is configured: nothing to snapshot")
    return CreatePlan(req, roots, want_db, read_git_info(settings.project_dir))


AfterCreate = Callable[[Repository, Opened, Manifest], "CleanupResult | None"]


def create_snapshot(
    repo: Repository, req: CreateRequest, after: AfterCreate | None = None
) -> tuple[CreateResult, Manifest]:
    """Snapshot what ``req`` names; the result and the published manifest. ``after`` (the
    automatic cleanup) runs once the manifest is published, on the same opening of the
    repository; ``result.cleanup`` is what it returned."""
    started = time.monotonic()
    plan = plan_create(repo, req)
    db_source = None
    if plan.database:
        # Unreachable server, wrong password, missing database: fail before anything (a new
        # repository, bulk chunks) is written.
        db_source = repo.database()
        db_source.connect()
    with repo.open(create=True) as opened:
        with create_session(repo, opened):
            manifest, figures = _capture(repo, opened.store, plan, db_source)
        result = CreateResult(
            snapshot=SnapshotInfo.from_manifest(manifest),
            metadata=manifest.metadata(),
            added_bytes=figures.added + len(manifest.encode()),
            new_chunks=opened.store.stats.new_chunks,
            read_bytes=figures.read_bytes,
            reused_files=figures.reused,
            skipped=tuple(figures.skipped),
            elapsed=time.monotonic() - started,
            initialized=opened.initialized,
        )
        if after is not None:
            result = replace(result, cleanup=after(repo, opened, manifest))
    return result, manifest


@dataclass
class Figures:
    """What a create's capture read and wrote."""

    added: int = 0  # bytes of packs and index objects written
    read_bytes: int = 0
    reused: int = 0
    skipped: list[str] = field(default_factory=list)


def _capture(
    repo: Repository, store: ChunkStore, plan: CreatePlan, db_source: DatabaseSource | None
) -> tuple[Manifest, Figures]:
    """Capture the roots and the database, then publish the manifest (packs and index are
    durable first). The caller holds the create's shared lock."""
    catalog = Catalog(store.backend)
    seen = catalog.load_all()
    figures = Figures()
    bulk = _capture_bulk(repo, store, plan, seen.manifests, figures) if plan.roots else None
    capture = None
    if db_source is not None:
        reread = plan.request.reread
        capture = db_source.capture(
            store,
            repo.reporter,
            parent=None if reread else _parent_database(seen.manifests, db_source.database),
            no_parent="--reread" if reread else "no earlier snapshot of this database",
        )
    sections = _capture_sections(store, repo.reporter)
    # Durability order: packs and index first, the manifest last.
    store.flush()
    figures.added = store.stats.pack_bytes + store.stats.index_bytes
    log.info(
        "%d new chunks written (%d bytes of packs and index), all durable",
        store.stats.new_chunks,
        figures.added,
    )
    now_local = datetime.now().astimezone()
    manifest = _manifest(plan, now_local, bulk, capture, figures, store)
    manifest.sections = sections
    manifest.previous = catalog.predecessors(seen)
    _publish(catalog, manifest, now_local, repo.settings.prefix)
    gone_back = history.look(repo, store.backend, seen, manifest).warning()
    if gone_back:
        repo.reporter.warn(gone_back)
    log.info("manifest %s published", manifest.name)
    return manifest, figures


def _capture_bulk(
    repo: Repository,
    store: ChunkStore,
    plan: CreatePlan,
    existing: list[Manifest],
    figures: Figures,
) -> list[BulkRoot]:
    """Back up each planned root, reusing what its parent snapshot has for unchanged files."""
    settings = repo.settings
    files = FilesBackup(store, settings.exclude, repo.reporter)
    bulk: list[BulkRoot] = []
    for root in plan.roots:
        parent = (
            None
            if plan.request.reread
            else _parent_listing(store, existing, str(root.path), settings.cache_dir)
        )
        res = files.backup_root(root.path, root.label, parent, frozenset(root.leave_out))
        log.info(
            "%s: %d files, %d reused unread, %d bytes read",
            root.path,
            res.root.files,
            res.reused_files,
            res.read_bytes,
        )
        bulk.append(res.root)
        figures.read_bytes += res.read_bytes
        figures.reused += res.reused_files
        figures.skipped += res.skipped
    return bulk


def _manifest(
    plan: CreatePlan,
    now_local: datetime,
    bulk: list[BulkRoot] | None,
    capture: DatabaseCapture | None,
    figures: Figures,
    store: ChunkStore,
) -> Manifest:
    """The new snapshot's manifest (named when it is published)."""
    req, git = plan.request, plan.git
    return Manifest(
        name="",
        created=now_local.astimezone(UTC).isoformat(timespec="microseconds"),
        timestamp=now_local.replace(tzinfo=None).isoformat(timespec="seconds"),
        description=req.description,
        kind=req.kind,
        permanent=req.permanent,
        git_commit=git.commit,
        git_branch=git.branch,
        git_dirty=git.dirty,
        collections=capture.collections if capture else {},
        bulk_store_size_mb=mb(sum(r.bytes for r in bulk or [])),
        database_size_mb=mb(capture.size_bytes if capture else 0),
        hostname=socket.gethostname(),
        username=_username(),
        partial=bool(figures.skipped),
        warnings=figures.skipped,
        bulk=bulk,
        database=capture.section if capture else None,
        stats={
            "added_bytes": figures.added,
            "new_chunks": store.stats.new_chunks,
            "read_bytes": figures.read_bytes,
            "reused_files": figures.reused,
        },
        safety_for=req.safety_for,
    )


def _capture_sections(store: ChunkStore, reporter: Reporter) -> dict[str, Any]:
    """The sections of the sources beyond files and database (spec/sources.md)."""
    out = {}
    for source in registry.section_sources():
        section = source.capture(store, reporter)
        if section is not None:
            out[source.name] = section
    return out


def own_folders(settings: Settings) -> dict[str, str]:
    """The folders snapstore itself writes, which a bulk tree may hold: {path: what it is}
    (the repository when it is a local folder, and the cache). Create leaves them out and
    restore keeps them as they are (spec/restore.md, "What restore keeps")."""
    out: dict[str, str] = {}
    if "://" not in settings.repository:
        out[os.path.abspath(os.path.expanduser(settings.repository))] = "the repository"
    out.setdefault(str(default_cache_root(settings.cache_dir)), "the cache")
    return out


def _leave_out(root: Path, own: dict[str, str]) -> dict[bytes, str]:
    """The folders of ``own`` inside ``root``, by path relative to it; a root that is one of
    them, or lies inside one, is refused (it would be snapshotted into itself)."""
    real = os.path.realpath(root)
    for path, what in own.items():
        mine = os.path.realpath(path)
        if real == mine or real.startswith(mine.rstrip("/") + "/"):
            raise InvalidInput(
                f"bulk root {root} is {what} or inside it ({path}): a snapshot would hold "
                "itself; configure the folder your data is in"
            )
    return paths_inside(root, own)


def _publish(catalog: Catalog, manifest: Manifest, when: datetime, prefix: str) -> None:
    # Two snapshots in the same second get _2, _3...: the create-only put decides the race.
    for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
        manifest.name = snapshot_name(prefix, when, manifest.description, attempt)
        if catalog.publish(manifest):
            return
    raise RepositoryError(f"could not find a free snapshot name after {MAX_NAME_ATTEMPTS} tries")


def _parent_listing(
    store: ChunkStore, existing: list[Manifest], root: str, cache_dir: str | None
) -> Iterator[dict[str, Any]] | None:
    """The newest snapshot's entries for ``root``, for stat-based reuse: a stream in listing
    order that the files source merges with its walk (a damaged listing is reported there and
    the files are read instead). Right after a restore into ``root``, the restored snapshot's
    entries with the inodes the restore recorded."""
    restored = restored_parent(store, cache_dir, root, existing)
    if restored is not None:
        log.info("parent of %s: the snapshot last restored into it (restore record)", root)
        return restored
    for m in existing:  # newest first
        for r in m.bulk or []:
            if r.path == root and not m.partial:
                log.info("parent of %s: %s (unchanged files are reused unread)", root, m.name)
                return load_entry_maps(store, r, m.name)
    log.info("no parent snapshot of %s: every file is read", root)
    return None


def _parent_database(existing: list[Manifest], database: str) -> dict[str, Any] | None:
    """The database section of the newest snapshot of ``database`` (the catalog loaded only
    manifests whose checksum verifies); the source checks the rest (spec/database.md)."""
    for m in existing:  # newest first
        if m.database and m.database.get("database") == database:
            return m.database
    return None


def labels(roots: list[Path]) -> list[str]:
    """Short unique names for bulk roots (used as folder names by ``restore --target``)."""
    out: list[str] = []
    for root in roots:
        base = root.name or "root"
        label, n = base, 2
        while label in out:
            label, n = f"{base}_{n}", n + 1
        out.append(label)
    return out


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
