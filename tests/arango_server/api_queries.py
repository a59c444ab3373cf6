"""AQL cursor endpoints (/_api/cursor) and stream transactions (/_api/transaction).

A cursor created with x-arango-trx-id reads the transaction's snapshot.  Its
follow-up requests may come without the header (python-arango sends none);
they fail with 410/1654 once the transaction was aborted or timed out.  With
the header they also keep the transaction alive; without it they do so only
when `Settings.cursor_fetch_touches_trx` is set (unverified for ArangoDB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import aql, errors
from .cursors import Cursor
from .errors import ArangoError
from .keys import TICKS
from .routing import TRX_HEADER, Request, Response, Router, ok
from .store import Doc
from .transactions import ABORTED, RUNNING, StreamTransaction, gone

# -- cursors ------------------------------------------------------------------------


def _stats(query: aql.Query, results: list[Any]) -> dict[str, Any]:
    full_scan = query.kind in ("scan", "length")
    return {
        "warnings": [],
        "stats": {
            "writesExecuted": 0,
            "writesIgnored": 0,
            "documentLookups": 0,
            "scannedFull": len(results) if full_scan else 0,
            "scannedIndex": 0 if full_scan else len(results),
            "cursorsCreated": 0,
            "cursorsRearmed": 0,
            "cacheHits": 0,
            "cacheMisses": 0,
            "filtered": 0,
            "httpRequests": 0,
            "executionTime": 0.0001,
            "peakMemoryUsage": 0,
            "intermediateCommits": 0,
        },
    }


def create_cursor(req: Request) -> Response:
    app = req.app
    body = req.json_object()
    options = body.get("options") or {}
    batch_size = body.get("batchSize", 1000)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise errors.bad_parameter("expecting a positive integer for 'batchSize'")
    ttl = body.get("ttl") or app.settings.cursor_default_ttl
    query = aql.parse(body.get("query"), body.get("bindVars"))
    trx = req.trx()

    def read(name: str) -> Mapping[str, Doc]:
        collection = req.db.collection(name)
        return trx.space(collection, for_write=False).docs() if trx else collection.docs

    results = aql.execute(query, read, collation=app.settings.key_order == "collation")
    cursor = Cursor(
        id=str(TICKS.next_tick()),
        db=req.db,
        results=results,
        batch_size=batch_size,
        ttl=float(ttl),
        stream=bool(body.get("stream", options.get("stream", False))),
        allow_retry=bool(options.get("allowRetry", body.get("allowRetry", False))),
        with_count=bool(body.get("count", False)),
        last_access=app.now(),
        trx_id=trx.id if trx else None,
        extra=_stats(query, results),
    )
    return ok(app.cursors.open(cursor), status=201)


def _check_cursor_transaction(req: Request, cursor: Cursor) -> None:
    if cursor.trx_id is None:
        return
    app = req.app
    if req.header(TRX_HEADER):
        req.trx()  # validates and keeps the transaction alive
        return
    trx = app.transactions.find(cursor.trx_id, req.db)
    if trx.status == ABORTED:
        raise gone(trx)
    if trx.status == RUNNING and app.settings.cursor_fetch_touches_trx:
        app.transactions.touch(trx)


def next_batch(req: Request, cursor_id: str, batch_id: str | None = None) -> Response:
    app = req.app
    cursor = app.cursors.get(cursor_id, req.db, app.now())
    _check_cursor_transaction(req, cursor)
    return ok(app.cursors.fetch(cursor, batch_id))


def delete_cursor(req: Request, cursor_id: str) -> Response:
    req.app.cursors.delete(cursor_id, req.db)
    return ok({"id": cursor_id}, status=202)


# -- stream transactions --------------------------------------------------------------


def _status(trx: StreamTransaction) -> Response:
    return ok({"result": {"id": trx.id, "status": trx.status}})


def begin(req: Request) -> Response:
    trx = req.app.transactions.begin(str(TICKS.next_tick()), req.db, req.json_object())
    return ok({"result": {"id": trx.id, "status": trx.status}}, status=201)


def list_transactions(req: Request) -> Response:
    running = req.app.transactions.running(req.db)
    return ok({"transactions": [{"id": t.id, "state": t.status} for t in running]})


def status(req: Request, trx_id: str) -> Response:
    return _status(req.app.transactions.find(trx_id, req.db))


def commit(req: Request, trx_id: str) -> Response:
    return _status(req.app.transactions.commit(trx_id, req.db))


def abort(req: Request, trx_id: str) -> Response:
    return _status(req.app.transactions.abort(trx_id, req.db))


def javascript_transaction(req: Request) -> Response:
    raise ArangoError(501, 9, "JavaScript transactions are not supported by the test server")


def register(router: Router) -> None:
    cursor = r"/_api/cursor/(?P<cursor_id>[^/]+)"
    router.add("POST", r"/_api/cursor", create_cursor)
    router.add("POST", cursor, next_batch)
    router.add("PUT", cursor, next_batch)  # deprecated form, still served
    router.add("POST", cursor + r"/(?P<batch_id>[^/]+)", next_batch)
    router.add("DELETE", cursor, delete_cursor)
    router.add("POST", r"/_api/transaction/begin", begin)
    router.add("GET", r"/_api/transaction", list_transactions)
    router.add("POST", r"/_api/transaction", javascript_transaction)
    trx = r"/_api/transaction/(?P<trx_id>[^/]+)"
    router.add("GET", trx, status)
    router.add("PUT", trx, commit)
    router.add("DELETE", trx, abort)
