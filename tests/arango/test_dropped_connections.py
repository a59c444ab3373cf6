"""Dropped connections during a database restore (spec/database.md, "Dropped connections").

The real CLI restores while the test server drops connections (or carries a request out and
loses its answer): a few of them in a row cost only retries, and the database ends equal to
the snapshot, with nothing loaded twice and no urllib3 log lines on stderr; the rollback of
a restore that does fail survives them too; a server gone for good still fails the restore
with the message that says so (tests/arango/test_faults.py).
"""

from __future__ import annotations

import socket

import pytest

from snapstore.config.settings import ArangoSettings
from snapstore.sources.arangodb.connection import RETRY_DELAYS, Connection, is_network_error
from tests.arango.conftest import ArangoTarget
from tests.arango.dbstate import db_state
from tests.arango.test_restore_rollback import LOAD, Scene, scene  # noqa: F401 (fixture)

BETA = r"/_api/document/beta\?"  # one batch: the collections hold 300 documents each


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "urllib3" not in stderr and "Retrying" not in stderr, stderr
    assert "WARNING" not in stderr, stderr


def test_five_dropped_connections_during_a_restore_cost_only_retries(scene: Scene) -> None:  # noqa: F811
    assert scene.server.server is not None
    scene.server.server.fail_after(1, "drop", path_pattern=LOAD, method="POST", times=5)
    r = scene.run("restore", scene.snapshot, "--yes", "--no-bulk")
    assert r.returncode == 0, r.stderr
    _clean(r.stderr)
    assert "rolled back" not in r.stderr
    assert db_state(scene.db.db()) == scene.first


def test_five_lost_answers_during_a_restore_load_nothing_twice(scene: Scene) -> None:  # noqa: F811
    assert scene.server.server is not None
    # Each of these loads is carried out and its answer lost: sent again, by key.
    scene.server.server.fail_after(1, "lose", path_pattern=LOAD, method="POST", times=5)
    r = scene.run("restore", scene.snapshot, "--yes", "--no-bulk")
    assert r.returncode == 0, r.stderr
    _clean(r.stderr)
    assert db_state(scene.db.db()) == scene.first


def test_a_lost_answer_to_creating_a_collection_is_taken_as_done(scene: Scene) -> None:  # noqa: F811
    assert scene.server.server is not None
    # The collection is made, its answer lost; sent again, "exists already" means done.
    scene.server.server.fail_after(
        0, "lose", path_pattern=r"/_api/collection(\?|$)", method="POST", times=1
    )
    r = scene.run("restore", scene.snapshot, "--yes", "--no-bulk")
    assert r.returncode == 0, r.stderr
    _clean(r.stderr)
    assert db_state(scene.db.db()) == scene.first


def test_the_rollback_survives_dropped_connections_too(scene: Scene) -> None:  # noqa: F811
    assert scene.server.server is not None
    # Every attempt of the restore's load of beta is dropped (the restore fails there),
    # then five of the rollback's: it goes on and puts the database back.
    attempts = len(RETRY_DELAYS) + 1
    scene.server.server.fail_after(0, "drop", path_pattern=BETA, method="POST", times=attempts + 5)
    r = scene.run("restore", scene.snapshot, "--yes", "--no-bulk")
    assert r.returncode == 1, r.stderr
    assert "failed: lost the connection" in r.stderr, r.stderr
    assert "rolled back to its state before the restore" in r.stderr, r.stderr
    _clean(r.stderr)
    assert db_state(scene.db.db()) == scene.before


def test_a_refused_connection_is_retried_even_for_a_request_that_is_not_idempotent() -> None:
    """A refused connection never reached the server: sending again cannot do anything
    twice, so even a cursor read without batch id is tried once per retry delay."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    conn = Connection(ArangoSettings(url=f"http://127.0.0.1:{port}", database="x"))
    try:
        with pytest.raises(Exception) as e:
            conn.call("post", "/_api/cursor/1", what="reading on")
        assert is_network_error(e.value)
        assert conn.timings.requests == len(RETRY_DELAYS) + 1
    finally:
        conn.close()


def test_a_server_that_does_not_answer_in_time_gets_one_more_try(
    arango_server: ArangoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each try waits the whole timeout: a hanging server is given a second chance, not
    six (spec/database.md, "Dropped connections")."""
    arango_server.fail_after(0, "hang", path_pattern=r"/_api/version")
    monkeypatch.setenv("SNAPSTORE_ARANGO_PASSWORD", arango_server.password)
    settings = ArangoSettings(
        url=arango_server.url, database="_system", user=arango_server.username, timeout=0.5
    )
    conn = Connection(settings)
    try:
        with pytest.raises(Exception) as e:
            conn.call("get", "/_api/version", what="reading the server version")
        assert is_network_error(e.value)
        assert conn.timings.requests == 2
    finally:
        conn.close()
        arango_server.heal()
