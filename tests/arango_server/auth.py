"""Basic and JWT (HS256) authentication, as ArangoDB answers it.

`POST /_open/auth {"username", "password"}` returns `{"jwt": <token>}`; the
token carries `iss: "arangodb"`, `iat`, `exp` and `preferred_username`, which
python-arango requires.  Requests authenticate with `Authorization: Basic …`
or `Authorization: bearer <jwt>`; anything else is 401 with errorNum 11 (the
code python-arango's JWT refresh reacts to).

Token expiry is checked against the server's clock, which tests can move
forward (`App.advance_clock`) to expire tokens without sleeping.  `iat` is
always the real time, so python-arango accepts freshly issued tokens.
`rotate_secret()` invalidates every token issued so far.
Users are all-powerful: permissions are not modelled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from typing import Any

from . import errors
from .errors import ArangoError


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unauthorized() -> ArangoError:
    return ArangoError(401, errors.FORBIDDEN, "not authorized to execute this request")


class Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self._secret = os.urandom(32)

    def rotate_secret(self) -> None:
        self._secret = os.urandom(32)

    def _sign(self, signing_input: str) -> str:
        digest = hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return _b64url(digest)

    def issue(self, username: str, lifetime: float, clock_offset: float) -> str:
        real_now = time.time()
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {
            "iss": "arangodb",
            "iat": int(real_now),
            "exp": int(real_now + clock_offset + lifetime),
            "preferred_username": username,
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        )
        return f"{signing_input}.{self._sign(signing_input)}"

    def login(self, body: Any, lifetime: float, clock_offset: float) -> str:
        """Check POST /_open/auth credentials and return a token (401 otherwise)."""
        if not isinstance(body, dict):
            raise ArangoError(400, errors.BAD_PARAMETER, "invalid authentication data")
        username, password = body.get("username"), body.get("password", "")
        if not isinstance(username, str) or self.users.get(username) != password:
            raise ArangoError(401, 401, "Wrong credentials")
        return self.issue(username, lifetime, clock_offset)

    def authenticate(self, authorization: str | None, server_now: float) -> str:
        """The user name for an Authorization header value (401/11 if not valid)."""
        if not authorization:
            raise unauthorized()
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise unauthorized() from None
            username, _, password = decoded.partition(":")
            if username in self.users and self.users[username] == password:
                return username
            raise unauthorized()
        if scheme == "bearer":
            return self._check_token(credentials.strip(), server_now)
        raise unauthorized()

    def _check_token(self, token: str, server_now: float) -> str:
        parts = token.split(".")
        if len(parts) != 3:
            raise unauthorized()
        if not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            raise unauthorized()
        try:
            payload = json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error):
            raise unauthorized() from None
        if payload.get("iss") != "arangodb":
            raise unauthorized()
        exp = payload.get("exp")
        if not isinstance(exp, int | float) or exp <= server_now:
            raise unauthorized()
        username = payload.get("preferred_username")
        if username not in self.users:
            raise unauthorized()
        return username
