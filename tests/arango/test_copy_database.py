"""copy of database snapshots into an encrypted repository, whose chunk ids differ
(spec/copy.md, "Re-identification"): the document trees are rewritten bottom-up and restore
exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.config.settings import Settings
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from tests.arango.conftest import ArangoDatabase
from tests.arango.dbstate import SnapWorkspace, db_state, make_workspace
from tests.copy.test_reidentify import CHEAP_KDF, unlocked


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def test_document_trees_are_rewritten_and_restore(
    sw: SnapWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sw.db()
    papers = db.create_collection("papers")
    papers.import_bulk([{"_key": f"p{i:05d}", "title": f"paper {i}" * 3} for i in range(6000)])
    db.create_collection("empty")
    before = db_state(db)
    name = sw.create("papers")
    dest = tmp_path / "dest"
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "offsite secret")
    there = SnapshotManager(
        Settings(repository=str(dest), bulk=(), cache_dir=str(sw.root / "cache"))
    )
    there.init_repository(encryption=True, kdf=CHEAP_KDF)
    sw.manager().copy(str(dest), names=(name,))

    src = Catalog(LocalBackend(sw.repo)).load(name).database
    backend = unlocked(dest)
    try:
        got = Catalog(backend).load(name).database
    finally:
        backend.close()
    assert src is not None and got is not None
    old, new = src["collections"]["papers"], got["collections"]["papers"]
    assert old["height"] >= 2  # nodes of nodes: the rewrite goes up more than one level
    assert new["height"] == old["height"] and new["root"] != old["root"]
    assert got["collections"]["empty"]["root"] is None
    assert there.check(read_data=True).ok

    # A change of one document: the second copy sends a leaf and the nodes above it.
    papers.update({"_key": "p03000", "title": "retitled"})
    second = sw.create("one change")
    again = sw.manager().copy(str(dest))
    sent = [s for s in again.snapshots if s.status == "copied"]
    assert [s.name for s in sent] == [second] and sent[0].chunks <= old["height"] + 2

    papers.truncate()
    wanted = SnapshotManager(
        Settings(
            repository=str(dest),
            bulk=(),
            cache_dir=str(sw.root / "cache"),
            arangodb=sw.arango(),
            auto_cleanup=False,
        )
    )
    wanted.restore_snapshot(name, confirm=True, restore_bulk=False, safety_snapshot=False)
    assert db_state(db) == before
