"""Who may talk to the web view: this machine, with the token printed at start-up.

The server listens on 127.0.0.1 only. Every request must name an allowed ``Host`` (the
address it listens on, or ``localhost`` on the same port), which defeats DNS rebinding, and
must carry the random token: in the URL the server printed (``?token=...``, which also sets
a cookie so that links need not repeat it) or in that cookie. The cookie is ``HttpOnly`` and
``SameSite=Strict``, so another site cannot make a browser send it; its name carries the
port (``snapstore_token_PORT``), because browsers keep cookies per host, not per port: two
servers side by side each keep their own. Forms that change anything also carry the token
in a hidden field, checked on every POST.

Every answer, the refusals and downloads included, carries ``HEADERS``: a
Content-Security-Policy that allows only this server's own scripts, styles and forms, no
framing, no referrer, and no caching (pages show data that changes with each snapshot).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_name(port: int) -> str:
    """The token cookie of the server on ``port`` (one per port: module doc)."""
    return f"snapstore_token_{port}"


def with_headers(send: Send) -> Send:
    """``send`` that adds ``HEADERS`` to the response's start, replacing any of the same
    name."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [
                (k, v)
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() not in HEADERS
            ]
            added = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
            message = {**message, "headers": kept + added}
        await send(message)

    return sending


class Guard:
    """ASGI middleware: refuse foreign hosts and requests without the token."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str], port: int) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.cookie = cookie_name(port)

    def _valid(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_headers(send)
        request = Request(scope)
        response: Response | None = None
        if request.headers.get("host", "") not in self.hosts:
            response = PlainTextResponse(
                f"403 refused: this server answers only to requests for {sorted(self.hosts)[0]}\n",
                status_code=403,
            )
        elif self._valid(request.query_params.get("token")):
            # Trade the token in the URL for the cookie, and drop it from the address bar.
            query = urlencode([kv for kv in request.query_params.multi_items() if kv[0] != "token"])
            response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
        elif not self._valid(request.cookies.get(self.cookie)):
            response = PlainTextResponse(
                "403 refused: open the address `snapstore ui` printed (it holds the token)\n",
                status_code=403,
            )
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def check_form_token(request: Request, token: str) -> bool:
    """The hidden ``token`` field of a POSTed form (defence in depth beside the cookie)."""
    form = await request.form()
    value = form.get("token")
    return isinstance(value, str) and secrets.compare_digest(value.encode(), token.encode())
