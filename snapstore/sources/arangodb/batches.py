"""Read an AQL cursor batch by batch, fetching the next batch while the caller works.

The cursor is created with ``allowRetry`` (ArangoDB 3.11+): each answer names the next
batch (``nextBatchId``), fetched with ``POST /_api/cursor/<id>/<batchId>``, and asking for
the same batch id again returns the same batch. So a connection that drops while a batch is
on its way costs one more request, not the whole read (ArangoDB docs:
develop/http-api/queries/aql-queries, "allowRetry"). A server that does not send
``nextBatchId`` gets the plain ``POST /_api/cursor/<id>`` without retries. Such a cursor is
not deleted by the server when its last batch was read, so ``close`` deletes it.

One thread fetches; the caller's thread decodes nothing and waits only when the fetcher is
behind. The fetcher is the only one using the cursor (and its stream transaction) while the
read runs: a stream transaction must not serve two requests at once (500/28 on a
Coordinator, and on any server once one of them writes).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from snapstore.sources.arangodb.connection import Connection, is_network_error, q

RETRIES = 3  # extra attempts at one batch after the connection dropped
RETRY_PAUSE = 0.2  # seconds, doubled each attempt
PREFETCH = 2  # batches fetched ahead of the caller
_DONE = object()


class BatchReader:
    """Iterate over the ``result`` lists of one cursor; use as a context manager."""

    def __init__(
        self,
        conn: Connection,
        query: str,
        bind_vars: dict[str, Any],
        what: str,
        db: Any = None,
        batch_size: int = 1000,
        ttl: int = 120,
        lock: threading.Lock | None = None,
    ) -> None:
        self.conn = conn
        # Held around every request: others using the same transaction take it too, so the
        # transaction never serves two requests at once.
        self.lock = lock if lock is not None else threading.Lock()
        self.what = what
        self.db = db
        self.retries = 0  # batches fetched again after a lost answer
        self._stop = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH)
        self._thread: threading.Thread | None = None
        with self.lock:
            self._first = conn.call(
                "post",
                "/_api/cursor",
                what=what,
                db=db,
                fast=True,
                data={
                    "query": query,
                    "bindVars": bind_vars,
                    "batchSize": batch_size,
                    "ttl": ttl,
                    "options": {"stream": True, "allowRetry": True},
                },
            )
        self.cursor_id: str | None = self._first.get("id")

    def __enter__(self) -> BatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        body = self._first
        yield body.get("result") or []
        if not body.get("hasMore"):
            return
        self._thread = threading.Thread(
            target=self._fetch_all, args=(body,), name="snapstore-cursor", daemon=True
        )
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # -- the fetcher thread -------------------------------------------------------------------

    def _fetch_all(self, body: dict[str, Any]) -> None:
        try:
            while body.get("hasMore") and not self._stop.is_set():
                body = self._fetch(body.get("nextBatchId"))
                self._put(body.get("result") or [])
            self._put(_DONE)
        except BaseException as e:  # handed to the caller's thread
            self._put(e)

    def _fetch(self, batch_id: Any) -> dict[str, Any]:
        cursor = q(str(self.cursor_id))
        endpoint = f"/_api/cursor/{cursor}" + ("" if batch_id is None else f"/{batch_id}")
        attempts = RETRIES + 1 if batch_id is not None else 1
        for attempt in range(attempts):
            try:
                with self.lock:
                    body: dict[str, Any] = self.conn.call(
                        "post", endpoint, what=self.what, db=self.db, fast=True
                    )
                return body
            except Exception as e:
                if not is_network_error(e) or attempt == attempts - 1 or self._stop.is_set():
                    raise
                self.retries += 1
                time.sleep(RETRY_PAUSE * 2**attempt)
        raise AssertionError("unreachable")

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop fetching and delete the cursor (the server keeps allowRetry cursors)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.cursor_id is not None:
            with contextlib.suppress(Exception), self.lock:  # it expires by itself otherwise
                self.conn.call(
                    "delete", f"/_api/cursor/{q(self.cursor_id)}", what="closing a cursor"
                )
            self.cursor_id = None
