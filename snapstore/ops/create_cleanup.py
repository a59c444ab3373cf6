"""A create's session that, when the create fails, removes the packs it wrote
(spec/repository.md, "A failed create").

Create holds the shared lock, which other creates hold too. When it fails, the packs it put
and never indexed are listed (``ChunkStore.abandon``), the shared lock is released, and the
exclusive lock is tried once, without waiting: held, the packs no index object names are
removed (``store.discard``) and the user is told how much was freed; not held (another
command is running), the user is told how much ``snapstore gc`` frees. Packs an interim index
object already names, or that a published index names, are always left to ``gc``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from snapstore.backend import Backend
from snapstore.base.errors import LockHeld, SnapstoreError
from snapstore.ops.repository import Opened, Repository
from snapstore.store.discard import discard_unindexed
from snapstore.store.locking import RepositoryLock

log = logging.getLogger(__name__)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@contextmanager
def create_session(repo: Repository, opened: Opened) -> Iterator[None]:
    """The create's shared lock on ``opened``, cleaning up after a failure."""
    abandoned: list[str] = []
    written = 0
    try:
        with repo.lock(opened.backend, "create", exclusive=False):
            try:
                yield
            except BaseException:
                abandoned = opened.store.abandon()
                written = opened.store.stats.pack_bytes
                raise
    except BaseException:
        if written:
            _discard(repo, opened.backend, abandoned, written)
        raise


def _discard(repo: Repository, backend: Backend, packs: list[str], written: int) -> None:
    """Remove ``packs`` if the exclusive lock can be had now; say what is left to ``gc``
    (``written``: the bytes of every pack the create put)."""
    warn = repo.reporter.warn
    try:
        try:
            lock = RepositoryLock.acquire(backend, "create cleanup", exclusive=True, wait=0)
        except LockHeld:
            warn(
                f"the failed create left {_mb(written)} of packs (another command holds "
                "the repository now); `snapstore gc` frees them"
            )
            return
        with lock:
            done = discard_unindexed(backend, packs)
    except (SnapstoreError, OSError) as e:  # the create's own failure is what the user must see
        log.info("cleaning up after the failed create: %s", e)
        warn(f"the failed create left up to {_mb(written)} of packs; `snapstore gc` frees them")
        return
    if done.removed:
        warn(
            f"removed the {done.removed} pack(s) ({_mb(done.removed_bytes)}) the failed "
            "create had written"
        )
    left = written - done.removed_bytes
    if left > 0:
        warn(f"the failed create left {_mb(left)} of packs; `snapstore gc` frees them")
