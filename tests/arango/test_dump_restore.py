"""Dump and restore through the real manager against the ArangoDB server under test.

Every object kind (collections with all their properties, indexes of every type, documents
with keys and revisions, views, analyzers, named graphs) must come back exactly; restore
drops what the snapshot does not have; ``--collection`` touches nothing else; ``--target-db``
fills another database; the odd inputs of the issue (schema-rejected documents, dangling
edges, every legal name and key character, empty collections, deep nesting, unicode, large
documents) round-trip.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from arango.database import StandardDatabase
from arango.request import Request

from snapstore.backend import Kind
from snapstore.base.errors import InvalidInput
from snapstore.maintenance.references import iter_database_references
from snapstore.sources.arangodb.doctree import iter_leaves
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import SnapWorkspace, db_state, documents, make_workspace, raw

KEY_CHARS = "ABCXYZabcxyz0123456789_-:.@()+,=;$!*'%"


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def build_everything(db: StandardDatabase) -> None:
    """One database with every kind of object the dump must keep."""
    db.create_analyzer("ident", "identity", {}, ["frequency", "norm"])
    db.create_analyzer("commas", "delimiter", {"delimiter": ","}, [])
    raw(
        db,
        "post",
        "/_api/collection",
        data={
            "name": "papers",
            "keyOptions": {
                "type": "autoincrement",
                "increment": 5,
                "offset": 3,
                "allowUserKeys": True,
            },
            "schema": {
                "rule": {"type": "object", "properties": {"n": {"type": "number"}}},
                "level": "moderate",
                "message": "n must be a number",
                "type": "json",
            },
            "computedValues": [
                {
                    "name": "origin",
                    "expression": 'RETURN "computed"',
                    "computeOn": ["insert"],
                    "overwrite": True,
                    "keepNull": True,
                    "failOnWarning": False,
                }
            ],
            "cacheEnabled": True,
            "waitForSync": True,
        },
    )
    papers = db.collection("papers")
    papers.insert_many(
        [
            {
                "n": i,
                "title": f"paper {i} about {random.Random(i).random()}",
                "tags": "a,b",
                "expires": 4102444800 + i,
                "vec": [float(i), 1.0, 2.0],
            }
            for i in range(60)
        ]
    )
    last = max(int(k) for k in documents(db, "papers"))
    papers.delete(str(last))  # lastValue now exceeds every surviving key
    authors = db.create_collection("authors", key_generator="traditional", user_keys=True)
    authors.insert_many(
        [
            {
                "_key": f"{KEY_CHARS[i % len(KEY_CHARS)]}{i}{KEY_CHARS[-1 - i % 10]}",
                "name": f"Author {i}",
                "loc": [10.0 + i, 20.0],
                "x": i * 1.5,
                "y": -i,
                "p": "q",
            }
            for i in range(40)
        ]
    )
    cites = db.create_collection("cites", edge=True)
    keys = sorted(documents(db, "papers"))
    cites.insert_many(
        [{"_from": f"papers/{keys[i]}", "_to": f"papers/{keys[i + 1]}", "w": i} for i in range(20)]
        + [{"_key": "dangling", "_from": "nowhere/1", "_to": "papers/x"}]
    )
    db.create_collection("empty")
    for coll, index in [
        (
            "papers",
            {"type": "persistent", "name": "by_n", "fields": ["n"], "unique": True, "sparse": True},
        ),
        ("papers", {"type": "ttl", "name": "expiry", "fields": ["expires"], "expireAfter": 3600}),
        ("papers", {"type": "fulltext", "name": "ft", "fields": ["title"], "minLength": 3}),
        (
            "papers",
            {"type": "inverted", "name": "inv", "fields": [{"name": "tags", "analyzer": "commas"}]},
        ),
        (
            "papers",
            {
                "type": "vector",
                "name": "vec",
                "fields": ["vec"],
                "params": {"metric": "cosine", "dimension": 3, "nLists": 2},
            },
        ),
        ("authors", {"type": "geo", "name": "where", "fields": ["loc"], "geoJson": False}),
        (
            "authors",
            {"type": "mdi", "name": "xy", "fields": ["x", "y"], "fieldValueTypes": "double"},
        ),
        (
            "authors",
            {
                "type": "mdi-prefixed",
                "name": "pxy",
                "fields": ["x", "y"],
                "prefixFields": ["p"],
                "fieldValueTypes": "double",
                "storedValues": ["name"],
            },
        ),
    ]:
        resp = db.request(Request("post", "/_api/index", params={"collection": coll}, data=index))
        # A real ArangoDB needs --experimental-vector-index for vector indexes; go without.
        assert resp.is_success or index["type"] == "vector", resp.body
    db.create_view(
        "search",
        "arangosearch",
        {
            "links": {
                "papers": {"analyzers": ["ident"], "fields": {"title": {}}},
                "authors": {"includeAllFields": True},
            }
        },
    )
    db.create_view("alias", "search-alias", {"indexes": [{"collection": "papers", "index": "inv"}]})
    db.create_graph(
        "citations",
        edge_definitions=[
            {
                "edge_collection": "cites",
                "from_vertex_collections": ["papers"],
                "to_vertex_collections": ["papers"],
            }
        ],
        orphan_collections=["authors"],
    )


def mess_up(db: StandardDatabase) -> None:
    """Change every kind of object after the snapshot."""
    papers = db.collection("papers")
    keys = sorted(documents(db, "papers"))
    papers.update_many([{"_key": k, "n": 1000 + i} for i, k in enumerate(keys[:5])])
    papers.delete_many([{"_key": k} for k in keys[5:10]])
    papers.insert({"n": 5000, "title": "new"})
    db.delete_view("alias")
    db.delete_graph("citations")
    db.delete_collection("authors")
    db.create_collection("junk").insert({"_key": "j"})
    raw(db, "put", "/_api/collection/papers/properties", data={"schema": None})
    db.create_analyzer("extra", "identity", {}, [])
    db.collection("empty").insert({"_key": "not-empty-anymore"})


def _last_values(state: dict[str, Any]) -> dict[str, int]:
    out = {}
    for name, c in state["collections"].items():
        value = c["properties"].get("keyOptions", {}).get("lastValue")
        if value is not None:
            out[name] = int(value)
    return out


def _without_last_values(state: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(state)
    for c in out["collections"].values():
        c["properties"].get("keyOptions", {}).pop("lastValue", None)
    return out


def test_every_object_kind_round_trips(sw: SnapWorkspace) -> None:
    db = sw.db()
    build_everything(db)
    before = db_state(db)
    name = sw.create("everything")
    mess_up(db)
    assert db_state(db) != before
    live_last = _last_values(db_state(db, with_docs=False))

    result = sw.restore(name)

    after = db_state(db)
    restored_last = _last_values(after)
    assert _without_last_values(after) == _without_last_values(before)
    # Key generators never go backwards (spec/database.md, Restore, step 3): papers was
    # reloaded (its schema changed) after an insert had moved its lastValue on.
    for n, value in _last_values(before).items():
        assert restored_last[n] == max(value, live_last.get(n, value)), n
    assert restored_last["papers"] > _last_values(before)["papers"]
    report = result.database
    assert report["dropped"] == ["junk"]
    assert report["created"] == ["authors"]
    assert report["views"] == 2 and report["graphs"] == 1 and report["analyzers"] == 2
    assert all(c["checksum_ok"] and c["revisions_kept"] for c in report["collections"].values())
    assert any("TTL index" in w for w in report["warnings"])
    assert result.safety_snapshot  # the messed-up state was kept
    # The safety snapshot holds the state we replaced: restoring it brings that back.
    messed = sw.manager().get_snapshot(result.safety_snapshot)
    assert "junk" in messed.collections and "authors" not in messed.collections


def test_snapshot_records_counts_sizes_and_metadata(sw: SnapWorkspace) -> None:
    db = sw.db()
    build_everything(db)
    manager = sw.manager()
    result = manager.create("meta", include_bulk=False)
    info = result.snapshot
    expected = {n: len(documents(db, n)) for n in ("papers", "authors", "cites", "empty")}
    assert info.collections == expected
    section = info.database
    assert section["consistency"] == {"mode": "transaction", "reason": None}
    papers = section["collections"]["papers"]
    assert papers["properties"]["keyOptions"]["type"] == "autoincrement"
    assert papers["properties"]["keyOptions"]["lastValue"] > max(
        int(k) for k in documents(db, "papers")
    )
    live_types = {
        i["type"] for i in raw(db, "get", "/_api/index", params={"collection": "papers"})["indexes"]
    }
    assert (
        {i["type"] for i in papers["indexes"]}
        == live_types
        >= {
            "primary",
            "persistent",
            "ttl",
            "fulltext",
            "inverted",
        }
    )
    assert {i["type"] for i in section["collections"]["authors"]["indexes"]} >= {
        "geo",
        "mdi",
        "mdi-prefixed",
    }
    mdi_prefixed = next(
        i for i in section["collections"]["authors"]["indexes"] if i["type"] == "mdi-prefixed"
    )
    assert mdi_prefixed["prefixFields"] == ["p"]  # the field python-arango's getter drops
    assert section["collections"]["empty"]["root"] is None
    assert [v["name"] for v in section["views"]] == ["alias", "search"]
    assert [a["name"] for a in section["analyzers"]] == ["commas", "ident"]
    assert [g["name"] for g in section["graphs"]] == ["citations"]
    assert section["size_bytes"] > 0
    assert info.database_size_mb == round(section["size_bytes"] / 2**20, 1)
    # Listed again from the repository: same counts.
    assert manager.get_snapshot(info.snapshot_name).collections == expected
    assert manager.check().ok


def test_restore_drops_collections_not_in_the_snapshot_and_plans_it(sw: SnapWorkspace) -> None:
    db = sw.db()
    db.create_collection("keep").insert_many([{"v": i} for i in range(10)])
    name = sw.create()
    db.create_collection("newer").insert({"v": 1})
    db.delete_collection("keep")
    plan = sw.manager().plan_restore(name, restore_bulk=False)
    assert plan.database_changes["drop"] == ["newer"]
    assert plan.database_changes["create"] == ["keep"]
    assert plan.database_changes["replace"] == []
    sw.restore(name)
    assert sorted(c["name"] for c in db.collections() if not c["name"].startswith("_")) == ["keep"]
    assert len(documents(db, "keep")) == 10


def test_restore_selected_collections_touches_nothing_else(sw: SnapWorkspace) -> None:
    db = sw.db()
    a = db.create_collection("a")
    b = db.create_collection("b")
    a.insert_many([{"_key": str(i), "v": i} for i in range(30)])
    b.insert_many([{"_key": str(i), "v": i} for i in range(30)])
    db.create_view("sv", "arangosearch", {"links": {"a": {"includeAllFields": True}}})
    name = sw.create()
    a.update({"_key": "1", "v": -1})
    b.update({"_key": "1", "v": -1})
    db.create_collection("c")
    b_before = documents(db, "b")

    plan = sw.manager().plan_restore(name, restore_bulk=False, collections=["a"])
    assert plan.database_changes["replace"] == ["a"] and plan.database_changes["drop"] == []
    report = sw.restore(name, collections=["a"]).database

    assert documents(db, "a")["1"]["v"] == 1
    assert documents(db, "b") == b_before  # untouched
    assert "c" in [c["name"] for c in db.collections()]  # not dropped
    assert report["dropped"] == [] and report["replaced"] == ["a"]
    links = raw(db, "get", "/_api/view/sv/properties")["links"]
    assert "a" in links  # the live view's link to the rebuilt collection is back
    with pytest.raises(InvalidInput, match="not in the snapshot"):
        sw.manager().plan_restore(name, restore_bulk=False, collections=["c"])


def test_restore_into_another_database_creates_it(sw: SnapWorkspace, arango_server: Any) -> None:
    db = sw.db()
    build_everything(db)
    before = db_state(db)
    name = sw.create()
    target = f"{sw.target.db_name}_copy"
    try:
        plan = sw.manager().plan_restore(name, restore_bulk=False, target_db=target)
        assert plan.database_changes["database"] == [target]
        assert sorted(plan.database_changes["create"]) == sorted(before["collections"])
        result = sw.restore(name, target_db=target)
        assert result.database["created_database"] is True
        assert result.safety_snapshot is None  # nothing lived there before
        copy = sw.db(target)
        assert db_state(copy) == before
        assert db_state(db) == before  # the source database is untouched
        # Restoring again into the now existing copy takes a safety snapshot of the copy.
        again = sw.restore(name, target_db=target)
        safety = sw.manager().get_snapshot(again.safety_snapshot)
        assert safety.database["database"] == target
    finally:
        arango_server.sys_db().delete_database(target, ignore_missing=True)


def test_schema_rejected_document_and_computed_values_survive(sw: SnapWorkspace) -> None:
    db = sw.db()
    c = db.create_collection("strict")
    c.insert_many([{"_key": "bad", "n": "not a number"}, {"_key": "good", "n": 1}])
    raw(
        db,
        "put",
        "/_api/collection/strict/properties",
        data={
            "schema": {
                "rule": {
                    "type": "object",
                    "properties": {"n": {"type": "number"}},
                    "required": ["n"],
                },
                "level": "strict",
                "message": "n must be a number",
            },
            "computedValues": [
                {
                    "name": "stamp",
                    "expression": 'RETURN "later"',
                    "computeOn": ["insert", "update"],
                    "overwrite": True,
                }
            ],
        },
    )
    before = db_state(db)
    assert "stamp" not in before["collections"]["strict"]["documents"]["bad"]
    name = sw.create()
    db.delete_collection("strict")
    sw.restore(name)
    after = db_state(db)
    assert after == before  # the invalid document is back, nothing was computed
    with pytest.raises(Exception, match=r"1620|schema"):
        db.collection("strict").insert({"_key": "worse", "n": "x"})  # the schema is in force


def test_odd_names_keys_and_values_round_trip(sw: SnapWorkspace) -> None:
    db = sw.db()
    names = ["A", "z-_9", "Zz" + "-_aZ09" * 40 + "x" * 14]  # the last is 256 characters
    assert len(names[2]) == 256
    deep: Any = "bottom"
    for i in range(60):
        deep = {f"level{i}": [deep, i, None, True, 1.25e-300]}
    for n in names:
        db.create_collection(n)
    db.collection(names[0]).insert_many(
        [
            {
                "_key": "".join(random.Random(i).choice(KEY_CHARS) for _ in range(1 + i % 40))
                + str(i),
                "i": i,
            }
            for i in range(200)
        ]
        + [{"_key": "k" * 254, "long": True}]
    )
    db.collection(names[1]).insert_many(
        [
            {"_key": "deep", "v": deep},
            {
                "_key": "unicode",
                "ключ": "значение",
                "名前": "テスト 🎉",
                "emoji 🧪": ["∑", "\u2028"],
                "ctl": "tab\tnl\ncr\r\x00",
                "quote": '"\\',
            },
            {
                "_key": "numbers",
                "big": 2**62,
                "neg": -(2**53) - 1,
                "f": 0.1,
                "z": -0.0,
                "e": 1e300,
                "list": [],
                "obj": {},
            },
        ]
    )
    before = db_state(db)
    name = sw.create()
    for n in names:
        db.delete_collection(n)
    sw.restore(name)
    assert db_state(db) == before


def test_large_documents_round_trip_in_chunks_of_their_own(sw: SnapWorkspace) -> None:
    db = sw.db()
    c = db.create_collection("big")
    rng = random.Random(5)
    c.insert({"_key": "a", "blob": "x" * 3_000_000})
    c.insert({"_key": "b", "words": [rng.random() for _ in range(250_000)]})  # ~5 MB of JSON
    c.insert_many([{"_key": f"s{i}", "v": i} for i in range(50)])
    before = db_state(db)
    manager = sw.manager()
    info = manager.create("big", include_bulk=False).snapshot
    entry = info.database["collections"]["big"]
    assert entry["bytes"] > 7_000_000
    with manager.repository.open() as opened:  # reading the layout back
        store = opened.store
        sizes = [
            len(store.read(cid))
            for cid in iter_leaves(store, entry["root"], entry["height"], "big")
        ]
    assert sum(1 for s in sizes if s > 1_000_000) == 2  # each large document alone
    db.delete_collection("big")
    sw.restore(info.snapshot_name)
    assert db_state(db) == before


def test_empty_database_and_empty_collections(sw: SnapWorkspace) -> None:
    db = sw.db()
    empty_db = sw.create("nothing")
    db.create_collection("e1")
    db.create_collection("e2", edge=True)
    name = sw.create("empties")
    info = sw.manager().get_snapshot(name)
    assert info.collections == {"e1": 0, "e2": 0}
    before = db_state(db)
    db.collection("e1").insert({"x": 1})
    moved_on = _last_values(db_state(db, with_docs=False))["e1"]
    sw.restore(name)
    after = db_state(db)
    assert _without_last_values(after) == _without_last_values(before)
    assert _last_values(after)["e1"] == moved_on  # never backwards (Restore, step 3)
    sw.restore(empty_db)
    assert db_state(db)["collections"] == {}


def test_server_order_does_not_change_the_chunks(
    sw: SnapWorkspace, arango_server: ArangoTarget
) -> None:
    """Same documents written in two orders (the server scans in write order): same tree."""
    db = sw.db()
    db.create_collection("one").insert_many(
        [{"_key": f"k{i:05d}", "v": i, "pad": "p" * (i % 300)} for i in range(3000)]
    )
    docs = list(documents(db, "one").values())  # with their _rev
    random.Random(3).shuffle(docs)
    db.create_collection("two")
    raw(db, "post", "/_api/document/two", params={"isRestore": True}, data=docs)
    if arango_server.is_test_server:  # it scans in write order: really another order
        query = db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "two"})
        scanned = [d["_key"] for d in query]
        assert scanned == [d["_key"] for d in docs] != sorted(scanned)
    info = sw.manager().create("order", include_bulk=False).snapshot
    one, two = info.database["collections"]["one"], info.database["collections"]["two"]
    assert one["root"] == two["root"] and one["checksum"] == two["checksum"]


def test_dedup_edit_changes_few_chunks_and_diff_names_keys(sw: SnapWorkspace) -> None:
    db = sw.db()
    rng = random.Random(11)
    c = db.create_collection("docs")
    c.insert_many(
        [
            {"_key": f"{i:06d}", "t": " ".join(str(rng.random()) for _ in range(40))}
            for i in range(5000)
        ]
    )
    manager = sw.manager()
    first = manager.create("one", include_bulk=False)
    edited = sorted(rng.sample(range(5000), 20))
    c.update_many([{"_key": f"{i:06d}", "t": "edited"} for i in edited])
    c.insert({"_key": "zz-new", "t": "added"})
    c.delete("000007")
    second = manager.create("two", include_bulk=False)
    leaves = first.snapshot.database["collections"]["docs"]["leaves"]
    # 22 documents changed: at most ~2 leaves each, plus the nodes above them.
    assert second.new_chunks <= 2 * 22 + 3 * 20
    assert second.added_bytes < 0.2 * first.added_bytes
    assert leaves > 500
    diff = manager.diff(first.snapshot.snapshot_name, second.snapshot.snapshot_name).as_dict()
    (coll,) = [c for c in diff["collections"] if c["name"] == "docs"]
    assert coll["keys_added"] == ["zz-new"]
    assert coll["keys_removed"] == ["000007"]
    assert coll["keys_changed"] == [f"{i:06d}" for i in edited if i != 7]
    # Inserts move keyOptions.lastValue and the checksum; the definition is still the same.
    assert coll["structure_changed"] is False


def test_check_finds_every_database_chunk(sw: SnapWorkspace) -> None:
    db = sw.db()
    db.create_collection("c").insert_many(
        [{"_key": f"{i:05d}", "v": "x" * 200} for i in range(3000)]
    )
    manager = sw.manager()
    info = manager.create("refs", include_bulk=False).snapshot
    entry = info.database["collections"]["c"]
    assert entry["height"] >= 2
    with manager.repository.open() as opened:  # reading the layout back
        store = opened.store
        refs = list(iter_database_references(info.database, store, info.snapshot_name))
        assert len({r.chunk for r in refs}) == entry["leaves"] + entry["nodes"]
        assert {r.chunk for r in refs} >= set(
            iter_leaves(store, entry["root"], entry["height"], "c")
        )
        victim = list(iter_leaves(store, entry["root"], entry["height"], "c"))[-1]
        loc = store.locate(victim)
        assert loc is not None
        pack = loc.pack
    assert manager.check().ok
    manager.repository.backend().delete(Kind.PACKS, pack)  # lose the pack holding one leaf
    report = manager.check()
    assert any("collection c" in e for e in report.errors), report.errors


def test_restoring_one_collection_brings_back_only_the_analyzers_it_uses(
    sw: SnapWorkspace,
) -> None:
    db = sw.db()
    db.create_analyzer("used", "delimiter", {"delimiter": ";"}, [])
    db.create_analyzer("unused", "identity", {}, [])
    a = db.create_collection("a")
    a.insert({"_key": "1", "t": "x;y"})
    raw(
        db,
        "post",
        "/_api/index",
        params={"collection": "a"},
        data={"type": "inverted", "name": "inv", "fields": [{"name": "t", "analyzer": "used"}]},
    )
    name = sw.create()
    db.delete_collection("a")
    db.delete_analyzer("used")
    db.delete_analyzer("unused")
    sw.restore(name, collections=["a"])
    names = {x["name"].split("::")[-1] for x in raw(db, "get", "/_api/analyzer")["result"]}
    assert "used" in names and "unused" not in names
    assert [
        i["name"] for i in raw(db, "get", "/_api/index", params={"collection": "a"})["indexes"]
    ][-1] == "inv"
