"""Who may talk to the web view: this machine, with the token printed at start-up.

The server listens on 127.0.0.1 only. Every request must name an allowed ``Host`` (the
address it listens on, or ``localhost`` on the same port), which defeats DNS rebinding, and
must carry the random token: in the URL the server printed (``?token=...``, which also sets
a cookie so that links need not repeat it) or in that cookie. The cookie is ``HttpOnly`` and
``SameSite=Strict``, so another site cannot make a browser send it; forms that change
anything also carry the token in a hidden field, checked on every POST.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "snapstore_token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """ASGI middleware: refuse foreign hosts and requests without the token."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    def _valid(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
        elif not self._valid(request.cookies.get(COOKIE)):
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
