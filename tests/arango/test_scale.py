"""100k documents in one collection: dump, dedup of a small edit, restore (slow: `make verify`)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.arango.conftest import ArangoDatabase
from tests.arango.dbstate import SnapWorkspace, documents, make_workspace

N = 100_000


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


@pytest.mark.slow
def test_hundred_thousand_documents(sw: SnapWorkspace) -> None:
    rng = random.Random(2)
    db = sw.db()
    coll = db.create_collection("big")
    for start in range(0, N, 10_000):
        coll.insert_many(
            [
                {
                    "_key": f"p{i:07d}",
                    "title": f"paper {i}",
                    "score": rng.random(),
                    "tags": rng.sample(["a", "b", "c", "d", "e"], 2),
                }
                for i in range(start, start + 10_000)
            ],
            silent=True,
        )
    before = documents(db, "big")
    manager = sw.manager()
    first = manager.create("100k", include_bulk=False)
    assert first.snapshot.collections == {"big": N}
    edited = rng.sample(range(N), N // 100)
    for start in range(0, len(edited), 500):
        coll.update_many(
            [{"_key": f"p{i:07d}", "score": -1.0} for i in edited[start : start + 500]],
            silent=True,
        )
    second = manager.create("1% edited", include_bulk=False)
    # Small (~100-byte) documents: about 16 per leaf, so 1% edits rewrite about a quarter
    # of the leaves (bench/arango_bench.py measures the arXiv-like documents of the issue).
    assert second.added_bytes < 0.35 * first.added_bytes
    db.delete_collection("big")
    result = manager.restore_snapshot(
        first.snapshot.snapshot_name, confirm=True, restore_bulk=False, safety_snapshot=False
    )
    assert result.database["collections"]["big"]["checksum_ok"]
    assert documents(db, "big") == before
