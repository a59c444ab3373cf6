"""Restore by difference (spec/database.md): a live collection with the snapshot's definition
keeps its indexes and gets only the difference written; each case that cannot be merged takes
the full path and says why; ``restore --dry-run`` reports the same numbers beforehand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from snapstore.base.errors import DatabaseError
from snapstore.cli.main import cli
from snapstore.sources.arangodb import listing
from snapstore.store.chunkstore import ChunkStore
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import (
    RecordingReporter,
    SnapWorkspace,
    db_state,
    documents,
    make_workspace,
    raw,
)


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def _fill(sw: SnapWorkspace, n: int = 200) -> None:
    db = sw.db()
    c = db.create_collection("people")
    c.add_index({"type": "persistent", "fields": ["email"], "unique": True, "name": "by_email"})
    c.add_index({"type": "persistent", "fields": ["age"], "name": "by_age"})
    c.insert_many([{"_key": f"p{i:04}", "email": f"{i}@x", "age": i % 90} for i in range(n)])
    e = db.create_collection("knows", edge=True)
    e.insert_many(
        [
            {"_key": f"e{i:04}", "_from": f"people/p{i:04}", "_to": f"people/p{i + 1:04}"}
            for i in range(n)
        ]
    )


def _ids(sw: SnapWorkspace, name: str) -> list[str]:
    return sorted(i["id"] for i in sw.db().collection(name).indexes())


def _cli(sw: SnapWorkspace, *args: str) -> Any:
    return CliRunner().invoke(
        cli,
        [
            "--repo",
            str(sw.repo),
            "--arango-url",
            sw.target.url,
            "--arango-db",
            sw.target.db_name,
            *args,
        ],
        env={"SNAPSTORE_CACHE_DIR": str(sw.root / "cache")},
    )


@pytest.mark.parametrize("batch", [10_000, 7])
def test_a_merge_writes_only_the_difference_and_keeps_the_indexes(
    sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """``batch``: the listing's cursor batch size (7: many batches, fetched ahead)."""
    monkeypatch.setattr(listing, "BATCH", batch)
    _fill(sw)
    db = sw.db()
    name = sw.create("first")
    first = db_state(db)
    people = db.collection("people")
    people.update({"_key": "p0003", "age": -1})
    people.delete("p0004")
    people.insert({"_key": "zz", "email": "zz@x", "age": 1})
    # The unique values of two documents swapped: putting either back first would collide.
    people.update({"_key": "p0010", "email": "tmp"})
    people.update({"_key": "p0011", "email": "10@x"})
    people.update({"_key": "p0010", "email": "11@x"})
    db.collection("knows").update({"_key": "e0001", "_to": "people/zz"})
    ids = {c: _ids(sw, c) for c in ("people", "knows")}
    report = sw.restore(name, safety_snapshot=False).database
    assert db_state(db) == first  # documents with _rev, definitions
    assert {c: _ids(sw, c) for c in ("people", "knows")} == ids  # indexes never rebuilt
    assert report["merged"] == {
        "knows": {"removed": 0, "inserted": 0, "replaced": 1},
        "people": {"removed": 1, "inserted": 1, "replaced": 3},
    }
    assert report["reloaded"] == {}
    assert report["collections"]["people"]["read_back"] == "keys and revisions"


def test_dry_run_reports_what_the_restore_will_write(sw: SnapWorkspace) -> None:
    _fill(sw, 50)
    db = sw.db()
    name = sw.create("first")
    db.collection("people").delete("p0001")
    db.collection("people").update({"_key": "p0002", "age": 7})
    db.collection("knows").add_index({"type": "persistent", "fields": ["w"], "name": "extra"})
    db.create_collection("scratch").insert({"x": 1})
    before = db_state(db)
    out = _cli(sw, "restore", name, "--no-bulk", "--dry-run", "--json")
    assert out.exit_code == 0, out.output
    writes = {w["name"]: w for w in json.loads(out.stdout)["database_writes"]}
    assert writes["people"] == {
        "name": "people",
        "path": "merge",
        "reason": "",
        "removed": 0,
        "inserted": 1,
        "replaced": 1,
    }
    assert writes["knows"]["path"] == "reload"
    assert writes["knows"]["reason"] == "its indexes differ from the snapshot's"
    assert (writes["knows"]["removed"], writes["knows"]["inserted"]) == (50, 50)
    assert writes["scratch"] == {
        "name": "scratch",
        "path": "drop",
        "reason": "",
        "removed": 1,
        "inserted": 0,
        "replaced": 0,
    }
    text = _cli(sw, "restore", name, "--no-bulk", "--dry-run")
    assert text.exit_code == 0, text.output
    assert "people: merge: 0 removed, 1 inserted, 1 replaced (indexes kept)" in text.stdout
    assert "knows: reload (its indexes differ from the snapshot's)" in text.stdout
    assert db_state(db) == before  # a dry run changes nothing
    done = _cli(sw, "restore", name, "--no-bulk", "--yes", "--no-safety-snapshot")
    assert done.exit_code == 0, done.output
    assert "written by difference, indexes kept: people (-0 +1 ~1)" in done.stdout
    assert "reloaded knows: its indexes differ from the snapshot's" in done.stdout


def _reload_case(sw: SnapWorkspace, case: str) -> str:
    """Change the live collection ``people`` so that it cannot be merged; returns the reason."""
    db = sw.db()
    people = db.collection("people")
    if case == "properties":
        raw(db, "put", "/_api/collection/people/properties", data={"waitForSync": True})
        return "its properties differ from the snapshot's"
    if case == "indexes":
        people.delete_index(next(i for i in people.indexes() if i["name"] == "by_age")["id"])
        return "its indexes differ from the snapshot's"
    if case == "many":
        people.truncate()
        return "more than half of its documents differ"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["properties", "indexes", "many"])
def test_a_collection_that_cannot_be_merged_is_reloaded_and_says_why(
    sw: SnapWorkspace, case: str
) -> None:
    _fill(sw, 60)
    name = sw.create("first")
    first = db_state(sw.db())
    reason = _reload_case(sw, case)
    report = sw.restore(name, safety_snapshot=False).database
    assert report["reloaded"] == {"people": reason}
    assert "people" not in report["merged"] and "knows" in report["merged"]
    assert db_state(sw.db()) == first


def test_a_ttl_index_takes_the_full_path(sw: SnapWorkspace) -> None:
    db = sw.db()
    c = db.create_collection("sessions")
    c.insert_many([{"_key": f"s{i}", "at": 2_000_000_000 + i} for i in range(20)])
    c.add_index({"type": "ttl", "fields": ["at"], "expireAfter": 3600, "name": "ttl"})
    name = sw.create("first")
    c.delete("s1")
    report = sw.restore(name, safety_snapshot=False).database
    assert report["reloaded"] == {"sessions": "it has a TTL index"}
    assert sorted(documents(db, "sessions")) == sorted(f"s{i}" for i in range(20))


def test_a_lower_last_value_takes_the_full_path(sw: SnapWorkspace) -> None:
    """A collection re-created after the snapshot counts its generated keys from lower down:
    kept, it would hand out keys the snapshot's database had already used."""
    db = sw.db()
    c = db.create_collection("gen")
    c.insert_many([{"n": i} for i in range(30)])
    name = sw.create("first")
    snap_last = int(raw(db, "get", "/_api/collection/gen/properties")["keyOptions"]["lastValue"])
    docs = list(documents(db, "gen").values())
    db.delete_collection("gen")
    db.create_collection("gen").insert_many(
        [{k: v for k, v in d.items() if k != "_rev"} for d in docs[:5]]
    )
    live_last = int(raw(db, "get", "/_api/collection/gen/properties")["keyOptions"]["lastValue"])
    assert live_last < snap_last
    report = sw.restore(name, safety_snapshot=False).database
    assert report["reloaded"] == {
        "gen": f"its keyOptions.lastValue ({live_last}) is below the snapshot's ({snap_last})"
    }
    after = int(raw(db, "get", "/_api/collection/gen/properties")["keyOptions"]["lastValue"])
    assert after >= snap_last


@pytest.mark.parametrize("only", [False, True])
def test_a_reloaded_collection_keeps_a_higher_live_last_value(
    sw: SnapWorkspace, only: bool
) -> None:
    """A collection reloaded for another reason (here its properties changed) whose key
    generator moved on since the snapshot is created with the live lastValue, not the
    snapshot's: keys handed out after the snapshot are not handed out again."""
    db = sw.db()
    c = db.create_collection("gen")
    c.insert_many([{"n": i} for i in range(30)])
    name = sw.create("first")
    snap_last = int(raw(db, "get", "/_api/collection/gen/properties")["keyOptions"]["lastValue"])
    c.insert_many([{"n": i} for i in range(30, 50)])
    raw(db, "put", "/_api/collection/gen/properties", data={"waitForSync": True})
    live_last = int(raw(db, "get", "/_api/collection/gen/properties")["keyOptions"]["lastValue"])
    assert live_last > snap_last
    options: dict[str, Any] = {"collections": ["gen"]} if only else {}
    report = sw.restore(name, safety_snapshot=False, **options).database
    assert report["reloaded"] == {"gen": "its properties differ from the snapshot's"}
    after = int(raw(db, "get", "/_api/collection/gen/properties")["keyOptions"]["lastValue"])
    assert after >= live_last
    fresh = c.insert({"n": -1})["_key"]
    assert int(fresh) > live_last


@pytest.mark.parametrize("batch", [10_000, 2])
def test_keys_not_listed_in_byte_order_take_the_full_path(
    sw: SnapWorkspace, arango_server: ArangoTarget, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """A Coordinator merges shards in AQL collation order: the merge needs byte order."""
    monkeypatch.setattr(listing, "BATCH", batch)
    db = sw.db()
    db.create_collection("mixed").insert_many([{"_key": k} for k in ("a", "B", "c", "D")])
    name = sw.create("first")
    db.collection("mixed").delete("a")
    arango_server.settings.key_order = "collation"
    report = sw.restore(name, safety_snapshot=False).database
    assert report["reloaded"] == {"mixed": "the server does not list its keys in byte order"}
    assert sorted(documents(db, "mixed")) == ["B", "D", "a", "c"]


def test_schema_and_computed_values_are_not_applied_to_what_is_put_back(
    sw: SnapWorkspace,
) -> None:
    """isRestore: no validation, nothing computed; the snapshot's documents come back as
    they were, though the collection's schema and computed values stay in place."""
    db = sw.db()
    c = db.create_collection("strict")
    c.insert_many([{"_key": "bad", "n": "not a number", "stamp": "old"}, {"_key": "ok", "n": 1}])
    c.insert_many([{"_key": f"more{i}", "n": i} for i in range(8)])
    c.configure(
        schema={
            "rule": {"properties": {"n": {"type": "number"}}},
            "level": "strict",
            "message": "n must be a number",
        },
        computed_values=[
            {
                "name": "stamp",
                "expression": 'RETURN "new"',
                "overwrite": True,
                "computeOn": ["insert", "update", "replace"],
            }
        ],
    )
    name = sw.create("first")
    first = db_state(db)
    c.delete("bad")  # an invalid document cannot be written back without isRestore
    c.update({"_key": "ok", "n": 2})  # computes stamp "new"
    assert c.get("ok")["stamp"] == "new"
    report = sw.restore(name, safety_snapshot=False).database
    assert report["merged"] == {"strict": {"removed": 0, "inserted": 1, "replaced": 1}}
    assert db_state(db) == first
    assert c.get("bad")["stamp"] == "old" and "stamp" not in c.get("ok")


def test_verify_reads_every_document_back_after_a_merge(sw: SnapWorkspace) -> None:
    _fill(sw, 30)
    name = sw.create("first")
    sw.db().collection("people").update({"_key": "p0001", "age": 99})
    report = sw.restore(name, safety_snapshot=False, verify=True).database
    assert report["merged"]["people"]["replaced"] == 1
    assert report["collections"]["people"]["read_back"] == "documents"
    assert report["collections"]["people"]["checksum_ok"]


def test_a_late_write_after_the_merge_is_caught_by_the_verification(sw: SnapWorkspace) -> None:
    """Between the listing and the verification another client writes: the keys and
    revisions no longer match the snapshot's, and the restore fails (then rolls back)."""
    _fill(sw, 30)
    name = sw.create("first")
    db = sw.db()
    db.collection("people").update({"_key": "p0001", "age": 99})
    other = sw.db()
    fired: list[bool] = []

    def late(label: str) -> None:
        if label.startswith("Restoring people") and not fired:
            fired.append(True)
            other.collection("people").insert({"_key": "late", "email": "late@x"})

    manager = sw.manager(reporter=RecordingReporter(late))
    with pytest.raises(DatabaseError, match=r"differ from the snapshot: people \(31 documents"):
        manager.restore_snapshot(name, confirm=True, restore_bulk=False, safety_snapshot=False)
    assert fired


def test_the_verification_from_digests_catches_a_late_change_of_an_unchanged_document(
    sw: SnapWorkspace,
) -> None:
    """A merged collection is verified against the tree's revision digests: a document the
    merge found unchanged, replaced by another client before the verification, keeps the
    count but not the digest, and the restore fails."""
    _fill(sw, 30)
    name = sw.create("first")
    db = sw.db()
    db.collection("people").update({"_key": "p0001", "age": 99})
    report = sw.restore(name, safety_snapshot=False).database
    assert report["collections"]["people"]["compared_with"] == "revision digests"
    db.collection("people").update({"_key": "p0001", "age": 98})
    other = sw.db()
    fired: list[bool] = []

    def late(label: str) -> None:
        if label.startswith("Restoring people") and not fired:
            fired.append(True)
            other.collection("people").update({"_key": "p0020", "age": 1})

    manager = sw.manager(reporter=RecordingReporter(late))
    with pytest.raises(DatabaseError, match=r"differ from the snapshot: people \(30 documents"):
        manager.restore_snapshot(name, confirm=True, restore_bulk=False, safety_snapshot=False)
    assert fired


def test_a_write_the_server_refuses_half_way_is_rolled_back(sw: SnapWorkspace) -> None:
    """Another client takes a unique value the snapshot's document needs just as the
    difference is written: the server refuses that document (1210), the restore fails, and
    the database is rolled back from the safety snapshot, itself by difference."""
    _fill(sw, 40)
    name = sw.create("first")
    db = sw.db()
    db.collection("people").delete("p0005")  # the restore must insert it again (5@x)
    before = db_state(db)
    ids = _ids(sw, "people")
    other = sw.db()
    fired: list[bool] = []

    def steal(label: str) -> None:
        if label.startswith("Restoring people") and not fired:  # the restore, not its rollback
            fired.append(True)
            other.collection("people").insert({"_key": "thief", "email": "5@x"})

    manager = sw.manager(reporter=RecordingReporter(steal))
    with pytest.raises(DatabaseError) as e:
        manager.restore_snapshot(name, confirm=True, restore_bulk=False)
    message = str(e.value)
    assert "could not be written, the first with [ERR 1210]" in message
    assert "while writing the differences into collection people" in message
    assert "rolled back to its state before the restore" in message
    assert db_state(db) == before  # the thief's document came after the safety snapshot
    assert _ids(sw, "people") == ids


def test_a_changed_analyzer_under_a_kept_index_takes_the_full_path(sw: SnapWorkspace) -> None:
    """A full restore replaces a changed analyzer, which the server refuses while a kept
    collection's index uses it: that collection is reloaded instead."""
    db = sw.db()
    db.create_analyzer("words", "norm", {"locale": "en", "case": "lower"}, [])
    c = db.create_collection("texts")
    c.insert_many([{"_key": f"t{i}", "t": f"Word {i}"} for i in range(10)])
    c.add_index({"type": "inverted", "fields": [{"name": "t", "analyzer": "words"}], "name": "inv"})
    name = sw.create("first")
    first = db_state(db)
    c.delete("t1")
    c.delete_index(next(i for i in c.indexes() if i["name"] == "inv")["id"])
    db.delete_analyzer("words", force=True)
    db.create_analyzer("words", "norm", {"locale": "en", "case": "upper"}, [])
    c.add_index({"type": "inverted", "fields": [{"name": "t", "analyzer": "words"}], "name": "inv"})
    report = sw.restore(name, safety_snapshot=False).database
    reason = "an analyzer its indexes use differs from the snapshot's"
    assert report["reloaded"] == {"texts": reason}
    assert db_state(db) == first


def test_a_second_merge_reads_only_the_leaves_that_differ(
    sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a first merge, the next one reads only the leaves whose live pairs differ."""
    db = sw.db()
    c = db.create_collection("many")
    c.insert_many([{"_key": f"k{i:05}", "v": i, "pad": "x" * 900} for i in range(600)])
    name = sw.create("first")
    first = db_state(db)
    c.update_many([{"_key": "k00010", "v": -1}])
    sw.restore(name, safety_snapshot=False)
    reads: list[bytes] = []
    real_read = ChunkStore.read

    def counting(self: Any, cid: bytes) -> bytes:
        reads.append(cid)
        return real_read(self, cid)

    real_many = ChunkStore.read_many

    def counting_many(self: Any, cids: Any) -> Any:
        return real_many(self, (reads.append(c) or c for c in cids))

    monkeypatch.setattr(ChunkStore, "read", counting)
    monkeypatch.setattr(ChunkStore, "read_many", counting_many)
    c.update_many([{"_key": "k00020", "v": -1}, {"_key": "k00500", "v": -1}])
    c.delete_many([{"_key": "k00300"}])
    c.insert_many([{"_key": "k00300x"}, {"_key": "zzz"}])
    report = sw.restore(name, safety_snapshot=False).database
    assert report["merged"] == {"many": {"removed": 2, "inserted": 1, "replaced": 2}}
    assert db_state(db) == first
    leaves = report["collections"]["many"]["count"] // 4  # ~4 documents of ~1 KB per leaf
    assert 0 < len(reads) < leaves // 4, (len(reads), leaves)


def test_a_cold_merge_reads_only_the_leaves_that_differ(
    sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first restore (no leaf cache: its directory deleted) of a tree with revision digests
    recognises unchanged leaves from the nodes' digests and reads only the changed ones; the
    result equals the snapshot (documents with ``_rev``, index ids)."""
    import shutil

    db = sw.db()
    c = db.create_collection("many")
    c.add_index({"type": "persistent", "fields": ["v"], "name": "by_v"})
    c.insert_many([{"_key": f"k{i:05}", "v": i, "pad": "x" * 900} for i in range(600)])
    name = sw.create("first")
    first = db_state(db)
    ids = _ids(sw, "many")
    c.update_many([{"_key": "k00020", "v": -1}, {"_key": "k00500", "v": -1}])
    c.delete_many([{"_key": "k00300"}])
    c.insert_many([{"_key": "k00300x"}, {"_key": "zzz"}])
    shutil.rmtree(sw.root / "cache", ignore_errors=True)
    leaves_read = _count_leaf_reads(monkeypatch)
    report = sw.restore(name, safety_snapshot=False).database
    monkeypatch.undo()
    assert report["merged"] == {"many": {"removed": 2, "inserted": 1, "replaced": 2}}
    assert db_state(db) == first
    assert _ids(sw, "many") == ids
    leaves = report["collections"]["many"]["count"] // 4  # ~4 documents of ~1 KB per leaf
    # k00020, k00300 (removed; k00300x falls in its range or the next) and k00500: at most
    # three leaves, each read by the merge and again by the writes; zzz lies past every
    # leaf (a removal needs no leaf).
    assert 0 < len(set(leaves_read)) <= 3, (len(set(leaves_read)), leaves)
    assert len(leaves_read) <= 6


def test_a_tree_written_before_digests_learns_its_leaves_in_the_leaf_cache(
    sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree whose node entries have no revision digest (written before them) is merged
    through the leaf cache: the first restore reads every leaf and learns their digests, the
    next reads only the leaves whose live pairs differ."""
    from snapstore.sources.arangodb.doctree import NodeEntry

    db = sw.db()
    c = db.create_collection("many")
    c.insert_many([{"_key": f"k{i:05}", "v": i, "pad": "x" * 900} for i in range(600)])
    real_to_list = NodeEntry.to_list
    with monkeypatch.context() as m:
        # The 5-element entries of a tree written before digests.
        m.setattr(NodeEntry, "to_list", lambda e: real_to_list(e)[:5])
        name = sw.create("first")
    first = db_state(db)
    leaves_read = _count_leaf_reads(monkeypatch)
    c.update_many([{"_key": "k00010", "v": -1}])
    sw.restore(name, safety_snapshot=False)
    leaves = len(set(leaves_read))
    assert leaves > 100  # every leaf: nothing to recognise them by yet
    assert db_state(db) == first
    leaves_read.clear()
    c.update_many([{"_key": "k00020", "v": -1}, {"_key": "k00500", "v": -1}])
    report = sw.restore(name, safety_snapshot=False).database
    assert report["merged"] == {"many": {"removed": 0, "inserted": 0, "replaced": 2}}
    assert db_state(db) == first
    assert 0 < len(set(leaves_read)) <= 2, (len(set(leaves_read)), leaves)


def _count_leaf_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The leaf chunks the store reads from now on (until ``monkeypatch.undo()``), told from
    node chunks by their content: a leaf is document lines."""
    leaves_read: list[bytes] = []
    real_read = ChunkStore.read
    real_many = ChunkStore.read_many

    def note(data: bytes) -> bytes:
        if data[:1] == b"{":
            leaves_read.append(data)
        return data

    def counting(self: Any, cid: bytes) -> bytes:
        return note(real_read(self, cid))

    def counting_many(self: Any, cids: Any) -> Any:
        return (note(d) for d in real_many(self, cids))

    monkeypatch.setattr(ChunkStore, "read", counting)
    monkeypatch.setattr(ChunkStore, "read_many", counting_many)
    return leaves_read


def test_the_safety_snapshot_fetches_only_what_changed_and_the_rollback_merges(
    sw: SnapWorkspace,
) -> None:
    """The safety snapshot before a restore is incremental (its parent is the newest snapshot
    of the database): it fetches only the documents changed since, and restoring it back is a
    merge too, so going back and forth costs what the experiment changed."""
    _fill(sw, 200)
    name = sw.create("first")
    db = sw.db()
    db.collection("people").update_many([{"_key": f"p{i:04}", "age": -1} for i in range(5)])
    db.collection("knows").delete("e0007")
    messed = db_state(db)
    ids = _ids(sw, "people")
    manager = sw.manager()
    manager.restore_snapshot(name, confirm=True, restore_bulk=False)
    safety = next(s for s in manager.list_snapshots() if s.kind == "safety")
    stats = manager.get_snapshot(safety.snapshot_name).database["dump_stats"]["incremental"]
    assert stats["fetched"] == 5, stats  # the five updated documents, nothing else
    report = manager.restore_snapshot(
        safety.snapshot_name, confirm=True, restore_bulk=False, safety_snapshot=False
    ).database
    assert report["merged"] == {
        "knows": {"removed": 1, "inserted": 0, "replaced": 0},
        "people": {"removed": 0, "inserted": 0, "replaced": 5},
    }
    assert db_state(db) == messed
    assert _ids(sw, "people") == ids


@pytest.mark.parametrize("mode", ["drop", "lose"])
def test_a_server_lost_during_the_listing_leaves_the_database_unchanged(
    sw: SnapWorkspace, arango_server: ArangoTarget, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The merge's listing fails on a later batch (fetched ahead, on another thread): the
    restore stops before changing anything and says so; once the server is back, the same
    restore merges."""
    monkeypatch.setattr(listing, "BATCH", 7)
    _fill(sw, 30)
    name = sw.create("first")
    db = sw.db()
    db.collection("people").update({"_key": "p0001", "age": 99})
    messed = db_state(db)
    arango_server.fail_after(0, mode=mode, path_pattern=r"/_api/cursor/.", method="POST")
    with pytest.raises(DatabaseError) as e:
        sw.restore(name, safety_snapshot=False)
    message = str(e.value)
    assert "while comparing the live collections with the snapshot" in message
    assert "the database was not changed" in message
    arango_server.heal()
    assert db_state(db) == messed
    report = sw.restore(name, safety_snapshot=False).database
    assert report["merged"]["people"]["replaced"] == 1
