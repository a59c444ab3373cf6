"""The one place that opens a repository and takes its lock (borg's ``with_repository``).

Every use case in ``snapstore/ops`` works inside ``Repository.session(operation, exclusive=)``:
the backend is opened and its config read, the chunk store opened over it, the lock taken,
and once the lock is held the store's index cache is brought up to date (a gc that held the
lock while we waited may have deleted or moved chunks the cache lists: spec/packs.md, "Index
cache"). Leaving the session releases the lock and closes the store and the backend (an S3
backend's client with it).

Reading without a lock (spec/locking.md, "Reading without a lock"): with ``no_lock`` in the
settings (``--no-lock``), or when the repository cannot take a lock object because it is
read-only (a read-only mount, a copy without write permission), operations that only read
run without one, saying so in one line; operations that write (every exclusive one, and
create) are refused.

Under an exclusive lock no other process writes to the repository, so taking one is when the
leftovers of killed runs in the backend's spool (``tmp/``) are removed (``clean_tmp``).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace

from snapstore.backend import Backend, open_backend
from snapstore.backend.write_once import WriteOnce
from snapstore.base.errors import (
    AmbiguousSnapshot,
    DatabaseError,
    DeleteRefused,
    InvalidInput,
    RepositoryError,
    SnapshotNotFound,
)
from snapstore.base.naming import check_snapshot_name
from snapstore.base.reporting import Reporter
from snapstore.config.settings import Settings
from snapstore.crypto.aead import NAME as AEAD_NAME
from snapstore.crypto.keys import KdfParams
from snapstore.crypto.passwords import PasswordSource
from snapstore.crypto.unlock import Unlocker
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.schema import Manifest
from snapstore.sources.database import DatabaseSource
from snapstore.sources.registry import database_source
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import (
    ENCRYPTED_FORMAT_VERSION,
    ChunkerParams,
    RepoConfig,
    read_config,
    write_config,
)
from snapstore.store.locking import RepositoryLock

log = logging.getLogger(__name__)

# Operations that take a shared lock and still write to the repository (all exclusive ones do).
SHARED_WRITERS = frozenset({"create", "copy"})
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
# A process taking a lock writes its lock object through the spool: a spool file younger
# than this may be one, in flight.
LOCK_PUT_GRACE = 60.0


def writes(operation: str, exclusive: bool) -> bool:
    """Whether ``operation`` changes the repository (and so cannot run without its lock)."""
    return exclusive or operation in SHARED_WRITERS


def _safety_hint(operation: str) -> str:
    """A create refused here is often a restore's safety snapshot: say how to skip it."""
    if operation != "create":
        return ""
    return (
        " (so does the safety snapshot a restore takes before it replaces files or a "
        "database: --no-safety-snapshot skips it)"
    )


def _no_lock_refusal(operation: str) -> str:
    return (
        f"--no-lock is for commands that only read; {operation} writes to the repository"
        + _safety_hint(operation)
    )


@dataclass
class Opened:
    """An open repository: its backend, its chunk store, and whether this opening created
    it (``create`` on first use)."""

    backend: Backend
    store: ChunkStore
    initialized: bool = False


@dataclass
class Repository:
    """Where the settings say the repository is; opens it for one operation at a time."""

    settings: Settings
    reporter: Reporter = field(default_factory=Reporter)
    # The chunk store open on each backend (by id), so that ``lock`` can re-sync it.
    _open: dict[int, ChunkStore] = field(default_factory=dict, repr=False)
    # The opening shared with the opens nested in it (``open(share=True)``); a copy made
    # with ``dataclasses.replace`` shares it too.
    _shared: list[Opened] = field(default_factory=list, repr=False)
    # Unlocked encrypted repositories, in memory for this process only (crypto/unlock.py).
    _unlocker: Unlocker | None = field(default=None, repr=False)

    @property
    def unlocker(self) -> Unlocker:
        if self._unlocker is None:
            self._unlocker = Unlocker(PasswordSource(command=self.settings.password_command))
        return self._unlocker

    def backend(self, *, write_once: bool = False) -> Backend:
        """The repository's backend; an encrypted repository's is unlocked (its password
        asked once per process) and seals and opens what passes through it. ``write_once``:
        packs and index objects are put create-only (``WriteOnce``, under the sealing), so
        the operation works on append-only storage (create and copy)."""
        raw: Backend = open_backend(
            self.settings.repository,
            group_access=self.settings.group_access,
            s3=self.settings.s3,
        )
        if write_once:
            raw = WriteOnce(raw)
        try:
            return self.unlocker.open(raw)
        except BaseException:
            raw.close()
            raise

    def initialize(
        self,
        raw: Backend,
        chunker: ChunkerParams | None = None,
        *,
        encryption: bool | None = None,
        kdf: KdfParams | None = None,
    ) -> tuple[Backend, RepoConfig]:
        """Make a new repository at ``raw`` (encrypted when asked, or by default when the
        settings say ``encryption``); return its backend (unlocked) and config."""
        config = RepoConfig(chunker=chunker or ChunkerParams())
        if not (self.settings.encryption if encryption is None else encryption):
            write_config(raw, config)
            return raw, config
        sealed = self.unlocker.initialize(raw, config.id, config.created, kdf)
        config = replace(
            config,
            version=ENCRYPTED_FORMAT_VERSION,
            encryption=AEAD_NAME,
            chunker=replace(config.chunker, seed=sealed.crypto.chunker_seed),
        )
        write_config(sealed, config)
        return sealed, config

    def config(self) -> RepoConfig:
        """The repository's config (its absence is the "not a repository" error)."""
        backend = self.backend()
        try:
            return read_config(backend)
        finally:
            backend.close()

    @contextmanager
    def open(
        self, *, create: bool = False, share: bool = False, write_once: bool = False
    ) -> Iterator[Opened]:
        """The backend and chunk store, without a lock (the caller takes it: ``lock``).
        ``share``: the opens nested in this one (a restore's safety snapshot) use it too, so
        that a command opens the repository once; ``write_once`` as for ``backend``."""
        if self._shared:
            yield self._shared[-1]
            return
        backend = self.backend(write_once=write_once)
        initialized = False
        try:
            if create and not backend.exists():
                backend, _ = self.initialize(backend)
                initialized = True
                self.reporter.info(f"Initialized a new repository at {backend.location}")
            store = ChunkStore.open(backend, self.settings.cache_dir)
            log.info("opened repository %s (id %s)", backend.location, store.config.id)
            self._open[id(backend)] = store
            opened = Opened(backend, store, initialized)
            if share:
                self._shared.append(opened)
            try:
                yield opened
            finally:
                self._open.pop(id(backend), None)
                if share:
                    self._shared.remove(opened)
        finally:
            backend.close()

    def lock(
        self, backend: Backend, operation: str, *, exclusive: bool
    ) -> AbstractContextManager[object]:
        """Take the lock; then re-sync the index cache of the store open on ``backend``.
        Without a lock (module doc) the cache is re-synced all the same."""
        if self.settings.no_lock:
            if writes(operation, exclusive):
                raise InvalidInput(_no_lock_refusal(operation))
            log.info("no lock taken for %s on %s (--no-lock)", operation, backend.location)
            self._resync(backend)
            return nullcontext()
        try:
            lock = RepositoryLock.acquire(
                backend,
                operation,
                exclusive=exclusive,
                wait=self.settings.lock_wait,
                warn=self.reporter.warn,
            )
        except OSError as e:
            if e.errno not in _READ_ONLY:
                raise
            return self._without_lock(backend, operation, exclusive, e)
        log.info(
            "%s lock taken for %s on %s",
            "exclusive" if exclusive else "shared",
            operation,
            backend.location,
        )
        try:
            if exclusive:
                self._clean_spool(backend)
            self._resync(backend)
        except BaseException:
            lock.release()
            raise
        # A delete or overwrite the storage refuses is said, here in one place, as what it
        # means for the operation, however the command opened the repository.
        return _refusals_said(lock, operation)

    def _without_lock(
        self, backend: Backend, operation: str, exclusive: bool, e: OSError
    ) -> AbstractContextManager[object]:
        """A repository that refused the lock object because it is read-only: reads go on
        without a lock (one line says so), writes stop here."""
        why = e.strerror or str(e)
        if writes(operation, exclusive):
            raise RepositoryError(
                f"the repository at {backend.location} is read-only ({why}): "
                f"{operation} needs to write to it{_safety_hint(operation)}"
            ) from None
        if e.errno == errno.EROFS:
            self.reporter.note(
                f"note: the repository at {backend.location} is on a read-only file system: "
                "reading it without a lock"
            )
        else:
            self.reporter.warn(
                f"cannot write a lock into {backend.location} ({why}): reading without one; "
                "a delete, cleanup or gc run by its owner meanwhile could make this read fail"
            )
        self._resync(backend)
        return nullcontext()

    def _resync(self, backend: Backend) -> None:
        store = self._open.get(id(backend))
        if store is not None:
            store.resync()

    def _clean_spool(self, backend: Backend) -> None:
        """Remove what killed runs left in the spool. Under the exclusive lock nobody else
        writes there, except a process putting its lock object this instant: files younger
        than ``LOCK_PUT_GRACE`` stay."""
        removed = backend.clean_tmp(LOCK_PUT_GRACE)
        if removed:
            log.info("removed %d leftover file(s) of interrupted runs from the spool", removed)

    @contextmanager
    def session(self, operation: str, *, exclusive: bool, create: bool = False) -> Iterator[Opened]:
        """Open the repository and hold its lock for ``operation``."""
        with self.open(create=create, write_once=operation in SHARED_WRITERS) as opened:
            with self.lock(opened.backend, operation, exclusive=exclusive):
                yield opened

    @contextmanager
    def reading(self) -> Iterator[Backend]:
        """The backend alone, its config checked, no lock: reads of the catalog and the
        locks (list, show, locks)."""
        backend = self.backend()
        try:
            read_config(backend)
            yield backend
        finally:
            backend.close()

    @contextmanager
    def locked(self, operation: str, *, exclusive: bool) -> Iterator[Backend]:
        """The backend alone under the lock, for operations on manifests and locks only
        (delete, pin, rebuild-index): no chunk store is opened."""
        with self.reading() as backend, self.lock(backend, operation, exclusive=exclusive):
            yield backend

    def resolve(self, backend: Backend, name: str) -> Manifest:
        """The snapshot ``name`` names (an exact name, or a unique prefix of one)."""
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

    def database(self, target_db: str | None = None) -> DatabaseSource:
        """The database source; ``target_db`` names another database (restore --target-db)."""
        try:
            return database_source(self.settings.arangodb, self.reporter, target_db)
        except ImportError as e:
            raise DatabaseError(f"ArangoDB support is not available: {e}") from None


@contextmanager
def _refusals_said(lock: AbstractContextManager[object], operation: str) -> Iterator[object]:
    with lock as held, _needs_delete(operation):
        yield held


@contextmanager
def _needs_delete(operation: str) -> Iterator[None]:
    """A delete the storage refused, said as what it means for ``operation`` (one line)."""
    try:
        yield
    except DeleteRefused as e:
        if e.operation:  # said already, by a lock nested inside this one
            raise
        raise DeleteRefused(
            f"{operation} needs the right to delete and replace objects, which these credentials "
            f"lack (create and copy do not): {e}",
            operation,
        ) from None


def require_new(backend: Backend) -> None:
    if backend.exists():
        raise RepositoryError(f"{backend.location} is already a snapstore repository")
