"""Request and response objects, query-string helpers and the route table.

Routes are regular expressions over the request path below `/_db/<db>`, with
named groups for the path parameters (passed to the handler percent-decoded).
Handlers take the `Request` plus those parameters and return a `Response`
or raise `ArangoError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import errors
from .errors import ArangoError
from .store import Collection, Database, DocSpace, LiveSpace

if TYPE_CHECKING:
    from .app import App
    from .transactions import StreamTransaction

TRX_HEADER = "x-arango-trx-id"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


def ok(body: Mapping[str, Any] | None = None, status: int = 200) -> Response:
    """A success answer with ArangoDB's usual `error: false, code: <status>` prefix."""
    return Response(status, {"error": False, "code": status, **(body or {})})


def raw(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A success answer whose body is sent exactly as given (arrays, bare objects)."""
    return Response(status, body, headers or {})


@dataclass
class Request:
    app: App
    db: Database
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    user: str
    _json: Any = None
    _parsed: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The parsed body (None when empty); 400/600 when it is not JSON."""
        if not self._parsed:
            text = self.body.decode("utf-8", errors="replace").strip()
            try:
                self._json = json.loads(text) if text else None
            except ValueError:
                raise ArangoError(400, errors.CORRUPTED_JSON, "invalid JSON object") from None
            self._parsed = True
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise errors.bad_parameter("expecting a JSON object as body")
        return body

    def qbool(self, name: str, default: bool = False) -> bool:
        """A query-string boolean; python-arango sends 1/0, others true/false."""
        value = self.query.get(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return default

    def qstr(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    # -- stream transactions -------------------------------------------------

    def trx(self) -> StreamTransaction | None:
        """The running transaction named by x-arango-trx-id, if the header is set."""
        trx_id = self.header(TRX_HEADER)
        if not trx_id:
            return None
        return self.app.transactions.lease(trx_id, self.db)

    def space(self, collection: Collection, for_write: bool) -> DocSpace:
        trx = self.trx()
        if trx is None:
            return LiveSpace(collection)
        return trx.space(collection, for_write)


Handler = Callable[..., Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}/?$"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        path_known = False
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            path_known = True
            if route_method == method:
                return handler, {k: unquote(v) for k, v in match.groupdict().items()}
        if path_known:
            raise ArangoError(405, errors.HTTP_METHOD_NOT_ALLOWED, "method not supported")
        raise ArangoError(404, errors.HTTP_NOT_FOUND, f"unknown path '{path}'")
