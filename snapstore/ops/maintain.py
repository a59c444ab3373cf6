"""Keeping a repository: delete, retention (cleanup), gc, archives, pins, check, locks.

Each function is one use case over a ``Repository`` session. ``after_create`` and
``after_delete`` are the lifecycle hooks: the automatic cleanup after a create
(``auto_cleanup``) and the gc that reclaims a deleted snapshot's space at once, as the seed's
delete did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from snapstore.check import CheckReport, check_repository
from snapstore.errors import ConfigError, InvalidInput, SnapshotNotFound, SnapstoreError
from snapstore.gc import DEFAULT_MAX_UNUSED, GcResult, collect_garbage
from snapstore.lifecycle import (
    ArchiveResult,
    CleanupResult,
    archive_cold,
    decide,
    load_manifests,
    run_cleanup,
    snapshot_usage,
)
from snapstore.locking import LockInfo, read_locks, remove_stale
from snapstore.manifest.catalog import Catalog, missing_problem
from snapstore.manifest.schema import Manifest
from snapstore.naming import check_snapshot_name
from snapstore.ops import history
from snapstore.ops.create import mb
from snapstore.ops.repository import Repository
from snapstore.records import SnapshotInfo
from snapstore.retention import Fate, RetentionPolicy
from snapstore.sources.files.restore import recover
from snapstore.store.rebuild import RebuildReport, rebuild_index

# -- delete -------------------------------------------------------------------------------------


def delete_snapshot(repo: Repository, name: str, force: bool) -> SnapshotInfo:
    """Remove a snapshot's manifest (a permanent one only with ``force``)."""
    with repo.locked("delete", exclusive=True) as backend:
        m = repo.resolve(backend, name)
        if m.permanent and not force:
            raise InvalidInput(f"snapshot {m.name} is permanent; use --force to delete it")
        Catalog(backend).delete(m.name)
        history.refresh(repo, backend)
        history.forget(repo, backend, [m.name])
    return SnapshotInfo.from_manifest(m)


def broken_snapshot(repo: Repository, name: str) -> str | None:
    """Why snapshot ``name`` (exact) is broken: its manifest is damaged, or it was removed
    outside snapstore while another manifest names it (spec/manifest.md). None if not."""
    with repo.reading() as backend:
        listing = Catalog(backend).load_all()
    if name in listing.missing:
        return missing_problem(name, listing.missing[name])
    return listing.unreadable.get(name)


def delete_broken(repo: Repository, name: str) -> None:
    """``delete --force`` of a broken snapshot: remove its damaged manifest, or accept the
    loss of a removed one; its data is reclaimed by gc."""
    check_snapshot_name(name)
    with repo.locked("delete", exclusive=True) as backend:
        catalog = Catalog(backend)
        listing = catalog.load_all()
        if name not in listing.unreadable and name not in listing.missing:
            raise SnapshotNotFound(f"snapshot {name} is not damaged or missing")
        catalog.delete(name)
        history.refresh(repo, backend)
        history.forget(repo, backend, [name])


def after_delete(repo: Repository) -> None:
    """Reclaim a deleted snapshot's space at once, as the seed's delete did."""
    try:
        result = gc(repo)
    except SnapstoreError as e:
        repo.reporter.warn(f"space not reclaimed yet ({e}); run `snapstore gc` later")
        return
    repo.reporter.info(f"Reclaimed {mb(result.reclaimed_bytes)} MB")


# -- checks and locks ----------------------------------------------------------------------------


def check(repo: Repository, read_data: bool) -> CheckReport:
    recover_restores(repo)
    with repo.session("check", exclusive=False) as opened:
        report = check_repository(
            opened.backend, opened.store, read_data=read_data, reporter=repo.reporter
        )
        # Going back in time (spec/manifest.md): errors of check, with the way to accept it.
        seen = history.look(repo, opened.backend, Catalog(opened.backend).load_all())
        if seen.problems:
            report.errors.extend(seen.problems)
            report.warnings.append(seen.hint())
        return report


def rebuild(repo: Repository) -> RebuildReport:
    """Rebuild the repository index from the packs' tables of contents."""
    with repo.locked("rebuild-index", exclusive=True) as backend:
        return rebuild_index(backend, repo.reporter)


def locks(repo: Repository) -> list[LockInfo]:
    with repo.reading() as backend:
        return read_locks(backend)


def unlock(repo: Repository, everything: bool) -> list[LockInfo]:
    """Remove stale locks (all locks with ``everything``), and finish or undo what
    interrupted restores left beside the configured bulk roots."""
    with repo.reading() as backend:
        recover_restores(repo)
        return remove_stale(backend, everything=everything)


def recover_restores(repo: Repository) -> list[str]:
    """Leftovers of interrupted restores beside the bulk roots (spec/restore.md)."""
    return recover([Path(p).expanduser() for p in repo.settings.bulk], repo.reporter)


# -- retention, gc, archives, pins --------------------------------------------------------------


def retention_policy(repo: Repository) -> RetentionPolicy:
    """The configured ``[retention]`` policy (spec/retention.md)."""
    try:
        return RetentionPolicy.from_mapping(repo.settings.retention)
    except ValueError as e:
        raise ConfigError(f"[retention]: {e}") from None


def cleanup(repo: Repository, dry_run: bool, now: datetime | None) -> CleanupResult:
    """Apply the retention policy (delete, compress, then gc); ``now`` (aware) decides as of
    that instant; ``dry_run`` decides and changes nothing."""
    when = now if now is not None else datetime.now(UTC)
    if when.utcoffset() is None:
        raise InvalidInput("now must be a timezone-aware datetime")
    policy = retention_policy(repo)
    # A dry run only reads: a shared lock, so it never waits for (or blocks) a create.
    with repo.session("cleanup", exclusive=not dry_run) as opened:
        result = run_cleanup(
            opened.backend, opened.store, policy, when, repo.reporter, dry_run=dry_run
        )
        if not dry_run:
            history.refresh(repo, opened.backend)
        return result


def after_create(repo: Repository, manifest: Manifest) -> CleanupResult | None:
    """Automatic cleanup after a successful create (``auto_cleanup``; never for the safety
    snapshot of a restore, which must not delete what is being restored)."""
    if not repo.settings.auto_cleanup or manifest.kind == "safety":
        return None
    try:
        policy = retention_policy(repo)
        with repo.open() as opened:
            backend = opened.backend
            # Decide under a shared lock first: most creates have nothing to clean up, and
            # then they neither wait for nor warn about concurrent creates.
            with repo.lock(backend, "cleanup", exclusive=False):
                fates = {
                    d.fate
                    for d in decide(load_manifests(backend, "cleanup"), datetime.now(UTC), policy)
                }
            if not fates & {Fate.DELETE, Fate.COMPRESS}:
                return None
            with repo.lock(backend, "cleanup", exclusive=True):
                result = run_cleanup(
                    backend,
                    opened.store,
                    policy,
                    datetime.now(UTC),
                    repo.reporter,
                    dry_run=False,
                    always_gc=False,
                )
    except SnapstoreError as e:
        repo.reporter.warn(f"automatic cleanup skipped: {e}; run `snapstore cleanup` later")
        return None
    if result.deleted or result.compressed:
        reclaimed = result.gc.reclaimed_bytes if result.gc else 0
        repo.reporter.info(
            f"Automatic cleanup: deleted {len(result.deleted)} snapshot(s)"
            + (f" ({', '.join(result.deleted)})" if result.deleted else "")
            + f", compressed {len(result.compressed)}, reclaimed {mb(reclaimed)} MB"
        )
    return result


def gc(repo: Repository, max_unused: float = DEFAULT_MAX_UNUSED, dry_run: bool = False) -> GcResult:
    """Delete what no snapshot references; rewrite packs more than ``max_unused`` dead."""
    with repo.session("gc", exclusive=True) as opened:
        manifests = load_manifests(opened.backend, "gc")
        return collect_garbage(
            opened.backend,
            opened.store,
            manifests,
            repo.reporter,
            max_unused=max_unused,
            dry_run=dry_run,
        )


def archive(repo: Repository, names: list[str] | None, now: datetime | None) -> ArchiveResult:
    """Compress snapshots now: ``names``, or those the policy marks ``compress``; then gc
    drops the pack copies of the archived chunks. Deletes no snapshot."""
    policy = retention_policy(repo)
    with repo.session("archive", exclusive=True) as opened:
        backend, store = opened.backend, opened.store
        manifests = load_manifests(backend, "archive")
        if names:
            chosen = {repo.resolve(backend, n).name for n in names}
        else:
            when = now if now is not None else datetime.now(UTC)
            chosen = {d.name for d in decide(manifests, when, policy) if d.fate is Fate.COMPRESS}
        result, marks = archive_cold(backend, store, manifests, chosen, repo.reporter)
        result.gc = collect_garbage(backend, store, manifests, repo.reporter, marks=marks)
        history.refresh(repo, backend)
        return result


def set_permanent(repo: Repository, name: str, value: bool) -> SnapshotInfo:
    # Exclusive: a concurrent cleanup must not decide on the old flag and delete it.
    with repo.locked("pin" if value else "unpin", exclusive=True) as backend:
        m = repo.resolve(backend, name)
        if m.permanent != value:
            m.permanent = value
            Catalog(backend).replace(m)
            history.refresh(repo, backend)
    return SnapshotInfo.from_manifest(m)


def usage(repo: Repository) -> dict[str, dict[str, int]]:
    """Per snapshot: ``unique_bytes`` (stored bytes only it references), ``unique_chunks``,
    ``archived_bytes``."""
    with repo.session("usage", exclusive=False) as opened:
        return snapshot_usage(opened.store, load_manifests(opened.backend, "usage"), repo.reporter)
