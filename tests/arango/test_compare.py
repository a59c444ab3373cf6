"""The ArangoDB package's view of document trees, as diff and gc use it.

``tree_chunks`` is gc's way to tell tree nodes (kept hot: diff and mark read them) from
leaves without knowing the section format; it must list exactly the chunks check and gc
count as the database's references. ``key_diff`` gives the keys diff reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from snapstore.backend import open_backend
from snapstore.maintenance.references import iter_database_references
from snapstore.sources.arangodb.compare import key_diff, tree_chunks
from snapstore.store.chunkstore import ChunkStore
from tests.arango.conftest import ArangoDatabase
from tests.arango.dbstate import SnapWorkspace, make_workspace


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def test_tree_chunks_are_the_database_references_with_nodes_marked(sw: SnapWorkspace) -> None:
    db = sw.db()
    c = db.create_collection("c")
    c.insert_many([{"_key": f"k{i:05d}", "text": "x" * 300} for i in range(3000)])
    db.create_collection("empty")
    first = sw.create("a")
    c.update({"_key": "k00010", "text": "changed"})
    c.delete("k00020")
    c.insert({"_key": "zz", "text": "new"})
    second = sw.create("b")
    manager = sw.manager()
    a, b = manager.get_snapshot(first).database, manager.get_snapshot(second).database
    store = ChunkStore.open(open_backend(str(sw.repo)), str(sw.root / "cache"))
    try:
        chunks = list(tree_chunks(a, store, first))
        refs = list(iter_database_references(a, store, first))
        assert [t.chunk for t in chunks] == [r.chunk for r in refs]
        assert [t.is_node for t in chunks] == [r.where.endswith("(document index)") for r in refs]
        assert any(t.is_node for t in chunks) and {t.collection for t in chunks} == {"c"}

        keys = key_diff(store, "c", a["collections"]["c"], b["collections"]["c"])
        assert keys is not None
        assert (keys.added, keys.removed, keys.changed) == (["zz"], ["k00020"], ["k00010"])
    finally:
        store.close()
