"""The server's state and request dispatch, independent of the HTTP transport.

`App.handle()` takes a method, raw path, headers and body and returns a
`Response`.  It resolves `/_db/<name>/…` (a path without that prefix means
`_system`), authenticates, expires idle cursors and transactions, routes,
and turns `ArangoError` into ArangoDB's JSON error body.  One lock serialises
all requests: simple, and plenty fast for tests.

The server clock (`now()`, used for cursor TTLs, transaction idle timeouts
and JWT expiry) can be moved forward with `advance_clock()` so tests of
expiry need not sleep.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from . import (
    api_admin,
    api_collections,
    api_documents,
    api_functions,
    api_graphs,
    api_queries,
    api_search,
    errors,
    ttl,
)
from .auth import Authenticator
from .cursors import CursorRegistry
from .errors import ArangoError
from .leases import LeaseTable
from .routing import Request, Response, Router
from .store import Database
from .transactions import TransactionRegistry

log = logging.getLogger("tests.arango_server")


@dataclass
class Settings:
    """Knobs tests may change at run time (see README)."""

    stream_trx_idle_timeout: float = 60.0
    cursor_default_ttl: float = 30.0
    jwt_lifetime: float = 3600.0
    # Whether POST /_api/cursor/<id> *without* x-arango-trx-id keeps the cursor's
    # transaction alive.  Unverified for ArangoDB (facts section 8), so the
    # stricter answer is the default.
    cursor_fetch_touches_trx: bool = False
    version: str = "3.12.4"
    # "SINGLE" or "COORDINATOR": a Coordinator takes cluster attributes (shards,
    # replication, distributeShardsLike, database options) and serialises every
    # use of a stream transaction (cluster.py, leases.py).
    role: str = "SINGLE"
    # "community" refuses Enterprise-only collection attributes (cluster.py).
    license: str = "community"
    # DB-Servers a Coordinator pretends to have (replicationFactor is checked
    # against it unless enforceReplicationFactor=false).
    db_servers: int = 3
    # arangod --vector-index (--experimental-vector-index): off by default, as
    # in ArangoDB; vector indexes are refused without it.
    vector_index: bool = False
    # --transaction.streaming-lock-timeout: how long a request waits for a
    # stream transaction another request is using (then 500/28).
    stream_trx_lock_timeout: float = 8.0
    # --ttl.frequency (seconds of server clock between TTL sweeps).
    ttl_frequency: float = 30.0
    # Indexes created with inBackground=true stay "being built" (hidden unless
    # withHidden=true) for this many seconds of server clock.
    index_build_seconds: float = 0.0
    # Wall-clock seconds every request waits (holding its transaction lease, not
    # the server lock) before it is handled: a slow link or a busy server.
    request_delay: float = 0.0
    # "bytes" (the primary index's order) or "collation" (AQL string order, as a
    # Coordinator merging shards returns `SORT d._key`): see aql.execute.
    key_order: str = "bytes"


def build_router() -> Router:
    router = Router()
    modules = (
        api_admin,
        api_collections,
        api_documents,
        api_queries,
        api_search,
        api_graphs,
        api_functions,
    )
    for module in modules:
        module.register(router)
    return router


class App:
    def __init__(self, username: str = "root", password: str = "") -> None:
        self.lock = threading.RLock()
        self.settings = Settings()
        self.users: dict[str, str] = {username: password}
        self.auth = Authenticator(self.users)
        self.databases: dict[str, Database] = {"_system": Database.create("_system")}
        self.cursors = CursorRegistry()
        self.transactions = TransactionRegistry(
            self.now, lambda: self.settings.stream_trx_idle_timeout
        )
        self.router = build_router()
        self.request_count = 0
        self._clock_offset = 0.0
        self.leases = LeaseTable()
        self.last_ttl_sweep = self.now()

    # -- clock ----------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() + self._clock_offset

    def wall_now(self) -> float:
        return time.time() + self._clock_offset

    @property
    def clock_offset(self) -> float:
        return self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self._clock_offset += seconds

    def reset(self) -> None:
        """Forget volatile state, as a server restart does (data is kept)."""
        with self.lock:
            self.cursors.clear()
            self.transactions.clear()

    # -- dispatch -------------------------------------------------------------

    def database(self, name: str) -> Database:
        try:
            return self.databases[name]
        except KeyError:
            raise ArangoError(404, errors.DATABASE_NOT_FOUND, "database not found") from None

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            # Outside the big lock: two requests using one stream transaction at
            # the same time is what this detects (leases.py).
            with self.leases.lease(self.settings, method.upper(), raw_path, headers):
                if self.settings.request_delay > 0:
                    time.sleep(self.settings.request_delay)
                with self.lock:
                    self.request_count += 1
                    response = self._dispatch(method.upper(), raw_path, headers, body)
        except ArangoError as exc:
            response = Response(exc.http_status, exc.body())
            if exc.http_status == 401 and "x-omit-www-authenticate" not in headers:
                response.headers["Www-Authenticate"] = 'Basic, realm="ArangoDB"'
        except Exception as exc:  # a bug in the test server: make it loud
            log.exception("test server failed on %s %s", method, raw_path)
            response = Response(500, ArangoError(500, errors.INTERNAL, repr(exc)).body())
        if method.upper() == "HEAD":
            response.body = None
        return response

    def _dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        db_name = "_system"
        if path.startswith("/_db/"):
            db_segment, _, rest = path[len("/_db/") :].partition("/")
            db_name, path = unquote(db_segment), "/" + rest
        if path.rstrip("/") == "/_open/auth" and method == "POST":
            return api_admin.open_auth(self, body)

        user = self.auth.authenticate(headers.get("authorization"), self.wall_now())
        db = self.database(db_name)
        self.cursors.expire(self.now())
        self.transactions.expire_idle()
        ttl.maybe_sweep(self)

        route_method = "GET" if method == "HEAD" else method
        handler, params = self.router.resolve(route_method, path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        request = Request(self, db, method, path, query, headers, body, user)
        return handler(request, **params)
