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
from snapstore.ops.repository import Repository
from snapstore.records import CreateResult, SnapshotInfo
from snapstore.sources.files import FilesBackup, load_entry_maps
from snapstore.sources.restore import restored_parent
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
    if not req.include_bulk and not want_db:
        raise InvalidInput("--no-bulk given but no database is configured: nothing to snapshot")
    git = read_git_info(settings.project_dir)
    db_source = None
    if want_db:
        # Unreachable server, wrong password, missing database: fail before anything (a new
        # repository, bulk chunks) is written.
        db_source = repo.database()
        db_source.connect()

    with repo.session("create", exclusive=False, create=True) as opened:
        store = opened.store
        catalog = Catalog(opened.backend)
        seen = catalog.load_all()
        bulk: list[BulkRoot] | None = None
        read_bytes = reused = 0
        skipped: list[str] = []
        if req.include_bulk:
            bulk = []
            files = FilesBackup(store, settings.exclude, reporter)
            for root, label in zip(roots, labels(roots), strict=True):
                parent = _parent_listing(store, seen.manifests, str(root), settings.cache_dir)
                res = files.backup_root(root, label, parent)
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
            capture = db_source.capture(store, reporter)
            db_section = capture.section
            collections = capture.collections
            db_size = capture.size_bytes
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
