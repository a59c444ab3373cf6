"""Keeping a repository: delete, retention (cleanup), gc, archives, pins, check, locks.

Each function is one use case over a ``Repository`` session. The commands that delete plan
first (``plan_delete``, ``lifecycle.plan_cleanup``, ``gc_plan.plan_gc``), show the plan
through their ``confirm`` callback, and execute that plan (spec/cli.md, "Confirmation").
``after_create`` is the automatic cleanup after a create (``auto_cleanup``), on the create's
opening of the repository; a delete reclaims its snapshot's space at once, in its own
session, as the seed's delete did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from snapstore.backend import Backend
from snapstore.base.errors import (
    ConfigError,
    CorruptData,
    InvalidInput,
    RepositoryError,
    SnapshotNotFound,
    SnapstoreError,
)
from snapstore.base.naming import check_snapshot_name
from snapstore.base.retention import Fate, RetentionPolicy
from snapstore.maintenance.gc import DEFAULT_MAX_UNUSED, GcResult, collect_garbage
from snapstore.maintenance.lifecycle import (
    ArchiveResult,
    CleanupPlan,
    CleanupResult,
    archive_cold,
    decide,
    execute_cleanup,
    load_manifests,
    plan_cleanup,
    snapshot_usage,
    still_valid,
)
from snapstore.manifest.catalog import Catalog, missing_problem
from snapstore.manifest.schema import Manifest
from snapstore.ops import history
from snapstore.ops.create import mb
from snapstore.ops.records import SnapshotInfo
from snapstore.ops.repository import Opened, Repository
from snapstore.store.locking import LockInfo, read_locks, remove_stale
from snapstore.store.rebuild import RebuildReport, rebuild_index

if TYPE_CHECKING:
    from snapstore.maintenance.check import CheckReport

# -- delete -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletePlan:
    """What one delete removes: the snapshot ``name`` (``snapshot``: its metadata), or, with
    ``snapshot`` None, a broken one (``broken``: why it is broken, spec/manifest.md)."""

    name: str
    snapshot: SnapshotInfo | None
    broken: str | None = None


def plan_delete(
    repo: Repository, backend: Backend, name: str, force: bool, broken_too: bool = True
) -> DeletePlan:
    """Which snapshot ``name`` deletes (a permanent one only with ``force``; with ``force``
    and ``broken_too`` a damaged or missing manifest too); change nothing."""
    try:
        m = repo.resolve(backend, name)
    except (CorruptData, SnapshotNotFound):
        broken = _why_broken(backend, name) if force and broken_too else None
        if broken is None:
            raise
        return DeletePlan(name, None, broken)
    if m.permanent and not force:
        raise InvalidInput(f"snapshot {m.name} is permanent; use --force to delete it")
    return DeletePlan(m.name, SnapshotInfo.from_manifest(m))


def delete(
    repo: Repository,
    name: str,
    force: bool,
    confirm: Callable[[DeletePlan], None] | None = None,
    *,
    broken_too: bool = True,
) -> DeletePlan:
    """Remove a snapshot's manifest and reclaim its space at once (gc), as the seed's delete
    did. ``confirm(plan)`` sees the plan first (and raises to cancel), under no lock; the
    plan is executed only if it still holds once the exclusive lock is taken."""
    with repo.open() as opened:
        backend = opened.backend
        shown = None
        if confirm is not None:
            shown = plan_delete(repo, backend, name, force, broken_too)
            confirm(shown)
        with repo.lock(backend, "delete", exclusive=True):
            plan = plan_delete(repo, backend, shown.name if shown else name, force, broken_too)
            if shown is not None and plan != shown:
                raise RepositoryError(
                    f"delete stopped before changing anything: snapshot {shown.name} changed "
                    "while the question waited for its answer; run delete again"
                )
            _remove(repo, opened, plan.name)
    return plan


def delete_broken(repo: Repository, name: str) -> None:
    """``delete --force`` of a broken snapshot: remove its damaged manifest, or accept the
    loss of a removed one; its data is reclaimed at once."""
    check_snapshot_name(name)
    with repo.session("delete", exclusive=True) as opened:
        if _why_broken(opened.backend, name) is None:
            raise SnapshotNotFound(f"snapshot {name} is not damaged or missing")
        _remove(repo, opened, name)


def _remove(repo: Repository, opened: Opened, name: str) -> None:
    """Delete the manifest ``name``, tell the catalog memory, and reclaim the space."""
    Catalog(opened.backend).delete(name)
    history.refresh(repo, opened.backend)
    history.forget(repo, opened.backend, [name])
    _reclaim(repo, opened)


def broken_snapshot(repo: Repository, name: str) -> str | None:
    """Why snapshot ``name`` (exact) is broken: its manifest is damaged, or it was removed
    outside snapstore while another manifest names it (spec/manifest.md). None if not."""
    with repo.reading() as backend:
        return _why_broken(backend, name)


def _why_broken(backend: Backend, name: str) -> str | None:
    listing = Catalog(backend).load_all()
    if name in listing.missing:
        return missing_problem(name, listing.missing[name])
    return listing.unreadable.get(name)


def _reclaim(repo: Repository, opened: Opened) -> None:
    """gc right after a delete, in the same session; a refusal leaves the delete done."""
    try:
        manifests = load_manifests(opened.backend, "gc")
        result = collect_garbage(opened.backend, opened.store, manifests, repo.reporter)
    except SnapstoreError as e:
        repo.reporter.warn(f"space not reclaimed yet ({e}); run `snapstore gc` later")
        return
    repo.reporter.info(f"Reclaimed {mb(result.reclaimed_bytes)} MB")


# -- checks and locks ----------------------------------------------------------------------------


def check(repo: Repository, read_data: bool) -> CheckReport:
    from snapstore.maintenance.check import check_repository  # only this use case pays for it

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
    from snapstore.sources.files.restore import recover  # the restore layer: only for check

    return recover([Path(p).expanduser() for p in repo.settings.bulk], repo.reporter)


# -- retention, gc, archives, pins --------------------------------------------------------------


def retention_policy(repo: Repository) -> RetentionPolicy:
    """The configured ``[retention]`` policy (spec/retention.md)."""
    try:
        return RetentionPolicy.from_mapping(repo.settings.retention)
    except ValueError as e:
        raise ConfigError(f"[retention]: {e}") from None


def cleanup(
    repo: Repository,
    dry_run: bool,
    now: datetime | None,
    confirm: Callable[[CleanupPlan], None] | None = None,
) -> CleanupResult:
    """Apply the retention policy (delete, compress, then gc); ``now`` (aware) decides as of
    that instant; ``dry_run`` decides and changes nothing. ``confirm(plan)`` is shown the
    plan before it runs and raises (``NotConfirmed``) to cancel; the plan it saw is the one
    executed, or none if the snapshots changed meanwhile."""
    when = now if now is not None else datetime.now(UTC)
    if when.utcoffset() is None:
        raise InvalidInput("now must be a timezone-aware datetime")
    policy = retention_policy(repo)
    with repo.open() as opened:
        backend = opened.backend
        # Decided under a shared lock: a dry run never waits for (or blocks) a create, nor
        # does a question waiting for its answer.
        if dry_run:
            with repo.lock(backend, "cleanup", exclusive=False):
                return plan_cleanup(backend, policy, when).preview()
        plan = None
        if confirm is not None:
            with repo.lock(backend, "cleanup", exclusive=False):
                plan = plan_cleanup(backend, policy, when)
            confirm(plan)
        with repo.lock(backend, "cleanup", exclusive=True):
            if plan is None:
                plan = plan_cleanup(backend, policy, when)
            elif not still_valid(backend, plan):
                raise RepositoryError(
                    "cleanup stopped before changing anything: the snapshots changed while "
                    "the plan waited for its answer; run cleanup again"
                )
            result = execute_cleanup(backend, opened.store, plan, repo.reporter)
            history.refresh(repo, backend)
        return result


def after_create(repo: Repository, opened: Opened, manifest: Manifest) -> CleanupResult | None:
    """Automatic cleanup after a successful create (``auto_cleanup``; never for the safety
    snapshot of a restore, which must not delete what is being restored), on the create's
    opening of the repository."""
    if not repo.settings.auto_cleanup or manifest.kind == "safety":
        return None
    backend = opened.backend
    try:
        policy = retention_policy(repo)
        # Decide under a shared lock first: most creates have nothing to clean up, and then
        # they neither wait for nor warn about concurrent creates.
        with repo.lock(backend, "cleanup", exclusive=False):
            plan = plan_cleanup(backend, policy, datetime.now(UTC))
        if not plan.has_work():
            return None
        with repo.lock(backend, "cleanup", exclusive=True):
            if not still_valid(backend, plan):  # nobody confirmed it: decide again
                plan = plan_cleanup(backend, policy, datetime.now(UTC))
            result = execute_cleanup(backend, opened.store, plan, repo.reporter, always_gc=False)
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
