"""SnapshotManager: the public API (the seed's, kept), a thin layer over ``snapstore/ops``.

Each method is one use case: ``ops.create`` (create), ``ops.restore`` (plan, dry run,
restore), ``ops.maintain`` (delete, cleanup, gc, archive, pin, check, locks),
``ops.snapshots`` (list, show, diff) and ``ops.browse`` (ls, cat, find, export, mount). The
repository is opened and locked in one place, ``ops.repository.Repository``. The CLI, the web
view and ``tools.backup`` all call this class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from snapstore.base.errors import NotConfirmed
from snapstore.base.naming import check_prefix
from snapstore.base.reporting import Reporter
from snapstore.config.settings import Settings, load_settings
from snapstore.ops import snapshots
from snapstore.ops.create import CreateRequest, create_snapshot
from snapstore.ops.records import (
    CreateResult,
    RestoreOptions,
    RestorePlan,
    RestoreResult,
    SnapshotInfo,
)
from snapstore.ops.repository import Repository, require_new
from snapstore.store.config import ChunkerParams, RepoConfig

if TYPE_CHECKING:
    # Each use case imports its layer where it runs (spec/cli.md, "Start-up"): `list` and
    # `create` do not pay for check, gc, diff, browse or restore.
    from snapstore.base.retention import RetentionPolicy
    from snapstore.crypto.keys import KdfParams, KeyInfo
    from snapstore.inspection.diff import SnapshotDiff
    from snapstore.inspection.tree_view import EntryInfo
    from snapstore.maintenance.check import CheckReport
    from snapstore.maintenance.gc import GcResult
    from snapstore.maintenance.lifecycle import ArchiveResult, CleanupPlan, CleanupResult
    from snapstore.manifest.listing import FileEntry
    from snapstore.ops.copy import CopyResult
    from snapstore.ops.maintain import DeletePlan
    from snapstore.ops.restore import PlannedRestore
    from snapstore.store.locking import LockInfo
    from snapstore.store.rebuild import RebuildReport
    from snapstore.tree.output import WriteStats


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
        self.repository = Repository(settings, self.reporter)
        check_prefix(settings.prefix)

    # -- repository ---------------------------------------------------------------------------

    def init_repository(
        self,
        chunker: ChunkerParams | None = None,
        *,
        encryption: bool | None = None,
        kdf: KdfParams | None = None,
    ) -> RepoConfig:
        """Create an empty repository at the configured location; encrypted with
        ``encryption`` (default: the ``encryption`` setting), its first key's password from
        the password sources (spec/encryption.md) and Argon2id cost ``kdf``."""
        backend = self.repository.backend()
        try:
            require_new(backend)
            backend, config = self.repository.initialize(
                backend, chunker, encryption=encryption, kdf=kdf
            )
        finally:
            backend.close()
        return config

    def repository_config(self) -> RepoConfig:
        return self.repository.config()

    def copy(
        self, other: str, *, to: bool = True, names: tuple[str, ...] = (), dry_run: bool = False
    ) -> CopyResult:
        """Copy snapshots to the repository at ``other`` (``to``) or from it into the
        configured one (spec/copy.md)."""
        from snapstore.ops.copy import CopyRequest, copy_snapshots, other_repository

        there = other_repository(self.settings, other, self.reporter)
        source, dest = (self.repository, there) if to else (there, self.repository)
        return copy_snapshots(source, dest, CopyRequest(tuple(names), dry_run))

    # -- keys of an encrypted repository (spec/encryption.md) ----------------------------------

    def list_keys(self) -> list[tuple[KeyInfo, bool]]:
        """Every key object, and whether it opened the repository this time."""
        from snapstore.ops import keys

        return keys.list_keys(self.repository)

    def add_key(self, label: str = "") -> str:
        """Add a key object for a new password; return its id."""
        from snapstore.ops import keys

        return keys.add_key(self.repository, label)

    def remove_key(self, key: str) -> str:
        """Remove a key object (never the last one); return its id."""
        from snapstore.ops import keys

        return keys.remove_key(self.repository, key)

    def change_password(self, label: str = "") -> str:
        """Replace the key that opened the repository by one for a new password."""
        from snapstore.ops import keys

        return keys.change_password(self.repository, label)

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
        reread: bool = False,
    ) -> CreateResult:
        """Snapshot the configured bulk roots and database; publish the manifest last.
        ``cleanup=False`` skips the automatic cleanup (``auto_cleanup``) for this create;
        ``result.cleanup`` says what it did. ``reread`` reads every file and document again
        instead of reusing what the newest snapshot has."""
        from snapstore.ops import maintain

        request = CreateRequest(
            description,
            permanent=permanent,
            include_bulk=include_bulk,
            include_db=include_db,
            kind=kind,
            bulk_roots=tuple(bulk_roots) if bulk_roots else None,
            safety_for=safety_for,
            reread=reread,
        )
        after = maintain.after_create if cleanup else None
        return create_snapshot(self.repository, request, after)[0]

    # -- list / show --------------------------------------------------------------------------

    def list_snapshots(self) -> list[SnapshotInfo]:
        """All readable snapshots, newest first (see ``list_with_problems``)."""
        return self.list_with_problems()[0]

    def list_with_problems(self) -> tuple[list[SnapshotInfo], list[str]]:
        return snapshots.list_with_problems(self.repository)

    def snapshot_names(self) -> list[str]:
        """The names of the snapshots, without reading their manifests (completion)."""
        return snapshots.names(self.repository)

    def get_snapshot(self, name: str) -> SnapshotInfo:
        """One snapshot by full name or unique prefix."""
        return snapshots.get(self.repository, name)

    def snapshot_files(self, name: str) -> Iterator[tuple[str, FileEntry]]:
        """Every (root, entry) of a snapshot's bulk listing."""
        return snapshots.files(self.repository, name)

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
        include: list[str] | None = None,
        options: RestoreOptions | None = None,
    ) -> RestorePlan:
        """What ``restore_snapshot`` would do; raises on requests it could not carry out.
        ``options`` gives every setting at once (the keywords are then ignored). The plan
        says which parts are written: with ``target`` the files go there and the database is
        restored only when ``target_db`` is given too; ``collections`` without ``include``
        restore the database only (spec/restore.md, "What a restore writes")."""
        from snapstore.ops import restore

        opts = options or _restore_options(
            restore_bulk, restore_db, target, safety_snapshot, collections, target_db, include
        )
        return restore.plan_restore(self.repository, snapshot_name, opts)

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
        include: list[str] | None = None,
        options: RestoreOptions | None = None,
    ) -> RestoreResult:
        """Make the live bulk storage (and database) equal to the snapshot.

        ``confirm=True`` is required: restore replaces current data. Unless
        ``safety_snapshot`` is False, the current state is snapshotted first. Without
        ``target`` the files go back into the configured bulk roots only (a snapshot of other
        roots needs ``target``); with ``target`` the live database is left alone unless
        ``target_db`` is given. ``target_db`` restores the database into that database
        instead (created if missing); ``collections`` alone restore only those collections.
        Live files are kept when type, size, mtime, mode and owner match the snapshot's
        (``verify``: their content too), see spec/restore.md. ``include``: restore only these
        paths or patterns of the bulk tree (nothing else changes); the database then only
        with ``collections``. ``options`` gives every setting at once.
        """
        from snapstore.ops import restore

        if confirm is not True:
            raise NotConfirmed("restore replaces current data: pass confirm=True to proceed")
        opts = options or _restore_options(
            restore_bulk, restore_db, target, safety_snapshot, collections, target_db, include
        )
        opts = replace(opts, verify=verify) if options is None else opts
        return restore.run_restore(self.repository, snapshot_name, opts)

    def restore_session(
        self, snapshot_name: str, options: RestoreOptions, *, dry_run: bool = False
    ) -> AbstractContextManager[PlannedRestore]:
        """The restore planned once in one opening of the repository: show ``.plan`` (and,
        with ``dry_run``, ``.preview()``), then ``.execute()`` runs that very plan once
        the user confirmed it."""
        from snapstore.ops import restore

        return restore.restore_session(self.repository, snapshot_name, options, dry_run=dry_run)

    def restore_changes(
        self,
        snapshot_name: str,
        *,
        restore_bulk: bool = True,
        restore_db: bool = True,
        target: str | None = None,
        collections: list[str] | None = None,
        target_db: str | None = None,
        options: RestoreOptions | None = None,
    ) -> SnapshotDiff:
        """``restore --dry-run``: what restoring would change in the live files and database
        (live state as "before", the snapshot as "after"). Changes nothing."""
        from snapstore.ops import restore

        opts = options or _restore_options(
            restore_bulk, restore_db, target, False, collections, target_db, None
        )
        return restore.restore_changes(self.repository, snapshot_name, opts)

    def preview_restore(
        self, snapshot_name: str, options: RestoreOptions
    ) -> tuple[RestorePlan, SnapshotDiff]:
        """``restore --dry-run``: the plan (which folders and which database would be
        written) and what restoring would change there. Changes nothing."""
        from snapstore.ops import restore

        return restore.preview_restore(self.repository, snapshot_name, options)

    # -- delete -------------------------------------------------------------------------------

    def delete_snapshot(
        self,
        snapshot_name: str,
        force: bool = False,
        *,
        confirm: Callable[[DeletePlan], None] | None = None,
    ) -> SnapshotInfo:
        """Remove a snapshot's manifest; its space is reclaimed at once (gc). ``confirm(plan)``
        sees what will be deleted first and raises ``NotConfirmed`` to cancel."""
        from snapstore.ops import maintain

        plan = maintain.delete(self.repository, snapshot_name, force, confirm, broken_too=False)
        assert plan.snapshot is not None  # broken_too=False: a broken one was refused
        return plan.snapshot

    def delete(
        self, name: str, *, force: bool = False, confirm: Callable[[DeletePlan], None] | None = None
    ) -> DeletePlan:
        """``snapstore delete``: as ``delete_snapshot``, and with ``force`` a broken snapshot
        too (``broken_snapshot``); the plan that ran (what ``confirm`` was shown)."""
        from snapstore.ops import maintain

        return maintain.delete(self.repository, name, force, confirm)

    def broken_snapshot(self, name: str) -> str | None:
        """Why snapshot ``name`` (exact) is broken: its manifest is damaged, or it was removed
        outside snapstore while another manifest names it (spec/manifest.md). None if not."""
        from snapstore.ops import maintain

        return maintain.broken_snapshot(self.repository, name)

    def delete_broken(self, name: str) -> None:
        """``delete --force`` of a broken snapshot (``broken_snapshot``)."""
        from snapstore.ops import maintain

        maintain.delete_broken(self.repository, name)

    # -- maintenance --------------------------------------------------------------------------

    def check(self, read_data: bool = False) -> CheckReport:
        from snapstore.ops import maintain

        return maintain.check(self.repository, read_data)

    def rebuild_index(self) -> RebuildReport:
        """Rebuild the repository index from the packs' tables of contents."""
        from snapstore.ops import maintain

        return maintain.rebuild(self.repository)

    def locks(self) -> list[LockInfo]:
        from snapstore.ops import maintain

        return maintain.locks(self.repository)

    def unlock(self, everything: bool = False) -> list[LockInfo]:
        """Remove stale locks (all locks with ``everything``), and finish or undo what
        interrupted restores left beside the configured bulk roots."""
        from snapstore.ops import maintain

        return maintain.unlock(self.repository, everything)

    def retention_policy(self) -> RetentionPolicy:
        """The configured ``[retention]`` policy (spec/retention.md)."""
        from snapstore.ops import maintain

        return maintain.retention_policy(self.repository)

    def apply_retention_policy(
        self,
        dry_run: bool = False,
        now: datetime | None = None,
        *,
        confirm: Callable[[CleanupPlan], None] | None = None,
    ) -> CleanupResult:
        """The seed's call: apply the retention policy (delete, compress, then gc).

        ``now`` (aware datetime) evaluates the policy as of that instant; ``dry_run`` decides
        and changes nothing. The decisions are in ``result.decisions``. ``confirm(plan)`` is
        shown the plan first and raises ``NotConfirmed`` to cancel; what it was shown is what
        runs (or nothing, if the snapshots changed before it answered).
        """
        from snapstore.ops import maintain

        return maintain.cleanup(self.repository, dry_run, now, confirm)

    def gc(self, *, max_unused: float | None = None, dry_run: bool = False) -> GcResult:
        """Delete what no snapshot references; rewrite packs more than ``max_unused`` dead
        (None: ``gc.DEFAULT_MAX_UNUSED``)."""
        from snapstore.ops import maintain

        if max_unused is None:
            return maintain.gc(self.repository, dry_run=dry_run)
        return maintain.gc(self.repository, max_unused, dry_run)

    def archive(
        self, names: list[str] | None = None, *, now: datetime | None = None
    ) -> ArchiveResult:
        """Compress snapshots now: ``names``, or those the policy marks ``compress``; then gc
        drops the pack copies of the archived chunks. Deletes no snapshot."""
        from snapstore.ops import maintain

        return maintain.archive(self.repository, names, now)

    def pin(self, name: str) -> SnapshotInfo:
        """Mark a snapshot permanent (never deleted by cleanup)."""
        from snapstore.ops import maintain

        return maintain.set_permanent(self.repository, name, True)

    def unpin(self, name: str) -> SnapshotInfo:
        """Clear a snapshot's permanent flag (cleanup may then delete it)."""
        from snapstore.ops import maintain

        return maintain.set_permanent(self.repository, name, False)

    def usage(self) -> dict[str, dict[str, int]]:
        """Per snapshot: ``unique_bytes`` (stored bytes only it references), ``unique_chunks``,
        ``archived_bytes``."""
        from snapstore.ops import maintain

        return maintain.usage(self.repository)

    def diff(self, a: str, b: str) -> SnapshotDiff:
        """What changed from snapshot ``a`` to snapshot ``b`` (file data is never read)."""
        return snapshots.diff(self.repository, a, b)

    # -- looking inside snapshots -------------------------------------------------------------

    def ls(self, name: str, path: str = "", *, recursive: bool = False) -> Iterator[EntryInfo]:
        """Entries of a snapshot's bulk tree at ``path`` (all below it with ``recursive``)."""
        from snapstore.ops import browse

        return browse.ls(self.repository, name, path, recursive)

    def cat(self, name: str, path: str) -> Iterator[bytes]:
        """The bytes of one file of a snapshot, verified as they are read."""
        from snapstore.ops import browse

        return browse.cat(self.repository, name, path)

    def find(self, pattern: str, snapshots: list[str] | None = None) -> Iterator[EntryInfo]:
        """Entries matching ``pattern`` in the given snapshots (all, newest first, if none)."""
        from snapstore.ops import browse

        return browse.find(self.repository, pattern, snapshots)

    def export(
        self, name: str, dest: str | None = None, *, tar: str | None = None
    ) -> tuple[str, WriteStats]:
        """Write a snapshot out in the reference's layout (database as arangodump files)
        into the new folder ``dest``, or as a tar file ``tar`` (``-``: standard output)."""
        from snapstore.ops import browse

        return browse.export(self.repository, name, dest, tar)

    def documents(
        self, name: str, collection: str, start: int = 0, count: int = 50
    ) -> tuple[list[bytes], int]:
        """A page of a collection's documents in a snapshot (canonical JSON lines, ``_key``
        order) and the collection's count."""
        from snapstore.ops import browse

        return browse.documents(self.repository, name, collection, start, count)

    def mount(self, mountpoint: str) -> None:
        """Serve every snapshot read-only under ``mountpoint`` (FUSE) until unmounted. A
        shared lock is held meanwhile: delete, cleanup and gc wait for the unmount."""
        from snapstore.ops import browse

        browse.mount(self.repository, mountpoint)


def _restore_options(
    restore_bulk: bool,
    restore_db: bool,
    target: str | None,
    safety_snapshot: bool,
    collections: list[str] | None,
    target_db: str | None,
    include: list[str] | None,
) -> RestoreOptions:
    """The keyword form of the restore methods (the seed's API) as one record."""
    return RestoreOptions(
        restore_bulk=restore_bulk,
        restore_db=restore_db,
        target=target,
        safety_snapshot=safety_snapshot,
        collections=tuple(collections or ()),
        target_db=target_db,
        include=tuple(include or ()),
    )
