"""Restore by difference, the writes: remove, then put, only what differs (spec/database.md).

Removals go first, as ``DELETE /_api/document/<c>`` with arrays of keys (a key already gone
is fine: it is what the restore wants). Then the documents to insert or replace, read from
the leaves the merge named (``restore_merge.Difference.leaves``) and sent like a full load:
``POST /_api/document/<c>?isRestore=true&overwriteMode=replace&silent=true``, so a changed
document is replaced in place and keeps the snapshot's ``_rev``, no schema validation runs and
no computed value is evaluated (arangod/Transaction/Methods.cpp ``buildBatchOptions``; the
revision is taken from the document: arangod/StorageEngine/PhysicalCollection.cpp
``newObjectForReplace``). The collection, its indexes and their ids stay.

A collection with a unique index other than the primary one has its changed documents removed
before any is put back: replacing them in key order could meet a value another document still
holds until its own turn comes (1210). The documents kept plus those put are a subset of the
snapshot's at every moment, which satisfied the same unique indexes.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from snapstore.base.reporting import Reporter
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.document_writes import put_restored, raise_failures
from snapstore.sources.arangodb.progress import Progress
from snapstore.sources.arangodb.restore_merge import Difference, key_and_rev
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
BATCH_BYTES = 4 * 1024 * 1024
BATCH_DOCS = 10_000
THREADS = 3
ERR_DOCUMENT_NOT_FOUND = 1202
AUTOMATIC = frozenset({"primary", "edge"})


def has_unique_index(entry: Json) -> bool:
    return any(
        i.get("unique") and i.get("type") not in AUTOMATIC for i in entry.get("indexes") or []
    )


class DifferenceWriter:
    """Writes one collection's difference, a few batches in flight at once."""

    def __init__(self, conn: Connection, store: ChunkStore, reporter: Reporter) -> None:
        self.conn = conn
        self.store = store
        self.reporter = reporter

    def write(self, progress: Progress, name: str, entry: Json, diff: Difference) -> None:
        if not diff.writes:
            return
        progress.at(f"writing the differences into collection {name}", changes=True)
        progress.partial = name
        progress.merged.append(name)
        remove = list(diff.remove)
        if has_unique_index(entry):
            # Documents to replace go out first too (module doc); the puts are then inserts.
            remove.extend(diff.changed)
        self.reporter.start(f"Restoring {name} (differences)", len(remove) + len(diff.put))
        try:
            self._run(name, self._removals(remove), self._remove)
            self._run(name, self._puts(diff), self._put)
        finally:
            self.reporter.finish()
        progress.partial = None

    def _run(self, name: str, batches: Any, send: Any) -> None:
        pool = ThreadPoolExecutor(THREADS, thread_name_prefix=f"diff-{name}"[:15])
        pending: deque[tuple[Future[None], int]] = deque()
        try:
            for body, n in batches:
                if len(pending) >= THREADS:
                    self._settle(pending.popleft())
                pending.append((pool.submit(send, name, body), n))
            while pending:
                self._settle(pending.popleft())
        finally:
            # On a failure or Ctrl-C, batches in flight may still land: the caller's
            # rollback knows (snapstore/ops/database_restore.py).
            pool.shutdown(wait=False, cancel_futures=True)

    def _settle(self, item: tuple[Future[None], int]) -> None:
        future, n = item
        future.result()
        self.reporter.advance(n)

    @staticmethod
    def _removals(keys: list[str]) -> Any:
        for start in range(0, len(keys), BATCH_DOCS):
            chunk = keys[start : start + BATCH_DOCS]
            yield orjson.dumps(chunk).decode("utf-8"), len(chunk)

    def _puts(self, diff: Difference) -> Any:
        lines: list[bytes] = []
        size = 0
        for data in self.store.read_many(diff.leaves):
            for line in data[:-1].split(b"\n"):
                if key_and_rev(line)[0] not in diff.put:
                    continue
                lines.append(line)
                size += len(line) + 1
                if size >= BATCH_BYTES or len(lines) >= BATCH_DOCS:
                    yield (b"[" + b",".join(lines) + b"]").decode("utf-8"), len(lines)
                    lines, size = [], 0
        if lines:
            yield (b"[" + b",".join(lines) + b"]").decode("utf-8"), len(lines)

    def _remove(self, name: str, body: str) -> None:
        answer = self.conn.call(
            "delete",
            f"/_api/document/{q(name)}",
            what=f"removing documents from {name}",
            params={"ignoreRevs": True, "silent": True, "waitForSync": False},
            data=body,
        )
        raise_failures(name, answer, "removed", ignore=ERR_DOCUMENT_NOT_FOUND)

    def _put(self, name: str, body: str) -> None:
        put_restored(self.conn, name, body, f"writing documents into {name}", "written")
