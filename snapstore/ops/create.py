"""Taking a snapshot: capture the bulk roots and the database, publish the manifest last.

Durability order (DESIGN.md): packs and index objects are written and flushed first, the
manifest is published last with a create-only put, so a crash at any point leaves either no
snapshot or a complete one. The automatic cleanup that follows a create is in ``maintain``.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapstore.errors import InvalidInput, RepositoryError
from snapstore.gitinfo import read_git_info
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.naming import slugify, snapshot_name
from snapstore.ops import history
from snapstore.ops.create_cleanup import create_session
from snapstore.ops.repository import Repository
from snapstore.records import CreateResult, SnapshotInfo
from snapstore.reporting import Reporter
from snapstore.settings import Settings
from snapstore.sources import registry
from snapstore.sources.files.capture import FilesBackup, load_entry_maps
from snapstore.sources.files.record import restored_parent
from snapstore.sources.files.walk import paths_inside
from snapstore.store.cache import default_cache_root
from snapstore.store.chunkstore import ChunkStore

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


def create_snapshot(repo: Repository, req: CreateRequest) -> tuple[CreateResult, Manifest]:
    """Snapshot what ``req`` names; the result and the published manifest."""
    started = time.monotonic()
    settings, reporter = repo.settings, repo.reporter
    if not req.include_bulk and not req.include_db:
        raise InvalidInput("--no-bulk and --no-db together leave nothing to snapshot")
    slugify(req.description)  # reject a description that cannot name a snapshot, early
    want_db = req.include_db and settings.database_configured
    roots = [Path(p).expanduser().absolute() for p in (req.bulk_roots or settings.bulk)]
    if req.include_bulk:
        if not roots:
            raise InvalidInput("no bulk root is configured (use --bulk PATH)")
        for root in roots:
            if not root.is_dir():
                raise InvalidInput(f"bulk root {root} does not exist or is not a directory")
    own = own_folders(settings)
    leave_out = [_leave_out(root, own) for root in roots] if req.include_bulk else []
    if req.kind != "safety":  # said once, by the create the user asked for
        for root, rels in zip(roots, leave_out, strict=False):
            for path in rels.values():
                reporter.info(
                    f"Not captured: {own[path]} {path} is inside bulk root {root} "
                    "(restore keeps it as it is)"
                )
    if not req.include_bulk and not want_db:
        raise InvalidInput("--no-bulk given but no database is configured: nothing to snapshot")
    git = read_git_info(settings.project_dir)
    db_source = None
    if want_db:
        # Unreachable server, wrong password, missing database: fail before anything (a new
        # repository, bulk chunks) is written.
        db_source = repo.database()
        db_source.connect()

    with create_session(repo) as opened:
        store = opened.store
        catalog = Catalog(opened.backend)
        seen = catalog.load_all()
        bulk: list[BulkRoot] | None = None
        read_bytes = reused = 0
        skipped: list[str] = []
        if req.include_bulk:
            bulk = []
            files = FilesBackup(store, settings.exclude, reporter)
            for root, label, rels in zip(roots, labels(roots), leave_out, strict=True):
                parent = (
                    None
                    if req.reread
                    else _parent_listing(store, seen.manifests, str(root), settings.cache_dir)
                )
                res = files.backup_root(root, label, parent, frozenset(rels))
                log.info(
                    "%s: %d files, %d reused unread, %d bytes read",
                    root,
                    res.root.files,
                    res.reused_files,
                    res.read_bytes,
                )
                bulk.append(res.root)
                read_bytes += res.read_bytes
                reused += res.reused_files
                skipped += res.skipped
        db_section = None
        collections: dict[str, int] = {}
        db_size = 0
        if db_source is not None:
            parent_db = None if req.reread else _parent_database(seen.manifests, db_source.database)
            capture = db_source.capture(
                store,
                reporter,
                parent=parent_db,
                no_parent="--reread" if req.reread else "no earlier snapshot of this database",
            )
            db_section = capture.section
            collections = capture.collections
            db_size = capture.size_bytes
        sections = _capture_sections(store, reporter)
        # Durability order: packs and index first, the manifest last.
        store.flush()
        added = store.stats.pack_bytes + store.stats.index_bytes
        log.info(
            "%d new chunks written (%d bytes of packs and index), all durable",
            store.stats.new_chunks,
            added,
        )
        now_local = datetime.now().astimezone()
        manifest = Manifest(
            name="",
            created=now_local.astimezone(UTC).isoformat(timespec="microseconds"),
            timestamp=now_local.replace(tzinfo=None).isoformat(timespec="seconds"),
            description=req.description,
            kind=req.kind,
            permanent=req.permanent,
            git_commit=git.commit,
            git_branch=git.branch,
            git_dirty=git.dirty,
            collections=collections,
            bulk_store_size_mb=mb(sum(r.bytes for r in bulk or [])),
            database_size_mb=mb(db_size),
            hostname=socket.gethostname(),
            username=_username(),
            partial=bool(skipped),
            warnings=skipped,
            bulk=bulk,
            database=db_section,
            sections=sections,
            stats={
                "added_bytes": added,
                "new_chunks": store.stats.new_chunks,
                "read_bytes": read_bytes,
                "reused_files": reused,
            },
            safety_for=req.safety_for,
            previous=catalog.predecessors(seen),
        )
        _publish(catalog, manifest, now_local, settings.prefix)
        gone_back = history.look(repo, opened.backend, seen, manifest).warning()
        if gone_back:
            reporter.warn(gone_back)
        log.info("manifest %s published", manifest.name)
    result = CreateResult(
        snapshot=SnapshotInfo.from_manifest(manifest),
        metadata=manifest.metadata(),
        added_bytes=added + len(manifest.encode()),
        new_chunks=store.stats.new_chunks,
        read_bytes=read_bytes,
        reused_files=reused,
        skipped=tuple(skipped),
        elapsed=time.monotonic() - started,
        initialized=opened.initialized,
    )
    return result, manifest


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
