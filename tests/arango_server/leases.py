"""Stream transaction leases: what happens when two requests use one transaction at once.

ArangoDB's transaction Manager leases a stream transaction to each request that names it
(`x-arango-trx-id`) for as long as the request runs (arangod/Transaction/Manager.cpp,
`leaseManagedTrx`): a read lease takes the transaction's lock shared, a write lease takes it
exclusively. A write lease waits up to `--transaction.streaming-lock-timeout` (8 s) and then
fails with errorNum 28 "cannot write-lock, transaction <id> is already in use"; a read lease
that finds a writer fails at once ("cannot read-lock ..."). On a Coordinator every lease is a
write lease ("always serialize access on coordinator"). errorNum 28 (ERROR_LOCKED) answers
HTTP 500 (lib/Rest/GeneralResponse.cpp, `responseCode`). Commit and abort also need the
transaction to themselves (`updateTransaction`: "... transaction <id> is in use").

The App serialises request handling with one lock, so overlap can only be seen here, before
that lock is taken: a lease is held from the moment a request arrives until its answer is
ready.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import errors
from .errors import ArangoError

if TYPE_CHECKING:
    from .app import Settings

TRX_HEADER = "x-arango-trx-id"
_READ_POSTS = re.compile(r"/_api/cursor(/[^/]+(/[^/]+)?)?/?$")
_TRX_STATUS = re.compile(r"/_api/transaction/(?P<id>[^/]+)/?$")


@dataclass
class _Holders:
    readers: int = 0
    writer: bool = False


def _is_read(method: str, path: str, query: str) -> bool:
    if method in ("GET", "HEAD"):
        return True
    if method in ("POST", "PUT") and _READ_POSTS.search(path):
        return True  # every AQL shape the server knows only reads
    return method == "PUT" and "/_api/document/" in path and "onlyget=" in query


class LeaseTable:
    """Who holds which stream transaction right now."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holders: dict[str, _Holders] = {}
        self.conflicts = 0  # requests refused with 28, for tests

    @contextmanager
    def lease(
        self, settings: Settings, method: str, raw_path: str, headers: dict[str, str]
    ) -> Iterator[None]:
        parts = urlsplit(raw_path)
        trx_id = headers.get(TRX_HEADER)
        write = False
        if trx_id:
            write = settings.role == "COORDINATOR" or not _is_read(method, parts.path, parts.query)
        else:
            status = _TRX_STATUS.search(parts.path)
            if status is None or method not in ("PUT", "DELETE"):
                yield
                return
            trx_id, write = status.group("id"), True  # commit / abort
        self._acquire(trx_id, write, settings.stream_trx_lock_timeout)
        try:
            yield
        finally:
            self._release(trx_id, write)

    def held(self, trx_id: str) -> bool:
        """Whether a request holds a lease on ``trx_id`` now (tests wait for this)."""
        with self._cond:
            holders = self._holders.get(trx_id)
            return holders is not None and (holders.writer or holders.readers > 0)

    def _acquire(self, trx_id: str, write: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                holders = self._holders.setdefault(trx_id, _Holders())
                if write and not holders.writer and holders.readers == 0:
                    holders.writer = True
                    return
                if not write and not holders.writer:
                    holders.readers += 1
                    return
                remaining = deadline - time.monotonic()
                if not write or remaining <= 0:
                    self.conflicts += 1
                    kind = "write" if write else "read"
                    raise ArangoError(
                        500,
                        errors.LOCKED,
                        f"cannot {kind}-lock, transaction {trx_id} is already in use",
                    )
                self._cond.wait(remaining)

    def _release(self, trx_id: str, write: bool) -> None:
        with self._cond:
            holders = self._holders[trx_id]
            if write:
                holders.writer = False
            else:
                holders.readers -= 1
            if not holders.writer and holders.readers == 0:
                del self._holders[trx_id]
            self._cond.notify_all()
