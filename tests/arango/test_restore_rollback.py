"""An interrupted or failed database restore ends with the database as it was before.

The real CLI restores a database from a snapshot while the test server answers document
writes slowly (latency injected), and gets Ctrl-C (SIGINT) half-way through loading. It must
roll back from the safety snapshot it took and say so; a second Ctrl-C during the rollback
stops it and prints the command that finishes it; without a safety snapshot it names the
incomplete collections and the command that finishes the restore. A restore the server
refuses half-way is rolled back the same way. alpha, beta and gamma keep their definition, so
both the restore and its rollback write only their difference (spec/database.md, *Restore by
difference*): their indexes survive both.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from arango.exceptions import DocumentGetError

from snapstore.sources.arangodb.connection import RETRY_DELAYS
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import db_state
from tests.helpers import REPO_ROOT, created_name

LOAD = r"/_api/document/"  # where restore sends documents (POST, isRestore=true)


@dataclass
class Scene:
    db: ArangoDatabase
    server: ArangoTarget
    env: dict[str, str]
    snapshot: str  # taken of the first state
    first: dict  # the database when the snapshot was taken
    before: dict  # the database when the restore begins

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tools.backup.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO_ROOT,
            timeout=120,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tools.backup.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=REPO_ROOT,
        )


@pytest.fixture
def scene(arango_db: ArangoDatabase, arango_server: ArangoTarget, tmp_path: Path) -> Scene:
    arango_server.require_test_server("latency injection")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "SNAPSTORE_REPO": str(tmp_path / "repo"),
        "SNAPSTORE_CACHE_DIR": str(tmp_path / "cache"),
        "SNAPSTORE_PROJECT_DIR": str(tmp_path),
        "SNAPSTORE_ARANGO_URL": arango_db.url,
        "SNAPSTORE_ARANGO_DB": arango_db.db_name,
        "SNAPSTORE_ARANGO_USER": arango_db.user,
        "SNAPSTORE_ARANGO_PASSWORD": arango_db.password,
    }
    db = arango_db.db()
    for name in ("alpha", "beta", "gamma", "delta"):
        db.create_collection(name).insert_many(
            [{"_key": f"k{i:04}", "n": i, "c": name} for i in range(300)]
        )
    db.collection("alpha").add_index({"type": "persistent", "fields": ["n"], "name": "by_n"})
    s = Scene(arango_db, arango_server, env, "", db_state(db), {})
    created = s.run("create", "first state", "--no-bulk")
    assert created.returncode == 0, created.stderr
    s.snapshot = created_name(created.stdout)
    # The state the restore replaces: edits, a deletion, a new collection, a dropped one.
    db.collection("alpha").update({"_key": "k0001", "n": -1})
    db.collection("beta").delete("k0002")
    db.collection("beta").update({"_key": "k0004", "n": -1})
    db.create_collection("epsilon").insert({"_key": "e", "new": True})
    db.delete_collection("delta")
    s.before = db_state(db)
    return s


def _wait_for(proc: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"exited before {needle!r}: {''.join(seen)}")
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"no {needle!r} in: {''.join(seen)}")


def _wait_alpha(scene: Scene, n: int) -> None:
    """Until document alpha/k0001 has ``n`` again: the restore (n=1) or the rollback (n=-1)
    has loaded collection alpha and still has the other collections to load."""
    _wait_doc(scene, "alpha", "k0001", n)


def _wait_doc(scene: Scene, collection: str, key: str, n: int) -> None:
    """Until document ``collection/key`` has ``n`` (polled: it is written by another process)."""
    deadline = time.monotonic() + 60
    db = scene.db.db()
    while time.monotonic() < deadline:
        try:
            doc = db.collection(collection).get(key)
        except DocumentGetError:  # dropped and re-created while we look
            doc = None
        if doc is not None and doc["n"] == n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{collection}/{key} never had n={n}")


def _finish(proc: subprocess.Popen[str], seen: list[str]) -> str:
    _, rest = proc.communicate(timeout=120)
    return "".join(seen) + rest


@pytest.fixture
def slow_loads(scene: Scene) -> Iterator[None]:
    assert scene.server.server is not None
    scene.server.server.set_latency(0.5, path_pattern=LOAD, method="POST")
    yield
    scene.server.server.set_latency(0)


def test_ctrl_c_while_loading_rolls_the_database_back(scene: Scene, slow_loads: None) -> None:
    proc = scene.start("restore", scene.snapshot, "--yes")
    seen: list[str] = []
    _wait_for(proc, "Safety snapshot taken", seen)
    _wait_alpha(scene, 1)  # tear-down done, alpha loaded, the others still to come
    proc.send_signal(signal.SIGINT)
    err = _finish(proc, seen)
    assert proc.returncode == 130, err
    assert "was interrupted" in err and "rolled back to its state before the restore" in err
    assert "Traceback" not in err and "nothing half-done" not in err
    assert db_state(scene.db.db()) == scene.before


def test_second_ctrl_c_stops_the_rollback_and_says_how_to_finish(
    scene: Scene, slow_loads: None
) -> None:
    proc = scene.start("restore", scene.snapshot, "--yes")
    seen: list[str] = []
    _wait_for(proc, "Safety snapshot taken", seen)
    # Interrupted once beta is restored too: the rollback then has alpha and beta to put
    # back (each a slow write), so it is still at work when alpha is back. Were it interrupted
    # after alpha alone, a rollback by difference would have nothing left to do.
    _wait_doc(scene, "beta", "k0004", 4)
    proc.send_signal(signal.SIGINT)
    _wait_for(proc, "Rolling the database back", seen)
    _wait_alpha(scene, -1)  # the rollback put alpha back, beta still to come
    proc.send_signal(signal.SIGINT)
    err = _finish(proc, seen)
    assert proc.returncode == 130, err
    assert "the rollback was interrupted" in err
    command = err.split("to finish the rollback run: snapstore ", 1)[1].split()
    assert command[:2] == ["restore", seen[0].split("Safety snapshot taken: ")[1].strip()]
    assert db_state(scene.db.db()) != scene.before  # really half-way: the message was due
    assert scene.server.server is not None
    scene.server.server.set_latency(0)
    finished = scene.run(*command)
    assert finished.returncode == 0, finished.stderr
    assert db_state(scene.db.db()) == scene.before


def test_without_safety_snapshot_the_incomplete_collections_are_named(
    scene: Scene, slow_loads: None
) -> None:
    proc = scene.start("restore", scene.snapshot, "--yes", "--no-safety-snapshot")
    seen: list[str] = []
    _wait_alpha(scene, 1)
    proc.send_signal(signal.SIGINT)
    err = _finish(proc, seen)
    assert proc.returncode == 130, err
    assert "no safety snapshot was taken, so it cannot be rolled back" in err
    incomplete = err.split("incomplete collections: ", 1)[1].split(";", 1)[0].split(", ")
    assert incomplete and set(incomplete) <= {"alpha", "beta", "gamma", "delta"}
    command = err.split("to finish the restore run: snapstore ", 1)[1].split()
    assert scene.server.server is not None
    scene.server.server.set_latency(0)
    finished = scene.run(*command)
    assert finished.returncode == 0, finished.stderr
    assert db_state(scene.db.db()) == scene.first


def test_a_restore_the_server_refuses_half_way_is_rolled_back(scene: Scene) -> None:
    assert scene.server.server is not None
    # Every attempt to send beta's documents (one batch) is dropped: the restore fails there.
    attempts = len(RETRY_DELAYS) + 1
    scene.server.server.fail_after(
        0, "drop", path_pattern=r"/_api/document/beta\?", method="POST", times=attempts
    )
    r = scene.run("restore", scene.snapshot, "--yes")
    assert r.returncode == 1, r.stderr
    assert "failed" in r.stderr and "rolled back to its state before the restore" in r.stderr
    assert db_state(scene.db.db()) == scene.before


def _index_ids(scene: Scene, name: str) -> list[str]:
    return sorted(i["id"] for i in scene.db.db().collection(name).indexes())


def test_ctrl_c_while_merging_rolls_back_by_difference_and_keeps_the_indexes(
    scene: Scene, slow_loads: None
) -> None:
    ids = _index_ids(scene, "alpha")
    proc = scene.start("restore", scene.snapshot, "--yes")
    seen: list[str] = []
    _wait_for(proc, "Safety snapshot taken", seen)
    _wait_alpha(scene, 1)  # alpha's difference written, beta's still to come
    proc.send_signal(signal.SIGINT)
    err = _finish(proc, seen)
    assert proc.returncode == 130, err
    assert "rolled back to its state before the restore" in err
    assert db_state(scene.db.db()) == scene.before
    assert _index_ids(scene, "alpha") == ids  # neither the restore nor the rollback rebuilt it
    finished = scene.run("restore", scene.snapshot, "--yes", "--json")
    assert finished.returncode == 0, finished.stderr
    assert db_state(scene.db.db()) == scene.first
    assert _index_ids(scene, "alpha") == ids
    report = json.loads(finished.stdout)["database"]
    assert report["merged"]["alpha"] == {"removed": 0, "inserted": 0, "replaced": 1}
