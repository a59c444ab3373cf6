"""What a restore does on a real 3.12 server, against the strict test server.

User AQL functions come back (and a full restore removes others); a database the restore
creates gets the snapshot's options; a collection of a named graph is rebuilt in place
(3.12 refuses to drop it); TTL indexes come after the verification; a snapshot with vector
indexes fails before anything is touched on a server without the feature; collections are
created the way the target can take them (no cluster or Enterprise attributes on a
Community single server, no replication-factor check, prototypes before followers, followers
dropped first). tests/arango/test_server_strictness.py shows the server's rules.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snapstore.backend import open_backend
from snapstore.base.errors import DatabaseError
from snapstore.base.reporting import Reporter
from snapstore.sources.arangodb.source import ArangoSource
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


@pytest.fixture
def coordinator(arango_server: ArangoTarget) -> Iterator[ArangoTarget]:
    arango_server.require_test_server("a Coordinator")
    arango_server.settings.role = "COORDINATOR"
    yield arango_server


def functions(db: Any) -> list[dict[str, Any]]:
    return sorted(raw(db, "get", "/_api/aqlfunction")["result"], key=lambda f: f["name"])


def test_aql_functions_are_restored_and_a_full_restore_removes_others(sw: SnapWorkspace) -> None:
    db = sw.db()
    db.create_collection("c").insert({"_key": "1"})
    db.aql.create_function("lib::double", "function (a) { return a * 2; }")
    db.aql.create_function("lib::id", "(x) => x")
    snapshot = functions(db)
    name = sw.create()
    db.aql.delete_function("lib::double")
    db.aql.create_function("lib::id", "(x) => [x]")  # changed
    db.aql.create_function("lib::extra", "(x) => 1")  # not in the snapshot

    sw.restore(name)
    assert functions(db) == snapshot

    db.aql.create_function("lib::other", "(x) => 2")
    sw.restore(name, collections=["c"])
    assert [f["name"] for f in functions(db)] == ["lib::double", "lib::id", "lib::other"]


def test_a_database_the_restore_creates_gets_the_snapshots_options(
    coordinator: ArangoTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys_db = coordinator.sys_db()
    source = f"oneshard_{time.monotonic_ns()}"
    sys_db.create_database(source, sharding="single", replication_factor=2, write_concern=2)
    copy = f"{source}_copy"
    try:
        sw = make_workspace(
            ArangoDatabase(coordinator.url, source, coordinator.username, coordinator.password),
            tmp_path,
            monkeypatch,
        )
        sw.db().create_collection("c").insert_many([{"_key": str(i)} for i in range(5)])
        name = sw.create()
        sw.restore(name, target_db=copy)
        current = raw(sw.db(copy), "get", "/_api/database/current")["result"]
        assert (current["sharding"], current["replicationFactor"], current["writeConcern"]) == (
            "single",
            2,
            2,
        )
        assert len(documents(sw.db(copy), "c")) == 5
    finally:
        sys_db.delete_database(copy, ignore_missing=True)
        sys_db.delete_database(source, ignore_missing=True)


def social(db: Any) -> None:
    people = db.create_collection("people")
    people.insert_many([{"_key": f"p{i}", "n": i} for i in range(30)])
    people.add_index({"type": "persistent", "fields": ["n"], "name": "by_n"})
    knows = db.create_collection("knows", edge=True)
    knows.insert_many([{"_from": f"people/p{i}", "_to": f"people/p{i + 1}"} for i in range(10)])
    db.create_graph(
        "social",
        edge_definitions=[
            {
                "edge_collection": "knows",
                "from_vertex_collections": ["people"],
                "to_vertex_collections": ["people"],
            }
        ],
    )


def test_a_graph_collection_is_rebuilt_in_place(sw: SnapWorkspace) -> None:
    db = sw.db()
    social(db)
    before = db_state(db)
    name = sw.create()
    people = db.collection("people")
    people.update({"_key": "p1", "n": -1})
    people.delete("p2")
    people.insert({"_key": "new", "n": 99})
    people.add_index({"type": "persistent", "fields": ["x"], "name": "by_x"})
    raw(db, "put", "/_api/collection/people/properties", data={"waitForSync": True})
    db.collection("knows").insert({"_from": "people/p1", "_to": "people/p3"})
    knows_now = documents(db, "knows")

    report = sw.restore(name, collections=["people"]).database

    after = db_state(db)
    assert after["collections"]["people"] == before["collections"]["people"]
    assert documents(db, "knows") == knows_now  # untouched
    assert after["graphs"] == before["graphs"]
    assert report["replaced"] == ["people"]


def test_a_graph_collection_that_cannot_be_rebuilt_in_place_fails_before_any_change(
    sw: SnapWorkspace,
) -> None:
    db = sw.db()
    social(db)
    name = sw.create()
    # Re-create people with another key generator: truncating it cannot bring that back.
    db.delete_graph("social")
    db.delete_collection("people")
    db.create_collection("people", key_generator="uuid").insert({"n": 1})
    social_graph = [
        {
            "edge_collection": "knows",
            "from_vertex_collections": ["people"],
            "to_vertex_collections": ["people"],
        }
    ]
    db.create_graph("social", edge_definitions=social_graph)
    count = len(sw.manager().list_snapshots())
    with pytest.raises(DatabaseError, match="graph 'social'") as e:
        sw.restore(name, collections=["people"])
    assert "keyOptions" in str(e.value)
    assert len(documents(db, "people")) == 1  # nothing torn down
    assert len(sw.manager().list_snapshots()) == count  # failed before the safety snapshot


def test_ttl_indexes_are_created_after_the_verification(
    sw: SnapWorkspace, arango_server: ArangoTarget
) -> None:
    db = sw.db()
    sessions = db.create_collection("sessions")
    sessions.insert_many([{"_key": str(i), "at": time.time() + 600} for i in range(50)])
    sessions.add_index({"type": "ttl", "fields": ["at"], "expireAfter": 60, "name": "expiry"})
    name = sw.create()
    arango_server.advance_clock(1200)  # every session is now expired ...
    arango_server.settings.ttl_frequency = 0  # ... and the TTL thread runs all the time

    report = sw.restore(name).database

    assert report["verified"] and report["collections"]["sessions"]["count"] == 50
    assert any("TTL index" in w for w in report["warnings"])
    indexes = raw(db, "get", "/_api/index", params={"collection": "sessions"})["indexes"]
    assert "expiry" in [i["name"] for i in indexes]


def test_vector_indexes_on_a_server_without_the_feature_fail_before_any_change(
    sw: SnapWorkspace, arango_server: ArangoTarget
) -> None:
    arango_server.require_test_server("switching the vector index feature")
    arango_server.settings.vector_index = True
    db = sw.db()
    emb = db.create_collection("emb")
    emb.insert_many([{"_key": str(i), "v": [float(i), 1.0]} for i in range(10)])
    emb.add_index(
        {
            "type": "vector",
            "name": "vec",
            "fields": ["v"],
            "params": {"metric": "l2", "dimension": 2, "nLists": 2},
        }
    )
    name = sw.create()
    emb.insert({"_key": "later", "v": [0.0, 0.0]})
    arango_server.settings.vector_index = False
    count = len(sw.manager().list_snapshots())

    with pytest.raises(DatabaseError, match="vector index") as e:
        sw.restore(name)
    assert "--vector-index" in str(e.value)
    assert "later" in documents(db, "emb")  # nothing torn down
    assert len(sw.manager().list_snapshots()) == count  # no safety snapshot either


def test_a_single_community_server_takes_a_clusters_enterprise_collections(
    coordinator: ArangoTarget, sw: SnapWorkspace
) -> None:
    coordinator.settings.license = "enterprise"
    db = sw.db()
    for body in (
        {"name": "sharded", "numberOfShards": 3, "replicationFactor": 2, "shardKeys": ["a"]},
        {"name": "follower", "distributeShardsLike": "sharded"},
        {"name": "sat", "replicationFactor": "satellite"},
        {"name": "joined", "numberOfShards": 3, "smartJoinAttribute": "j", "shardKeys": ["j:"]},
    ):
        raw(db, "post", "/_api/collection", data=body)
        db.collection(body["name"]).insert_many([{"a": i, "j": str(i)} for i in range(5)])
    name = sw.create()
    coordinator.settings.role = "SINGLE"
    coordinator.settings.license = "community"
    target = f"{sw.target.db_name}_single"
    try:
        report = sw.restore(name, target_db=target).database
        copy = sw.db(target)
        for c in ("sharded", "follower", "sat", "joined"):
            assert len(documents(copy, c)) == 5
        warned = " ".join(report["warnings"])
        assert "numberOfShards" in warned and "smartJoinAttribute" in warned
    finally:
        coordinator.sys_db().delete_database(target, ignore_missing=True)


def test_replication_factor_is_not_enforced_and_followers_are_dropped_first(
    coordinator: ArangoTarget, sw: SnapWorkspace
) -> None:
    db = sw.db()
    raw(db, "post", "/_api/collection", data={"name": "a_proto", "replicationFactor": 3})
    raw(
        db, "post", "/_api/collection", data={"name": "b_follow", "distributeShardsLike": "a_proto"}
    )
    db.collection("a_proto").insert_many([{"_key": str(i)} for i in range(5)])
    db.collection("b_follow").insert_many([{"_key": str(i)} for i in range(5)])
    name = sw.create()
    db.collection("b_follow").insert({"_key": "extra"})
    coordinator.settings.db_servers = 2  # fewer DB-Servers than the snapshot's replication

    sw.restore(name)
    assert len(documents(db, "b_follow")) == 5

    # A prototype with live followers cannot be dropped (1485): rebuilt in place instead.
    db.collection("a_proto").insert({"_key": "extra"})
    sw.restore(name, collections=["a_proto"])
    assert len(documents(db, "a_proto")) == 5


def test_a_write_landing_during_the_restore_fails_the_default_verification(
    sw: SnapWorkspace,
) -> None:
    db = sw.db()
    for c in ("a", "b"):
        db.create_collection(c).insert_many([{"_key": str(i), "v": i} for i in range(20)])
    name = sw.create()
    # b is reloaded (its definition changed), a is kept as it is (restore by difference, with
    # nothing to write): the late write to a is caught all the same.
    db.collection("b").add_index({"type": "persistent", "fields": ["v"], "name": "late"})

    def meddle(label: str) -> None:
        if label == "Restoring b":  # a is restored: a late write replaces one of its documents
            db.collection("a").replace({"_key": "1", "v": 99})

    reporter = RecordingReporter(on_start=meddle)
    with pytest.raises(DatabaseError, match="differ from the snapshot: a "):
        sw.manager(reporter).restore_snapshot(
            name, confirm=True, restore_bulk=False, safety_snapshot=False
        )


def test_verify_reads_every_document_back(sw: SnapWorkspace) -> None:
    db = sw.db()
    db.create_collection("c").insert_many([{"_key": str(i), "v": i} for i in range(20)])
    name = sw.create()
    section = sw.manager().get_snapshot(name).database
    source = ArangoSource(sw.arango(), Reporter())
    store = ChunkStore.open(open_backend(str(sw.repo)), str(sw.root / "cache"))
    try:
        fast = source.restore(store, section, Reporter())
        full = source.restore(store, section, Reporter(), verify=True)
    finally:
        store.close()
        source.close()
    assert fast["collections"]["c"]["read_back"] == "keys and revisions"
    assert full["collections"]["c"]["read_back"] == "documents"
    assert full["collections"]["c"]["checksum_ok"] and full["collections"]["c"]["count"] == 20
