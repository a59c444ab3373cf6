"""Fixtures for tests that need an ArangoDB server.

* `arango_server` (session): an `ArangoTarget` for the in-process test server
  (tests/arango_server) on a free 127.0.0.1 port, or for a real ArangoDB when
  SNAPSTORE_TEST_ARANGO_URL is set (with SNAPSTORE_TEST_ARANGO_USER, default
  "root", and SNAPSTORE_TEST_ARANGO_PASSWORD, default "").  Against a real
  server every fault-injection or settings call skips the test.
* `arango_db` (function): a freshly created, uniquely named database, dropped
  afterwards, as an `ArangoDatabase(url, db_name, user, password)`.

After each test that used `arango_server`, the test server is put back in
order: faults healed, server running, settings back to their defaults.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from arango import ArangoClient
from arango.database import StandardDatabase
from arango.http import DefaultHTTPClient

from tests.arango_server import Settings, TestArangoServer

ENV_URL = "SNAPSTORE_TEST_ARANGO_URL"
ENV_USER = "SNAPSTORE_TEST_ARANGO_USER"
ENV_PASSWORD = "SNAPSTORE_TEST_ARANGO_PASSWORD"
TEST_PASSWORD = "test-password"


@dataclass
class ArangoTarget:
    """Where the ArangoDB under test is, plus test-server controls.

    The control methods act on the in-process test server; against a real
    ArangoDB (SNAPSTORE_TEST_ARANGO_URL) they call `pytest.skip`.
    """

    url: str
    username: str
    password: str
    server: TestArangoServer | None = field(default=None, repr=False)

    @property
    def is_test_server(self) -> bool:
        return self.server is not None

    def client(self, *, fast_fail: bool = False, timeout: float = 60.0) -> ArangoClient:
        """A python-arango client; `fast_fail` turns off its retries and back-off
        (use it in fault tests, where retries only add seconds)."""
        if not fast_fail:
            return ArangoClient(hosts=self.url, request_timeout=timeout)
        http = DefaultHTTPClient(request_timeout=timeout, retry_attempts=0)
        return ArangoClient(hosts=self.url, http_client=http, resolver_max_tries=1)

    def sys_db(self, **kwargs: object) -> StandardDatabase:
        return self.client().db("_system", self.username, self.password, **kwargs)

    # -- test-server controls ---------------------------------------------------

    def require_test_server(self, what: str = "this test") -> TestArangoServer:
        if self.server is None:
            pytest.skip(f"{what} needs the in-process test server, not a real ArangoDB ({ENV_URL})")
        return self.server

    @property
    def settings(self) -> Settings:
        """Live settings of the test server (idle timeouts, TTLs, JWT lifetime)."""
        return self.require_test_server("changing server settings").settings

    def set_stream_trx_idle_timeout(self, seconds: float) -> None:
        self.settings.stream_trx_idle_timeout = seconds

    def advance_clock(self, seconds: float) -> None:
        """Move the server clock forward: expires cursors, idle transactions, JWTs."""
        self.require_test_server("advancing the server clock").app.advance_clock(seconds)

    def revoke_tokens(self) -> None:
        """Invalidate every JWT issued so far (the next request gets 401/11)."""
        self.require_test_server("revoking JWTs").app.auth.rotate_secret()

    def fail_after(
        self,
        requests: int,
        mode: str = "drop",
        path_pattern: str | None = None,
        method: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer `requests` more matching requests, then drop (hang, or carry out
        and lose the answer of) every request until `heal()`, or only `times` of
        them; see TestArangoServer.fail_after."""
        server = self.require_test_server("fault injection")
        server.fail_after(requests, mode, path_pattern, method, times)  # type: ignore[arg-type]

    def heal(self) -> None:
        self.require_test_server("fault injection").heal()

    def kill(self) -> None:
        """Stop listening and cut all connections (clients get connection errors)."""
        self.require_test_server("killing the server").stop()

    def start(self) -> None:
        """Listen again on the same port after kill(); data is kept."""
        self.require_test_server("restarting the server").start()

    def restart(self) -> None:
        """kill() + start(); cursors and stream transactions are forgotten."""
        self.require_test_server("restarting the server").restart()

    def reset(self) -> None:
        """Heal faults, make sure the server runs, restore default settings."""
        if self.server is None:
            return
        self.server.heal()
        self.server.start()
        self.server.app.settings = Settings()


@dataclass(frozen=True)
class ArangoDatabase:
    """A scratch database on the target server."""

    url: str
    db_name: str
    user: str
    password: str

    def db(self, client: ArangoClient | None = None, **kwargs: object) -> StandardDatabase:
        client = client or ArangoClient(hosts=self.url)
        return client.db(self.db_name, self.user, self.password, **kwargs)


@pytest.fixture(scope="session")
def arango_server() -> Iterator[ArangoTarget]:
    url = os.environ.get(ENV_URL)
    if url:
        yield ArangoTarget(
            url=url.rstrip("/"),
            username=os.environ.get(ENV_USER, "root"),
            password=os.environ.get(ENV_PASSWORD, ""),
        )
        return
    server = TestArangoServer(host="127.0.0.1", port=0, username="root", password=TEST_PASSWORD)
    server.start()
    try:
        yield ArangoTarget(server.url, "root", TEST_PASSWORD, server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _reset_arango_test_server(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "arango_server" in request.fixturenames:
        request.getfixturevalue("arango_server").reset()


@pytest.fixture
def arango_db(arango_server: ArangoTarget) -> Iterator[ArangoDatabase]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    arango_server.sys_db().create_database(name)
    yield ArangoDatabase(arango_server.url, name, arango_server.username, arango_server.password)
    arango_server.reset()  # a test may have killed the server or left faults armed
    arango_server.sys_db().delete_database(name, ignore_missing=True)
