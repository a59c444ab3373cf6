"""The live ``(_key, _rev)`` listing of a collection, read one batch ahead (spec/database.md).

Restore by difference lists a live collection twice: sorted by key for the merge, and in any
order for the verification. Both are streaming AQL cursors returning ``[_key, _rev]`` pairs,
a few dozen bytes per document, in large batches. The next batch is requested while the
caller works on the one it has, so the server's time and ours overlap. Batches are handed
out whole, as two parallel lists (keys, revisions): the callers work on lists with C-level
loops (hashing, bisecting, order checks), never pair by pair through a generator.

ArangoDB's primary index serves ``SORT d._key`` (optimizer rule ``use-index-for-sort``, no sort
step) but covers only ``_key`` and ``_id`` (arangod/RocksDBEngine/RocksDBPrimaryIndex.cpp
``_coveredFields``), so each listed ``_rev`` is read from the document; the unsorted listing is
a scan of the documents in storage order, which reads them sequentially.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import blake3

from snapstore.sources.arangodb.connection import Connection, q

SORTED_QUERY = "FOR d IN @@c SORT d._key RETURN [d._key, d._rev]"
ANY_ORDER_QUERY = "FOR d IN @@c RETURN [d._key, d._rev]"
# Pairs per batch: ~40 bytes each, about 400 KB a batch; ten times fewer round trips than
# ArangoDB's default of 1000, and small enough that the server prepares the next batch while
# this one is hashed and merged (with 50,000 a collection of that size is one batch: no overlap).
BATCH = 10_000
TTL = 120  # seconds a cursor lives between two batches (renewed on every access)

Batch = tuple[list[str], list[str]]


class NotInKeyOrder(Exception):
    """The server listed a key not above the one before (a Coordinator merges shards in AQL
    collation order, not byte order)."""


def cursor_request(name: str, query: str) -> dict[str, Any]:
    """The body of ``POST /_api/cursor`` for a streaming ``query`` over collection ``name``."""
    return {
        "query": query,
        "bindVars": {"@c": name},
        "batchSize": BATCH,
        "ttl": TTL,
        "options": {"stream": True},
    }


def batches(conn: Connection, name: str, query: str, what: str) -> Iterator[Batch]:
    """``(keys, revisions)`` of each batch of ``query`` over collection ``name``."""
    body = conn.call("post", "/_api/cursor", what=what, data=cursor_request(name, query), fast=True)
    pool = ThreadPoolExecutor(1, thread_name_prefix="listing")
    pending: Future[Any] | None = None
    ident = str(body.get("id", ""))
    try:
        while True:
            if body.get("hasMore"):
                url = f"/_api/cursor/{q(ident)}"
                pending = pool.submit(conn.call, "post", url, what=what, fast=True)
            rows = body.get("result") or []
            if rows:
                keys, revs = map(list, zip(*rows, strict=True))
                yield keys, revs
            if pending is None:
                return
            body, pending = pending.result(), None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if pending is not None or body.get("hasMore"):
            _close_cursor(conn, ident)


def sorted_batches(conn: Connection, name: str) -> Iterator[Batch]:
    """The collection's pairs in key order (UTF-8 byte order, which for Python strings is
    code point order), in batches; ``NotInKeyOrder`` when the server's order is another."""
    what = f"listing the keys and revisions of collection {name}"
    last: str | None = None
    for keys, revs in batches(conn, name, SORTED_QUERY, what):
        if (last is not None and keys[0] <= last) or not all(map(operator.lt, keys[:-1], keys[1:])):
            raise NotInKeyOrder(name)
        last = keys[-1]
        yield keys, revs


def pairs(source: Iterator[Batch]) -> Iterator[tuple[str, str]]:
    """The pairs of ``source``'s batches one by one (for the pairwise merge)."""
    for keys, revs in source:
        yield from zip(keys, revs, strict=True)


def pair_hashes(keys: list[str], revs: list[str]) -> Iterator[int]:
    """``revdigest.pair_hash`` of each pair, inlined (one function call per document is most
    of the cost of hashing a listing)."""
    b3, from_bytes = blake3.blake3, int.from_bytes
    for k, r in zip(map(str.encode, keys), revs, strict=True):
        yield from_bytes(b3(len(k).to_bytes(4, "little") + k + r.encode()).digest(16), "little")


def _close_cursor(conn: Connection, ident: str) -> None:
    # Best effort: a cursor left open expires by itself (its ttl).
    with contextlib.suppress(Exception):
        conn.call("delete", f"/_api/cursor/{q(ident)}", what="closing a cursor")
