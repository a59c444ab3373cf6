"""Incremental database snapshots against the server under test (spec/database.md,
*Incremental dump*): a snapshot reads only the documents whose ``_rev`` is new, its trees are
the very trees (same root chunk ids) a full read (``create --reread``) gives, every snapshot
restores to the database it was taken of, and every doubt about the parent reads the
collection in full and says so with ``-v``.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from snapstore.sources.arangodb.doctree import iter_leaves
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import SnapWorkspace, db_state, make_workspace
from tests.helpers import flip_byte

LOG = "snapstore.sources.arangodb.dump"


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def roots(section: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        name: (c["root"], c["height"], c["count"], c["bytes"], c["checksum"])
        for name, c in section["collections"].items()
    }


def fill(sw: SnapWorkspace, n: int = 600) -> Any:
    db = sw.db()
    docs = db.create_collection("docs")
    rng = random.Random(7)
    docs.insert_many(
        [{"_key": f"d{i:05d}", "text": "x" * rng.randrange(10, 900), "n": i} for i in range(n)]
    )
    db.create_collection("empty")
    db.create_collection("one").insert({"_key": "only", "v": 1})
    return db


def test_incremental_snapshot_reads_only_changes_and_equals_a_full_read(
    sw: SnapWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    db = fill(sw)
    caplog.set_level(logging.INFO, logger=LOG)
    manager = sw.manager()
    first = manager.create("first", include_bulk=False).snapshot
    assert "collection docs: full read: no earlier snapshot of this database" in caplog.text
    docs = db.collection("docs")
    docs.update_many([{"_key": f"d{i:05d}", "n": -i} for i in range(0, 600, 97)])
    docs.insert_many([{"_key": "a-first", "v": 1}, {"_key": "z-last", "v": 2}])
    docs.delete_many([{"_key": "d00300"}, {"_key": "d00599"}])
    db.collection("one").delete("only")  # a collection emptied
    db.collection("empty").insert({"_key": "new"})  # an empty one filled
    expected = db_state(db)
    caplog.clear()
    second = manager.create("second", include_bulk=False).snapshot
    stats = second.database["dump_stats"]["incremental"]
    assert stats["fetched"] == 7 + 2  # 7 updated + 2 inserted in docs; "empty" is read in full
    assert "collection docs: incremental" in caplog.text
    assert "collection empty: full read: empty in the earlier snapshot" in caplog.text
    caplog.clear()
    third = manager.create("third", include_bulk=False, reread=True).snapshot
    assert "collection docs: full read: --reread" in caplog.text
    assert third.database["dump_stats"]["incremental"]["collections"] == 0
    assert roots(second.database) == roots(third.database)
    assert roots(first.database) != roots(second.database)
    # An unchanged database: nothing fetched, the same trees again.
    fourth = manager.create("fourth", include_bulk=False).snapshot
    assert fourth.database["dump_stats"]["incremental"]["fetched"] == 0
    assert roots(fourth.database) == roots(third.database)
    # diff, documents and export read an incremental snapshot as any other.
    diff = manager.diff(first.snapshot_name, second.snapshot_name)
    assert diff is not None
    lines, count = manager.documents(second.snapshot_name, "docs", 0, 1000)
    assert count == 600 and b'"_key":"a-first"' in lines[0]
    manager.export(second.snapshot_name, str(sw.root / "export"))
    assert (sw.root / "export").is_dir()
    # Its trees share chunks with the parent, yet it needs nothing of it: delete the parent
    # and every snapshot that could hold its chunks, gc, check, restore.
    for snap in (first, third, fourth):
        manager.delete_snapshot(snap.snapshot_name)
    manager.gc(max_unused=0.0)
    assert manager.check(read_data=True).ok
    db.collection("docs").truncate()
    sw.restore(second.snapshot_name, safety_snapshot=False)
    assert db_state(db) == expected


def test_a_recreated_collection_is_read_in_full(
    sw: SnapWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    db = fill(sw, 50)
    manager = sw.manager()
    manager.create("first", include_bulk=False)
    db.delete_collection("docs")
    db.create_collection("docs").insert_many([{"_key": f"d{i:05d}"} for i in range(50)])
    caplog.set_level(logging.INFO, logger=LOG)
    second = manager.create("second", include_bulk=False).snapshot
    assert "collection docs: full read: created again since the earlier snapshot" in caplog.text
    assert second.database["collections"]["docs"]["count"] == 50


def test_a_new_collection_and_a_recreated_database_are_read_in_full(
    arango_server: ArangoTarget, sw: SnapWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    """-v names why: a collection the parent lacks, then a database dropped and created
    again under the same name (its id differs: nothing of the parent can serve)."""
    db = fill(sw, 30)
    manager = sw.manager()
    manager.create("first", include_bulk=False)
    db.create_collection("later").insert({"_key": "x"})
    caplog.set_level(logging.INFO, logger=LOG)
    manager.create("second", include_bulk=False)
    assert "collection later: full read: not in the earlier snapshot" in caplog.text
    assert "collection docs: incremental" in caplog.text
    sys_db = arango_server.sys_db()
    sys_db.delete_database(sw.target.db_name)
    sys_db.create_database(sw.target.db_name)
    fill(sw, 30)
    caplog.clear()
    third = manager.create("third", include_bulk=False).snapshot
    assert (
        "collection docs: full read: the database was created again since the earlier "
        "snapshot (its id differs)" in caplog.text
    )
    assert third.database["dump_stats"]["incremental"]["collections"] == 0


def test_a_damaged_parent_leaf_reads_the_collection_in_full(
    sw: SnapWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    db = fill(sw)
    manager = sw.manager()
    first = manager.create("first", include_bulk=False).snapshot
    entry = first.database["collections"]["docs"]
    # Damage the stored leaf holding d00123 and change that document: the merge must read it.
    with manager.repository.open() as opened:
        store = opened.store
        victim = next(
            cid
            for cid in iter_leaves(store, entry["root"], entry["height"], "docs")
            if b'"d00123"' in store.read(cid)
        )
        loc = store.locate(victim)
        assert loc is not None
    # Early bytes are literals of the compressed block (later ones may be match offsets into
    # a run of "x", which can decompress to the same bytes).
    flip_byte(sw.repo / "packs" / loc.pack[:2] / loc.pack, loc.offset + 8)
    db.collection("docs").update({"_key": "d00123", "n": "changed"})
    expected = db_state(db)
    caplog.set_level(logging.INFO, logger=LOG)
    second = manager.create("second", include_bulk=False, reread=False).snapshot
    assert "collection docs: full read: the earlier snapshot cannot serve it" in caplog.text
    assert "collection one: incremental" in caplog.text
    third = manager.create("third", include_bulk=False, reread=True).snapshot
    assert roots(second.database) == roots(third.database)
    db.collection("docs").truncate()
    sw.restore(second.snapshot_name, safety_snapshot=False)
    assert db_state(db) == expected


def test_the_cli_says_full_read_with_v(sw: SnapWorkspace) -> None:
    fill(sw, 20)
    env = {
        **os.environ,
        "SNAPSTORE_REPO": str(sw.repo),
        "SNAPSTORE_ARANGO_URL": sw.target.url,
        "SNAPSTORE_ARANGO_DB": sw.target.db_name,
        "SNAPSTORE_ARANGO_USER": sw.target.user,
        "SNAPSTORE_ARANGO_PASSWORD": sw.target.password,
        "SNAPSTORE_PROJECT_DIR": str(sw.root),
    }

    def create(*args: str) -> str:
        got = subprocess.run(
            [sys.executable, "-m", "snapstore", "-v", "create", "--no-bulk", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert got.returncode == 0, got.stderr
        return got.stderr

    assert "collection docs: full read: no earlier snapshot" in create("one")
    assert "collection docs: incremental" in create("two")
    assert "collection docs: full read: --reread" in create("--reread", "three")


# -- the state machine ---------------------------------------------------------------------

NAMES = ["ca", "cb", "ec"]
KEYS = [f"k{i:03d}" for i in range(0, 400, 3)] + ["A", "zz", "_u", "k050x"]


class Snapshots(RuleBasedStateMachine):
    """Random writes, removals, truncations, drops, re-creations, index and view changes
    between incremental and ``--reread`` snapshots: each incremental tree equals the full
    read's, every snapshot restores to the database it was taken of, and a collection
    restored by difference keeps its index ids."""

    sw: SnapWorkspace

    @initialize()
    def start(self) -> None:
        self.db = self.sw.db()
        for v in self.db.views():
            self.db.delete_view(v["name"])
        for name in list(NAMES):
            if self.db.has_collection(name):
                self.db.delete_collection(name)
        self.snaps: list[tuple[str, dict[str, Any]]] = []
        self.rng = random.Random(0)
        self.manager = self.sw.manager()
        self.last_full: dict[str, tuple[Any, ...]] | None = None

    def _coll(self, name: str) -> Any:
        if not self.db.has_collection(name):
            self.db.create_collection(name, edge=name.startswith("e"))
        return self.db.collection(name)

    def _body(self, name: str, size: int) -> dict[str, Any]:
        body: dict[str, Any] = {"text": "y" * size}
        if name.startswith("e"):
            body |= {"_from": "v/1", "_to": "v/2"}
        return body

    @rule(
        name=st.sampled_from(NAMES),
        keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=30, unique=True),
        size=st.sampled_from([1, 50, 400, 5000]),
    )
    def write(self, name: str, keys: list[str], size: int) -> None:
        coll = self._coll(name)
        coll.insert_many(
            [{"_key": k, **self._body(name, size)} for k in keys], overwrite_mode="replace"
        )

    @rule(name=st.sampled_from(NAMES), keys=st.lists(st.sampled_from(KEYS), max_size=20))
    def remove(self, name: str, keys: list[str]) -> None:
        coll = self._coll(name)
        coll.delete_many([{"_key": k} for k in keys], raise_on_document_error=False)

    @rule(name=st.sampled_from(NAMES), what=st.sampled_from(["truncate", "drop", "recreate"]))
    def wipe(self, name: str, what: str) -> None:
        if not self.db.has_collection(name):
            return
        if what == "truncate":
            self.db.collection(name).truncate()
        else:
            self.db.delete_collection(name)
            if what == "recreate":
                self._coll(name).insert_many([{"_key": k, **self._body(name, 9)} for k in KEYS[:5]])

    @rule(name=st.sampled_from(NAMES), field=st.sampled_from(["text", "n"]))
    def index(self, name: str, field: str) -> None:
        coll = self._coll(name)
        have = [i for i in coll.indexes() if i["type"] == "persistent"]
        if have:
            coll.delete_index(have[0]["id"])
        else:
            coll.add_index({"type": "persistent", "fields": [field]})

    @rule(name=st.sampled_from(NAMES))
    def view(self, name: str) -> None:
        """An arangosearch view linking one collection, created or dropped."""
        if any(v["name"] == "sv" for v in self.db.views()):
            self.db.delete_view("sv")
        elif self.db.has_collection(name):
            links = {name: {"includeAllFields": True}}
            self.db.create_view("sv", "arangosearch", {"links": links})

    @rule(reread=st.booleans())
    def snapshot(self, reread: bool) -> None:
        info = self.manager.create("s", include_bulk=False, reread=reread).snapshot
        state = db_state(self.db)
        self.snaps.append((info.snapshot_name, state))
        # The other kind of snapshot of the same database: the same trees.
        other = self.manager.create("t", include_bulk=False, reread=not reread).snapshot
        assert roots(info.database) == roots(other.database)

    @rule(data=st.data(), latest=st.booleans())
    def restore(self, data: st.DataObject, latest: bool) -> None:
        """Any earlier snapshot, or the latest (whose collections usually still have its
        definitions: a restore by difference)."""
        if not self.snaps:
            return
        name, state = self.snaps[-1] if latest else data.draw(st.sampled_from(self.snaps))
        before = self._index_ids()
        report = self.sw.restore(name, safety_snapshot=False).database
        assert db_state(self.db) == state
        # A collection restored by difference keeps its indexes: the same ids.
        after = self._index_ids()
        for merged in report["merged"]:
            assert after[merged] == before[merged], merged

    def _index_ids(self) -> dict[str, list[str]]:
        return {
            c: sorted(i["id"] for i in self.db.collection(c).indexes())
            for c in NAMES
            if self.db.has_collection(c)
        }


def test_snapshots_state_machine(sw: SnapWorkspace) -> None:
    Snapshots.sw = sw
    run = Snapshots.TestCase()
    run.settings = settings(
        run.settings,
        max_examples=6,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    run.runTest()


@pytest.mark.slow
def test_snapshots_state_machine_long(sw: SnapWorkspace) -> None:
    Snapshots.sw = sw
    run = Snapshots.TestCase()
    run.settings = settings(
        run.settings,
        max_examples=60,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    run.runTest()


def test_a_listing_out_of_byte_order_reads_in_full(
    arango_server: ArangoTarget, sw: SnapWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    arango_server.require_test_server("a Coordinator's collation order")
    db = sw.db()
    db.create_collection("c").insert_many([{"_key": k} for k in ("b", "B", "a", "A")])
    sw.create("first")
    arango_server.settings.key_order = "collation"  # a, A, b, B: not byte order
    caplog.set_level(logging.INFO, logger=LOG)
    second = sw.manager().get_snapshot(sw.create("second")).database
    assert "collection c: full read: the server's key order is not byte order" in caplog.text
    arango_server.settings.key_order = "bytes"
    third = sw.manager().get_snapshot(sw.create("third", reread=True)).database
    assert roots(second) == roots(third)
