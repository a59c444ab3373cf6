"""AQL cursors: batching, time-to-live, the retry-able batch ids of 3.11+.

A query's whole result is computed when the cursor is created (documents are
immutable, so the list is a consistent snapshot even for `stream: true`).
The cursor lives until its last batch has been fetched, it is deleted, or
`ttl` seconds pass without an access (then 404/1600).  With `allowRetry` the
response carries `nextBatchId` and the latest batch can be fetched again via
`POST /_api/cursor/<id>/<batchId>`; such a cursor is kept until deleted or
expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import errors
from .errors import ArangoError
from .store import Database


def cursor_not_found() -> ArangoError:
    return ArangoError(404, errors.CURSOR_NOT_FOUND, "cursor not found")


@dataclass
class Cursor:
    id: str
    db: Database
    results: list[Any]
    batch_size: int
    ttl: float
    stream: bool
    allow_retry: bool
    with_count: bool
    last_access: float
    trx_id: str | None = None  # set when created inside a stream transaction
    position: int = 0
    batch_id: int = 0
    last_body: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.results)

    def next_batch(self) -> dict[str, Any]:
        first = self.batch_id == 0
        chunk = self.results[self.position : self.position + self.batch_size]
        self.position += len(chunk)
        self.batch_id += 1
        has_more = not self.exhausted
        body: dict[str, Any] = {"result": chunk, "hasMore": has_more}
        if has_more or not first:
            body["id"] = self.id
        if self.with_count and not self.stream:
            body["count"] = len(self.results)
        body["cached"] = False
        # Non-streaming queries report stats up front, streaming ones at the end.
        if (first and not self.stream) or (self.stream and not has_more):
            body["extra"] = self.extra
        if self.allow_retry and has_more:
            body["nextBatchId"] = str(self.batch_id + 1)
        self.last_body = body
        return body


class CursorRegistry:
    def __init__(self) -> None:
        self._cursors: dict[str, Cursor] = {}

    def clear(self) -> None:
        self._cursors.clear()

    def expire(self, now: float) -> None:
        for cursor_id, cursor in list(self._cursors.items()):
            if now - cursor.last_access > cursor.ttl:
                del self._cursors[cursor_id]

    def open(self, cursor: Cursor) -> dict[str, Any]:
        """Register a new cursor and return its first batch."""
        body = cursor.next_batch()
        if not cursor.exhausted:  # a one-batch result gets no cursor (and no id)
            self._cursors[cursor.id] = cursor
        return body

    def get(self, cursor_id: str, db: Database, now: float) -> Cursor:
        cursor = self._cursors.get(cursor_id)
        if cursor is None or cursor.db is not db:
            raise cursor_not_found()
        if now - cursor.last_access > cursor.ttl:
            del self._cursors[cursor_id]
            raise cursor_not_found()
        cursor.last_access = now
        return cursor

    def fetch(self, cursor: Cursor, batch_id: str | None) -> dict[str, Any]:
        if batch_id is not None:
            if not cursor.allow_retry:
                raise errors.bad_parameter("cursor was not created with allowRetry")
            if batch_id == str(cursor.batch_id) and cursor.last_body is not None:
                return cursor.last_body  # the client lost the answer: send it again
            if batch_id != str(cursor.batch_id + 1):
                raise cursor_not_found()
        if cursor.exhausted and batch_id is None and not cursor.allow_retry:
            raise cursor_not_found()
        body = cursor.next_batch()
        if cursor.exhausted and not cursor.allow_retry:
            self._cursors.pop(cursor.id, None)
        return body

    def delete(self, cursor_id: str, db: Database) -> None:
        cursor = self._cursors.get(cursor_id)
        if cursor is None or cursor.db is not db:
            raise cursor_not_found()
        del self._cursors[cursor_id]

    def count(self) -> int:
        return len(self._cursors)
