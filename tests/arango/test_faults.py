"""Connection settings and faults: unreachable server, wrong password, missing database, the
server going away during a dump or a restore, the stream transaction expiring, writes during a
dump, password files, JWT and Unix-socket endpoints.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from snapstore.base.errors import DatabaseError
from snapstore.cli.main import cli
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import (
    RecordingReporter,
    SnapWorkspace,
    db_state,
    documents,
    make_workspace,
)


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _two_collections(sw: SnapWorkspace, n: int = 3000) -> None:
    db = sw.db()
    for name in ("a", "b"):
        db.create_collection(name).insert_many([{"_key": f"{i:05d}", "v": i} for i in range(n)])


# -- connection problems: one clear line, nothing written ----------------------------------------


def test_unreachable_server_writes_nothing(sw: SnapWorkspace) -> None:
    manager = sw.manager(url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(DatabaseError, match=r"cannot reach ArangoDB at http://127\.0\.0\.1:\d+"):
        manager.create("x", include_bulk=False)
    assert not sw.repo.exists()


def test_wrong_password_writes_nothing(sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPSTORE_ARANGO_PASSWORD", "wrong-password")
    with pytest.raises(DatabaseError, match="refused user 'root'") as e:
        sw.manager().create("x", include_bulk=False)
    assert "wrong-password" not in str(e.value)
    assert not sw.repo.exists()


def test_missing_database_writes_nothing(sw: SnapWorkspace) -> None:
    with pytest.raises(DatabaseError, match="database 'no_such_db' does not exist"):
        sw.manager(database="no_such_db").create("x", include_bulk=False)
    assert not sw.repo.exists()


def test_bulk_and_database_snapshot_fails_before_reading_files(
    sw: SnapWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With bulk storage too, a bad database stops the create before any chunk is written."""
    bulk = tmp_path / "bulk"
    bulk.mkdir()
    (bulk / "f").write_bytes(os.urandom(100_000))
    monkeypatch.setenv("SNAPSTORE_ARANGO_PASSWORD", "nope")
    manager = sw.manager()
    with pytest.raises(DatabaseError, match="refused"):
        manager.create("x", bulk_roots=[str(bulk)])
    assert not sw.repo.exists()


def test_password_from_a_file(sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = sw.root / "pw"
    secret.write_text(sw.target.password + "\n")
    monkeypatch.delenv("SNAPSTORE_ARANGO_PASSWORD")
    monkeypatch.setenv("SNAPSTORE_ARANGO_PASSWORD_FILE", str(secret))
    sw.db().create_collection("c").insert({"_key": "1"})
    assert sw.manager().create("x", include_bulk=False).snapshot.collections == {"c": 1}
    monkeypatch.delenv("SNAPSTORE_ARANGO_PASSWORD_FILE")
    assert sw.manager(password_file=str(secret)).create("y", include_bulk=False)


def test_jwt_authentication(sw: SnapWorkspace) -> None:
    sw.db().create_collection("c").insert({"_key": "1"})
    name = sw.manager(auth="jwt").create("jwt", include_bulk=False).snapshot.snapshot_name
    sw.db().collection("c").insert({"_key": "2"})
    sw.manager(auth="jwt").restore_snapshot(name, confirm=True, restore_bulk=False)
    assert list(documents(sw.db(), "c")) == ["1"]


class _UnixForwarder:
    """A Unix-socket endpoint that relays bytes to the TCP server (the test server has no
    Unix-socket listener of its own)."""

    def __init__(self, path: str, host: str, port: int) -> None:
        self.path, self.host, self.port = path, host, port
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection((self.host, self.port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        self.sock.close()


@pytest.fixture
def unix_socket(arango_server: ArangoTarget, tmp_path: Path) -> Iterator[str]:
    parts = urlsplit(arango_server.url)
    if parts.scheme != "http":
        pytest.skip("the Unix-socket relay forwards to a plain http:// server")
    path = str(tmp_path / "arango.sock")
    fwd = _UnixForwarder(path, parts.hostname or "127.0.0.1", parts.port or 8529)
    yield path
    fwd.close()


@pytest.mark.parametrize("form", ["unix", "http+unix"])
def test_unix_socket_endpoint(sw: SnapWorkspace, unix_socket: str, form: str) -> None:
    from urllib.parse import quote

    url = (
        f"unix://{unix_socket}" if form == "unix" else f"http+unix://{quote(unix_socket, safe='')}"
    )
    db = sw.db()
    db.create_collection("c").insert_many([{"_key": str(i)} for i in range(2500)])
    before = db_state(db)
    name = sw.manager(url=url).create("socket", include_bulk=False).snapshot.snapshot_name
    db.delete_collection("c")
    sw.manager(url=url).restore_snapshot(name, confirm=True, restore_bulk=False)
    assert db_state(db) == before


def test_missing_unix_socket_is_one_line(sw: SnapWorkspace, tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="cannot reach ArangoDB at unix://"):
        sw.manager(url=f"unix://{tmp_path}/nothing.sock").create("x", include_bulk=False)


def test_bad_url_scheme(sw: SnapWorkspace) -> None:
    with pytest.raises(DatabaseError, match="use http://, https://"):
        sw.manager(url="ftp://example.org").create("x", include_bulk=False)


# -- faults during a dump ------------------------------------------------------------------------


def test_server_gone_during_dump_publishes_nothing(
    sw: SnapWorkspace, arango_server: ArangoTarget
) -> None:
    _two_collections(sw)
    # Answer a few cursor fetches, then drop every request.
    arango_server.fail_after(3, path_pattern=r"/_api/cursor/\d+")
    manager = sw.manager()
    with pytest.raises(
        DatabaseError,
        match=r"while reading collection [ab]: lost the connection.*no snapshot was published",
    ):
        manager.create("doomed", include_bulk=False)
    arango_server.heal()
    assert manager.list_snapshots() == []
    assert manager.check().ok


def test_server_killed_between_collections(sw: SnapWorkspace, arango_server: ArangoTarget) -> None:
    _two_collections(sw, 500)
    arango_server.require_test_server()

    def kill_at_b(label: str) -> None:
        if label == "Dumping b":
            arango_server.kill()

    manager = sw.manager(reporter=RecordingReporter(kill_at_b))
    with pytest.raises(DatabaseError, match=r"lost the connection.*no snapshot was published"):
        manager.create("doomed", include_bulk=False)
    arango_server.start()
    assert manager.list_snapshots() == []


def test_writes_during_the_dump_are_not_in_the_snapshot(
    sw: SnapWorkspace, arango_server: ArangoTarget
) -> None:
    """All collections come from the moment the transaction began."""
    _two_collections(sw, 200)
    other = sw.db()  # another client, outside the dump's transaction

    def write(label: str) -> None:
        if label == "Dumping a":  # b is not read yet
            other.collection("b").insert({"_key": "late", "v": -1})
            other.collection("a").delete("00000")

    info = sw.manager(reporter=RecordingReporter(write)).create("c", include_bulk=False).snapshot
    assert info.collections == {"a": 200, "b": 200}
    assert info.database["consistency"]["mode"] == "transaction"
    later = sw.create("later")
    assert sw.manager().get_snapshot(later).collections == {"a": 199, "b": 201}


def test_expired_transaction_falls_back_to_per_collection(
    sw: SnapWorkspace, arango_server: ArangoTarget
) -> None:
    _two_collections(sw, 300)
    arango_server.require_test_server()

    fired: list[str] = []

    def expire(label: str) -> None:
        if label == "Dumping b" and not fired:  # once: the retry gets a fresh transaction
            fired.append(label)
            arango_server.advance_clock(3600)  # past the stream transaction's idle timeout

    reporter = RecordingReporter(expire)
    info = sw.manager(reporter=reporter).create("slow", include_bulk=False).snapshot
    consistency = info.database["consistency"]
    assert consistency["mode"] == "per-collection"
    assert "expired" in consistency["reason"] and "b" in consistency["reason"]
    assert info.collections == {"a": 300, "b": 300}
    assert any("consistent per collection only" in w for w in reporter.warnings)
    shown = CliRunner().invoke(
        cli,
        ["--repo", str(sw.repo), "show", info.snapshot_name],
        env={"SNAPSTORE_CACHE_DIR": str(sw.root / "cache")},
    )
    assert "Consistency: per-collection only (the stream transaction expired" in shown.stdout


def test_ddl_during_the_dump_is_reported(sw: SnapWorkspace) -> None:
    _two_collections(sw, 100)
    other = sw.db()

    def ddl(label: str) -> None:
        if label == "Dumping a":
            other.create_collection("newcomer")
            # a's definition was read just before its documents: this index is not in it.
            other.collection("a").add_index({"type": "persistent", "fields": ["v"], "name": "late"})

    info = sw.manager(reporter=RecordingReporter(ddl)).create("ddl", include_bulk=False).snapshot
    warnings = info.database["warnings"]
    assert any("newcomer" in w for w in warnings)
    assert any("indexes of collection a changed" in w for w in warnings)
    assert "newcomer" not in info.collections


# -- faults during a restore ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["reload", "merge"])
def test_server_gone_during_restore_names_progress_and_safety_snapshot(
    sw: SnapWorkspace, arango_server: ArangoTarget, path: str
) -> None:
    """``reload``: b's definition changed, so b is dropped and loaded again; ``merge``: only a
    document of b changed, so only the difference is written into it (spec/database.md,
    *Restore by difference*). Either way the stop is reported and rolled back alike."""
    _two_collections(sw, 300)
    name = sw.create("good")
    db = sw.db()
    db.collection("a").delete("00001")
    db.create_collection("junk")
    if path == "reload":
        db.collection("b").add_index({"type": "persistent", "fields": ["v"], "name": "extra"})
    else:
        db.collection("b").update({"_key": "00007", "v": -7})
    messed = db_state(db)
    # Collection a is restored; the server goes away when b's documents are sent.
    arango_server.fail_after(0, path_pattern=r"/_api/document/b\?", method="POST")
    manager = sw.manager()
    with pytest.raises(DatabaseError) as e:
        manager.restore_snapshot(name, confirm=True, restore_bulk=False)
    message = str(e.value)
    assert "failed: lost the connection" in message
    step = "loading documents into" if path == "reload" else "writing the differences into"
    assert f"while {step} collection b" in message
    assert "fully loaded: a" in message and "partly loaded: b" in message
    # The server stays away, so the rollback fails too; the message says so and gives the
    # command that finishes it, never claiming the database is back.
    safety = next(s for s in manager.list_snapshots() if s.kind == "safety")
    assert "the rollback failed" in message and "the database is incomplete" in message
    finish = f"snapstore restore {safety.snapshot_name} --no-bulk --yes --no-safety-snapshot"
    assert f"to finish the rollback run: {finish}" in message
    assert "rolled back to its state" not in message
    arango_server.heal()
    # Going back works: the safety snapshot restores the state before the failed restore.
    manager.restore_snapshot(
        safety.snapshot_name, confirm=True, restore_bulk=False, safety_snapshot=False
    )
    assert db_state(db) == messed
    # And the original restore can simply be run again.
    manager.restore_snapshot(name, confirm=True, restore_bulk=False, safety_snapshot=False)
    assert sorted(documents(db, "a")) == [f"{i:05d}" for i in range(300)]


def test_collection_dropped_during_the_dump(sw: SnapWorkspace) -> None:
    _two_collections(sw, 100)
    other = sw.db()

    def drop(label: str) -> None:
        if label == "Dumping a":
            other.delete_collection("b")

    info = sw.manager(reporter=RecordingReporter(drop)).create("d", include_bulk=False).snapshot
    assert info.collections == {"a": 100}
    assert any("collection b was dropped during the dump" in w for w in info.database["warnings"])
