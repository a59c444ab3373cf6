"""Reaching ArangoDB through python-arango: endpoints, authentication, raw calls, errors.

Endpoints are ``http://``, ``https://`` or a Unix socket (``http+unix://<url-quoted path>``,
or ArangoDB's own ``unix:///path`` form). python-arango has no socket transport, so a small
``requests`` adapter connects to the socket and the driver is given the ``http+unix`` host.

Every call goes through python-arango (``Database.request`` with a raw ``Request`` where the
high-level getters drop fields, python-arango's formatter.py). Any failure becomes one
:class:`DatabaseError` line that names the server and what was being done; the password never
appears in a message. Time spent waiting for the server is counted (``Timings``) so a caller
can tell product time from server time.

Raw calls decode their answers themselves: metadata with the standard library (integers of
any size stay exact: the section keeps them, spec/database.md ``big_integers``), cursor
batches (``fast=True``) with orjson, which is several times faster; it reads an integer
literal beyond 64 bits as a double, which is what ArangoDB stores such a number as
(VelocyPack integers have 64 bits), so no value a real server holds changes. What orjson
refuses (lone surrogate escapes) goes to the standard library. Credentials in an endpoint URL (``http://user:pw@host``)
are used as the login and never shown: every message names the endpoint as ``redact_url``
writes it.

Why one module of ~460 lines: endpoints, the socket adapter, raw calls and the error
translation are one path every request takes; split, each part would need the others.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import orjson
import requests
import urllib3
from arango.client import ArangoClient
from arango.database import StandardDatabase
from arango.exceptions import ArangoClientError, ArangoServerError
from arango.http import DefaultHTTPClient
from arango.request import Request
from arango.response import Response
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.util.retry import Retry

from snapstore.base.errors import DatabaseError
from snapstore.config.settings import ArangoSettings

# ArangoDB error numbers we act on (ArangoDB lib/Basics/errors.dat).
ERR_FORBIDDEN = 11
ERR_DATA_SOURCE_NOT_FOUND = 1203
ERR_DUPLICATE_NAME = 1207
ERR_DATABASE_NOT_FOUND = 1228
ERR_CURSOR_NOT_FOUND = 1600
ERR_TRX_ABORTED = 1654
ERR_TRX_NOT_FOUND = 1655
ERR_GRAPH_NOT_FOUND = 1924


# -- transport --------------------------------------------------------------------------------

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^/@]*)@")


def decode_json(text: str, fast: bool = False) -> Any:
    """A JSON answer; ``fast``: orjson (big integers become doubles). Not JSON: the text."""
    if fast:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # a lone surrogate escape, or not JSON
    try:
        return json.loads(text)
    except ValueError:
        return text  # as python-arango does with a body that is not JSON


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and the user and password it named (if any)."""
    m = _USERINFO.match(url.strip())
    if m is None:
        return url, None, None
    user, sep, password = m.group("info").partition(":")
    bare = m.group("scheme") + url.strip()[m.end() :]
    return bare, unquote(user) or None, unquote(password) if sep else None


def redact_url(url: str) -> str:
    """The endpoint as messages show it: any ``user:password@`` becomes ``***@``."""
    return _USERINFO.sub(lambda m: m.group("scheme") + "***@", url.strip())


def normalize_url(url: str) -> str:
    """The host string python-arango is given: ``unix:///p`` -> ``http+unix://%2Fp`` etc."""
    url = url.strip()
    if url.startswith("unix://"):
        return "http+unix://" + quote(url[len("unix://") :], safe="")
    if url.startswith("tcp://"):
        return "http://" + url[len("tcp://") :]
    if url.startswith("ssl://"):
        return "https://" + url[len("ssl://") :]
    if url.startswith("http+unix://"):
        rest = url[len("http+unix://") :]
        if rest.startswith("/"):  # an unquoted path: quote it so it stays the "host"
            return "http+unix://" + quote(rest, safe="")
        return url
    return url.rstrip("/")


class _UnixConnection(HTTPConnection):
    def __init__(self, path: str, timeout: Any) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        sock.settimeout(timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixPool(HTTPConnectionPool):
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__("localhost", **kwargs)
        self._path = path

    def _new_conn(self) -> HTTPConnection:
        self.num_connections += 1
        return _UnixConnection(self._path, self.timeout.connect_timeout)


class UnixSocketAdapter(HTTPAdapter):
    """Send ``http+unix://<quoted socket path>/...`` requests over that Unix socket."""

    def __init__(self, retries: Retry, timeout: float | None, pool_maxsize: int = 4) -> None:
        super().__init__(max_retries=retries)
        self._timeout = timeout
        self._maxsize = pool_maxsize
        self._unix_pools: dict[str, _UnixPool] = {}

    def _pool(self, url: str) -> _UnixPool:
        path = unquote(urlsplit(url).netloc)
        pool = self._unix_pools.get(path)
        if pool is None:
            pool = _UnixPool(path, timeout=self._timeout, maxsize=self._maxsize)
            self._unix_pools[path] = pool
        return pool

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> HTTPConnectionPool:
        return self._pool(str(request.url))

    def get_connection(self, url: str, proxies: Any = None) -> HTTPConnectionPool:
        return self._pool(url)

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return str(request.path_url)

    def close(self) -> None:
        for pool in self._unix_pools.values():
            pool.close()
        self._unix_pools.clear()
        super().close()


@dataclass
class Timings:
    """Wall time spent in HTTP round trips (the server's share, plus the wire)."""

    server_seconds: float = 0.0
    requests: int = 0


class _HTTPClient(DefaultHTTPClient):
    """python-arango's client without urllib3 retries, with Unix sockets and timing."""

    def __init__(self, timeout: float, timings: Timings) -> None:
        # No retries down here: urllib3 would log a WARNING line per retry, which reaches
        # stderr once python-arango's module-level ``logging.debug`` has configured the root
        # logger, and it cannot tell which POSTs may be sent again. ``Connection.call``
        # retries instead (``never_sent``, ``idempotent``).
        super().__init__(request_timeout=timeout, retry_attempts=0, backoff_factor=0)
        self.timings = timings
        # This thread's last transport error: python-arango replaces a connection error
        # with a bare ConnectionAbortedError, which no longer tells whether the request was
        # sent (``never_sent``).
        self.errors = threading.local()

    def create_session(self, host: str) -> requests.Session:
        if not host.startswith("http+unix://"):
            session = super().create_session(host)
            # python-arango's adapter retries 5xx answers to GETs (status_forcelist):
            # without retries left that would raise instead of returning the answer.
            for adapter in session.adapters.values():
                # Every adapter there is an HTTPAdapter (python-arango's, for http and https).
                if isinstance(adapter, HTTPAdapter):
                    adapter.max_retries = Retry(total=0, status_forcelist=[], raise_on_status=False)
            return session
        retries = Retry(total=0, status_forcelist=[])
        session = requests.Session()
        session.trust_env = False  # proxies from the environment make no sense for a socket
        session.mount("http+unix://", UnixSocketAdapter(retries, self.request_timeout))
        return session

    def send_request(
        self,
        session: requests.Session,
        method: str,
        url: str,
        headers: Any = None,
        params: Any = None,
        data: Any = None,
        auth: Any = None,
    ) -> Response:
        started = time.perf_counter()
        self.errors.last = None
        try:
            # As python-arango's, but the body is read in one call: requests' default reads
            # it in 10 KiB pieces, a Python loop per piece of a multi-megabyte batch.
            response = session.request(
                method=method,
                url=url,
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=self.request_timeout,
                stream=True,
            )
            try:
                body = response.raw.read(decode_content=True)
            finally:
                response.close()  # the body is read: the connection goes back to the pool
            return Response(
                method=method,
                url=response.url,
                headers=response.headers,
                status_code=response.status_code,
                status_text=response.reason,
                raw_body=body.decode(response.encoding or "utf-8", errors="replace"),
            )
        except Exception as e:
            self.errors.last = e
            raise
        finally:
            self.timings.server_seconds += time.perf_counter() - started
            self.timings.requests += 1


# -- errors -----------------------------------------------------------------------------------


class ServerAnswer(Exception):
    """A non-2xx answer to a raw call: HTTP status, ArangoDB errorNum and message."""

    def __init__(self, status: int, error_num: int | None, message: str, what: str) -> None:
        super().__init__(f"{what}: [HTTP {status}][ERR {error_num}] {message}")
        self.status = status
        self.error_num = error_num
        self.message = message
        self.what = what


NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionAbortedError,
    ConnectionError,
    socket.timeout,
)


def is_network_error(e: BaseException) -> bool:
    return isinstance(e, NETWORK_ERRORS)


# Transient failures: each attempt after the first waits the next of these (seconds), so
# a request survives six failures in a row and a server gone for good is given up on after
# about six seconds (spec/database.md, "Dropped connections").
RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
# Answers to a read that mean "busy, try again" (503 shutting down or overloaded, a proxy's
# 502/504, 429; 500 with ERR 28 "locked": a stream transaction's lease was held).
_BUSY = (429, 502, 503, 504)
ERR_LOCKED = 28
# urllib3's NewConnectionError (refused, no route) is a subclass of its ConnectTimeoutError.
_REFUSED = (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)
_TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout)
# Creating requests whose answer, when an earlier attempt's answer was lost, may be "it
# exists already" (409 ERR 1207), and deleting ones whose may be "not found" (404): the
# lost attempt did the work.
_CREATES = ("/_api/collection", "/_api/view", "/_api/gharial", "/_api/database")


def _caused_by(e: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether ``e`` or anything it wraps (urllib3's ``reason``, requests' first argument,
    the cause or context) is one of ``kinds``."""
    seen: set[int] = set()
    cur = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, kinds):
            return True
        reason = getattr(cur, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else None
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        cur = nxt or cur.__cause__ or cur.__context__
    return False


_UNSENT = (
    requests.exceptions.ConnectTimeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    ConnectionRefusedError,
)


def never_sent(e: BaseException | None) -> bool:
    """Whether the request failed before reaching the server (refused, no route, connect
    timeout): then sending it again cannot do anything twice."""
    return _caused_by(e, _UNSENT)


def idempotent(method: str, endpoint: str, params: dict[str, Any] | None) -> bool:
    """Whether sending the request twice does what sending it once does.

    Reads, PUTs (truncate, properties) and DELETEs are; so are document writes with
    ``overwriteMode=replace`` (a restore's loads: by key, ``isRestore`` keeps the revision),
    new read-only cursors (snapstore sends no writing AQL), and the creation of collections,
    views, graphs and databases once "exists already" counts as done (``Connection.call``).
    Index, analyzer and AQL function creation are idempotent on the server (an identical
    index or analyzer is returned, a function replaced). Not idempotent: reading on from a
    cursor without a batch id (it moves the cursor; ``BatchReader`` retries by batch id).
    """
    m = method.lower()
    if m in ("get", "head", "options", "put", "delete"):
        return True
    if m != "post":
        return False
    if endpoint.startswith("/_api/document/"):
        return (params or {}).get("overwriteMode") == "replace"
    return endpoint in (
        *_CREATES,
        "/_api/cursor",
        "/_api/index",
        "/_api/analyzer",
        "/_api/aqlfunction",
    )


def describe(e: BaseException, url: str) -> str:
    """One line for any failure talking to the server."""
    if isinstance(e, ServerAnswer):
        return str(e)
    if isinstance(e, requests.exceptions.Timeout | socket.timeout):
        return f"ArangoDB at {url} did not answer in time"
    if is_network_error(e):
        return f"lost the connection to ArangoDB at {url} (server unreachable or gone)"
    if isinstance(e, ArangoServerError):
        return f"[HTTP {e.http_code}][ERR {e.error_code}] {e.error_message or e}"
    if isinstance(e, ArangoClientError):
        return str(e)
    return f"{type(e).__name__}: {e}"


# -- connection -------------------------------------------------------------------------------


@dataclass
class ServerInfo:
    version: str
    role: str  # SINGLE, COORDINATOR, ...

    @property
    def cluster(self) -> bool:
        return self.role == "COORDINATOR"


class Connection:
    """One database on one server, reached through python-arango."""

    def __init__(self, settings: ArangoSettings, database: str | None = None) -> None:
        if not settings.url:
            raise DatabaseError("no ArangoDB endpoint is configured (set --arango-url)")
        bare, url_user, url_password = split_credentials(settings.url)
        self.settings = settings
        self.url = redact_url(settings.url)
        self.user = url_user or settings.user
        self.name = database or settings.database
        self.timings = Timings()
        host = normalize_url(bare)
        scheme = host.split("://", 1)[0]
        if scheme not in ("http", "https", "http+unix"):
            raise DatabaseError(
                f"ArangoDB endpoint {self.url!r}: use http://, https://, http+unix:// or unix://"
            )
        self._password = url_password if url_password is not None else settings.password()
        try:
            self._http = _HTTPClient(settings.timeout, self.timings)
            self.client = ArangoClient(
                hosts=host,
                http_client=self._http,
                resolver_max_tries=1,
                verify_override=settings.verify_tls if scheme == "https" else None,
                request_timeout=settings.timeout,
            )
        except ValueError as e:
            message = str(e).replace(bare, self.url)
            if self._password:
                message = message.replace(self._password, "***")
            raise DatabaseError(f"bad ArangoDB endpoint {self.url!r}: {message}") from None
        self.db = self._open(self.name)
        self._system: StandardDatabase | None = None

    def _open(self, name: str) -> StandardDatabase:
        try:
            return self.client.db(
                name,
                username=self.user,
                password=self._password,
                auth_method=self.settings.auth,
                verify=False,
            )
        except ArangoServerError as e:  # JWT: the token request happens here
            raise (
                self._auth_error(e.http_code)
                if e.http_code in (401, 403)
                else DatabaseError(
                    f"cannot log in to ArangoDB at {self.url}: {describe(e, self.url)}"
                )
            ) from None
        except Exception as e:
            if is_network_error(e):
                raise DatabaseError(self._unreachable(e)) from None
            raise

    def _unreachable(self, e: BaseException) -> str:
        if isinstance(e, requests.exceptions.Timeout | socket.timeout):
            return f"ArangoDB at {self.url} did not answer within {self.settings.timeout:g} s"
        return f"cannot reach ArangoDB at {self.url} (connection refused or no such host/socket)"

    def _auth_error(self, status: int | None) -> DatabaseError:
        return DatabaseError(
            f"ArangoDB at {self.url} refused user {self.user!r} "
            f"(HTTP {status}): wrong user name or password, or no access"
        )

    @property
    def system(self) -> StandardDatabase:
        if self._system is None:
            self._system = self._open("_system")
        return self._system

    # -- calls --------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        data: Any = None,
        db: Any = None,
        headers: dict[str, str] | None = None,
        fast: bool = False,
    ) -> Any:
        """One raw request through python-arango; returns the parsed body or raises.

        ``fast`` decodes with orjson (cursor batches of documents; see the module doc).
        A dropped, refused or timed-out connection is retried after ``RETRY_DELAYS`` when the
        request never reached the server or is ``idempotent``, and a read answered "busy"
        likewise; when an earlier attempt
        may have been carried out (its answer was lost), "exists already" to a create and
        "not found" to a delete mean it was, and return ``{}``. Network failures that remain
        raise the transport's exception (callers turn them into DatabaseError with context);
        error answers raise :class:`ServerAnswer`.
        """
        maybe_done = timed_out = False
        for delay in (*RETRY_DELAYS, None):
            try:
                return self._call_once(method, endpoint, what, params, data, db, headers, fast)
            except ServerAnswer as e:
                if maybe_done and _already_done(method, endpoint, e):
                    return {}
                busy = e.status in _BUSY or (e.status == 500 and e.error_num == ERR_LOCKED)
                if delay is None or not busy or method.lower() not in ("get", "head"):
                    raise
            except Exception as e:
                cause = getattr(self._http.errors, "last", None)
                unsent = never_sent(e) or never_sent(cause)
                # A server that does not answer (or accept) in time is given one more
                # chance, not six: each try waits the whole timeout.
                slow = any(
                    _caused_by(x, _TIMEOUTS) and not _caused_by(x, _REFUSED) for x in (e, cause)
                )
                retry = is_network_error(e) and (unsent or idempotent(method, endpoint, params))
                if delay is None or not retry or (slow and timed_out):
                    raise
                timed_out = timed_out or slow
                maybe_done = maybe_done or not unsent
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _call_once(
        self,
        method: str,
        endpoint: str,
        what: str,
        params: dict[str, Any] | None,
        data: Any,
        db: Any,
        headers: dict[str, str] | None,
        fast: bool,
    ) -> Any:
        target = self.db if db is None else db
        request = Request(
            method=method,
            endpoint=endpoint,
            params=params,
            data=data,
            headers=headers,
            deserialize=False,
        )
        try:
            resp = target.request(request)
        except ArangoServerError as e:
            raise ServerAnswer(
                e.http_code or 0, e.error_code, e.error_message or str(e), what
            ) from None
        # A standard or transaction database answers at once; only an async or batch
        # database (never used here) would hand back a job instead.
        if not isinstance(resp, Response):
            raise TypeError(f"{what}: python-arango returned {type(resp).__name__}, not an answer")
        raw = resp.raw_body
        result = decode_json(raw, fast) if isinstance(raw, str) and raw else raw
        if not resp.is_success:
            body = result if isinstance(result, dict) else {}
            if (
                resp.status_code in (401, 403)
                and body.get("errorNum", ERR_FORBIDDEN) == ERR_FORBIDDEN
            ):
                raise self._auth_error(resp.status_code)
            raise ServerAnswer(
                resp.status_code,
                body.get("errorNum"),
                str(body.get("errorMessage") or resp.status_text),
                what,
            )
        return result

    def probe(self) -> bool:
        """Check the server, the credentials and the database; False if the database is missing."""
        try:
            self.call("get", "/_api/database/current", what="reading the database")
            return True
        except ServerAnswer as e:
            if e.error_num == ERR_DATABASE_NOT_FOUND or (e.status == 404 and e.error_num is None):
                return False
            raise DatabaseError(f"ArangoDB at {self.url}: {e}") from None
        except DatabaseError:
            raise
        except Exception as e:
            if is_network_error(e):
                raise DatabaseError(self._unreachable(e)) from None
            raise

    def require_database(self) -> None:
        if not self.probe():
            raise DatabaseError(f"database {self.name!r} does not exist on ArangoDB at {self.url}")

    def server_info(self) -> ServerInfo:
        version = self.call("get", "/_api/version", what="reading the server version")
        role = "SINGLE"
        # Older servers and test servers may not know the call: assume a single server.
        with contextlib.suppress(ServerAnswer):
            role = str(self.call("get", "/_admin/server/role", what="role").get("role", role))
        return ServerInfo(str(version.get("version", "?")), role)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not hide the real outcome
            self.client.close()


def _already_done(method: str, endpoint: str, e: ServerAnswer) -> bool:
    """Whether ``e``, the answer to a repeated request, says the lost attempt did the work."""
    m = method.lower()
    if m == "post" and endpoint in _CREATES:
        return e.status == 409 and e.error_num == ERR_DUPLICATE_NAME
    return m == "delete" and e.status == 404


def q(name: str) -> str:
    """A collection, view, graph or analyzer name as one URL path segment."""
    return quote(name, safe="")
