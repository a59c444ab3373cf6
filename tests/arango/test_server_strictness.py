"""The test server refuses what ArangoDB 3.12 refuses, so the product cannot rely on leniency.

Each test is one rule of tests/arango_server/README.md ("What ArangoDB refuses, and so do
we"), asserted over real HTTP with python-arango. Rules that need a server setting (a
Coordinator role, the vector index flag, a TTL sweep now) skip against a real ArangoDB.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from arango.database import StandardDatabase
from arango.request import Request

from tests.arango.conftest import ArangoDatabase, ArangoTarget


def call(db: StandardDatabase, method: str, endpoint: str, **kwargs: Any) -> tuple[int, Any]:
    resp = db.request(Request(method=method, endpoint=endpoint, **kwargs))
    return resp.status_code, resp.body


def error_of(body: Any) -> int | None:
    return body.get("errorNum") if isinstance(body, dict) else None


def batch_get(db: StandardDatabase, headers: dict[str, str]) -> tuple[int, Any]:
    """A read in the transaction that python-arango does not retry (a GET answered 500 is
    retried with back-off)."""
    return call(
        db, "put", "/_api/document/c", params={"onlyget": True}, data=["a"], headers=headers
    )


@pytest.fixture
def db(arango_db: ArangoDatabase) -> StandardDatabase:
    return arango_db.db()


# -- graphs -------------------------------------------------------------------------------


def test_collections_of_a_named_graph_cannot_be_dropped(db: StandardDatabase) -> None:
    db.create_graph(
        "g",
        edge_definitions=[
            {
                "edge_collection": "knows",
                "from_vertex_collections": ["people"],
                "to_vertex_collections": ["people"],
            }
        ],
        orphan_collections=["lonely"],
    )
    for name, role in (("people", "vertex"), ("knows", "edge"), ("lonely", "orphan")):
        status, body = call(db, "delete", f"/_api/collection/{name}")
        assert (status, error_of(body)) == (500, 1942), body
        assert role in body["errorMessage"] and "'g'" in body["errorMessage"]
        assert db.has_collection(name)
    # Truncating is allowed, and so is dropping once the graph is gone.
    assert call(db, "put", "/_api/collection/people/truncate")[0] == 200
    db.delete_graph("g", drop_collections=False)
    assert call(db, "delete", "/_api/collection/people")[0] == 200


# -- stream transactions --------------------------------------------------------------------


def _slow_in_thread(
    fn: Any, server: ArangoTarget, trx_id: str
) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` (a request in transaction ``trx_id``) in a thread; return once the server
    holds its lease, so that the caller's request is certainly the second one."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as e:
            out.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    leases = server.require_test_server("watching leases").app.leases
    deadline = time.monotonic() + 30
    while not leases.held(trx_id):
        assert thread.is_alive() or not out, f"the request ended without a lease: {out}"
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.005)
    return thread, out


def test_a_stream_transaction_in_use_by_a_writer_refuses_a_second_request(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    arango_server.require_test_server("slowing requests down")
    db.create_collection("c")
    trx = db.begin_transaction(read=["c"], write=["c"])
    headers = {"x-arango-trx-id": trx.transaction_id}
    arango_server.settings.request_delay = 0.5
    arango_server.settings.stream_trx_lock_timeout = 0.2
    thread, out = _slow_in_thread(
        lambda: call(db, "post", "/_api/document/c", data={"_key": "a"}, headers=headers),
        arango_server,
        trx.transaction_id,
    )
    status, body = batch_get(db, headers)
    thread.join()
    assert (status, error_of(body)) == (500, 28)
    assert "is already in use" in body["errorMessage"]
    assert out[0][0] in (201, 202)  # the first request was not disturbed
    trx.abort_transaction()


def test_parallel_reads_share_a_transaction_on_a_single_server_but_not_on_a_coordinator(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    arango_server.require_test_server("slowing requests down")
    db.create_collection("c")
    trx = db.begin_transaction(read=["c"])
    headers = {"x-arango-trx-id": trx.transaction_id}
    arango_server.settings.request_delay = 0.4
    arango_server.settings.stream_trx_lock_timeout = 0.1
    thread, _ = _slow_in_thread(lambda: batch_get(db, headers), arango_server, trx.transaction_id)
    assert batch_get(db, headers)[0] == 200
    thread.join()

    arango_server.settings.role = "COORDINATOR"
    thread, _ = _slow_in_thread(lambda: batch_get(db, headers), arango_server, trx.transaction_id)
    status, body = batch_get(db, headers)
    thread.join()
    assert (status, error_of(body)) == (500, 28)


# -- indexes --------------------------------------------------------------------------------


def test_vector_indexes_need_the_server_flag(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    col = db.create_collection("v")
    col.insert_many([{"emb": [1.0, 0.0]}, {"emb": [0.0, 1.0]}])
    definition = {
        "type": "vector",
        "fields": ["emb"],
        "params": {"metric": "cosine", "dimension": 2, "nLists": 1},
    }
    status, body = call(db, "post", "/_api/index", params={"collection": "v"}, data=definition)
    if status == 201:
        pytest.skip("this ArangoDB runs with --experimental-vector-index")
    assert (status, error_of(body)) == (400, 10)
    assert "vector index feature is not enabled" in body["errorMessage"]
    arango_server.require_test_server("turning the vector index flag on")
    arango_server.settings.vector_index = True
    status, body = call(db, "post", "/_api/index", params={"collection": "v"}, data=definition)
    assert status == 201, body


def test_unknown_index_types_are_refused(db: StandardDatabase) -> None:
    db.create_collection("c")
    status, body = call(
        db,
        "post",
        "/_api/index",
        params={"collection": "c"},
        data={"type": "btree", "fields": ["a"]},
    )
    assert (status, error_of(body)) == (400, 10)


def test_indexes_being_built_and_view_links_are_hidden_unless_asked_for(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    arango_server.require_test_server("slow background index builds")
    arango_server.settings.index_build_seconds = 60
    db.create_collection("c")
    definition = {"type": "persistent", "fields": ["a"], "name": "slow", "inBackground": True}
    assert call(db, "post", "/_api/index", params={"collection": "c"}, data=definition)[0] == 201
    db.create_view("v", "arangosearch", {"links": {"c": {"includeAllFields": True}}})

    def names(**params: Any) -> dict[str, dict[str, Any]]:
        body = call(db, "get", "/_api/index", params={"collection": "c", **params})[1]
        return {i["name"]: i for i in body["indexes"]}

    assert set(names()) == {"primary"}
    hidden = names(withHidden=True)
    assert hidden["slow"]["isBuilding"] is True
    assert [i["type"] for i in hidden.values()].count("arangosearch") == 1
    arango_server.advance_clock(61)
    assert set(names()) == {"primary", "slow"} and "isBuilding" not in names()["slow"]


def test_the_ttl_thread_removes_expired_documents(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    arango_server.require_test_server("running the TTL sweep now")
    col = db.create_collection("c")
    col.insert_many(
        [
            {"_key": "old", "t": time.time() - 7200},
            {"_key": "iso", "t": "2001-01-01T00:00:00Z"},
            {"_key": "new", "t": 4102444800},  # 2100: the server clock may run ahead
            {"_key": "text", "t": "not a date"},
        ]
    )
    col.add_index({"type": "ttl", "fields": ["t"], "expireAfter": 3600})
    arango_server.advance_clock(31)  # --ttl.frequency is 30 s
    assert col.count() == 2
    assert {d["_key"] for d in col.get_many(["new", "text", "old"])} == {"new", "text"}


# -- cluster and Enterprise attributes ------------------------------------------------------


def test_a_single_server_refuses_cluster_attributes_but_takes_its_own_properties(
    db: StandardDatabase,
) -> None:
    for extra in (
        {"numberOfShards": 3},
        {"replicationFactor": 2},
        {"shardKeys": ["a"]},
        {"distributeShardsLike": "other"},
    ):
        status, body = call(db, "post", "/_api/collection", data={"name": "c", **extra})
        assert (status, error_of(body)) == (400, 10), (extra, body)
        assert not db.has_collection("c")
    db.create_collection("proto")
    props = call(db, "get", "/_api/collection/proto/properties")[1]
    keep = ("writeConcern", "waitForSync", "cacheEnabled", "keyOptions", "type")
    status, body = call(
        db, "post", "/_api/collection", data={"name": "copy", **{k: props[k] for k in keep}}
    )
    assert status == 200, body


def test_a_community_server_refuses_enterprise_attributes(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    arango_server.require_test_server("the Community Edition")
    for extra in (
        {"isSmart": True},
        {"smartJoinAttribute": "x"},
        {"replicationFactor": "satellite"},
    ):
        status, body = call(db, "post", "/_api/collection", data={"name": "c", **extra})
        assert (status, error_of(body)) == (501, 31), (extra, body)


def test_a_coordinator_checks_replication_and_shard_prototypes(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    arango_server.require_test_server("a Coordinator")
    arango_server.settings.role = "COORDINATOR"
    create = {"name": "proto", "numberOfShards": 3, "replicationFactor": 5}
    status, body = call(db, "post", "/_api/collection", data=create)
    assert (status, error_of(body)) == (500, 1487)
    status, _ = call(
        db, "post", "/_api/collection", data=create, params={"enforceReplicationFactor": False}
    )
    assert status == 200
    follower = {"name": "follower", "distributeShardsLike": "proto"}
    status, body = call(db, "post", "/_api/collection", data={**follower, "numberOfShards": 2})
    assert (status, error_of(body)) == (400, 10)
    assert call(db, "post", "/_api/collection", data=follower)[0] == 200
    props = call(db, "get", "/_api/collection/follower/properties")[1]
    assert (props["numberOfShards"], props["replicationFactor"]) == (3, 5)
    status, body = call(
        db, "post", "/_api/collection", data={"name": "x", "distributeShardsLike": "nope"}
    )
    assert error_of(body) == 1486
    status, body = call(db, "delete", "/_api/collection/proto")
    assert (status, error_of(body)) == (500, 1485)
    assert call(db, "delete", "/_api/collection/follower")[0] == 200
    assert call(db, "delete", "/_api/collection/proto")[0] == 200


def test_database_options_are_kept_by_a_coordinator(arango_server: ArangoTarget) -> None:
    arango_server.require_test_server("a Coordinator")
    arango_server.settings.role = "COORDINATOR"
    sys_db = arango_server.sys_db()
    name = f"oneshard_{time.monotonic_ns()}"
    sys_db.create_database(name, sharding="single", replication_factor=2, write_concern=2)
    try:
        db = arango_server.client().db(name, arango_server.username, arango_server.password)
        props = call(db, "get", "/_api/database/current")[1]["result"]
        assert (props["sharding"], props["replicationFactor"], props["writeConcern"]) == (
            "single",
            2,
            2,
        )
        db.create_collection("c")
        coll = call(db, "get", "/_api/collection/c/properties")[1]
        assert coll["distributeShardsLike"] == "_graphs" and coll["replicationFactor"] == 2
        assert call(db, "get", "/_admin/server/role")[1]["role"] == "COORDINATOR"
    finally:
        sys_db.delete_database(name)


# -- user-defined AQL functions ---------------------------------------------------------------


def test_aql_functions_register_list_and_delete(db: StandardDatabase) -> None:
    code = "function (a) { return a * 2; }"
    assert db.aql.create_function("my::double", code) == {"is_new": True}
    assert db.aql.create_function("MY::Double", code) == {"is_new": False}  # same name
    db.aql.create_function("my::sub::id", "(x) => x")
    db.aql.create_function("other::f", code)
    listed = db.aql.functions()
    assert sorted(f["name"] for f in listed) == ["MY::Double", "my::sub::id", "other::f"]
    status, body = call(db, "get", "/_api/aqlfunction", params={"namespace": "my"})
    assert sorted(f["name"] for f in body["result"]) == ["MY::Double", "my::sub::id"]
    assert {f["name"]: f["isDeterministic"] for f in body["result"]}["MY::Double"] is False

    for bad in ({"name": "nonamespace", "code": code}, {"name": "a::b", "code": "1 + 1"}):
        status, body = call(db, "post", "/_api/aqlfunction", data=bad)
        assert status == 400 and error_of(body) in (1580, 1581), body
    status, body = call(db, "delete", "/_api/aqlfunction/no::such")
    assert (status, error_of(body)) == (404, 1582)
    assert db.aql.delete_function("my", group=True) == {"deleted": 2}
    assert [f["name"] for f in db.aql.functions()] == ["other::f"]


# -- analyzers and cursors --------------------------------------------------------------------


def test_analyzers_of_system_are_listed_in_every_database(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    sys_db = arango_server.sys_db()
    name = f"shared_{time.monotonic_ns()}"
    sys_db.create_analyzer(name, "identity", {}, [])
    try:
        names = {a["name"] for a in db.analyzers()}
        assert f"_system::{name}" in names
        assert call(db, "get", f"/_api/analyzer/_system::{name}")[0] == 200
    finally:
        sys_db.delete_analyzer(name)


def test_a_lost_batch_is_fetched_again_by_its_batch_id(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": f"k{i:02d}"} for i in range(5)])
    body = call(
        db,
        "post",
        "/_api/cursor",
        data={
            "query": "FOR d IN @@c SORT d._key RETURN d._key",
            "bindVars": {"@c": "c"},
            "batchSize": 2,
            "options": {"allowRetry": True},
        },
    )[1]
    if error_of(body) == 1501:  # the test server knows only whole-document queries
        body = call(
            db,
            "post",
            "/_api/cursor",
            data={
                "query": "FOR d IN @@c SORT d._key RETURN d",
                "bindVars": {"@c": "c"},
                "batchSize": 2,
                "options": {"allowRetry": True},
            },
        )[1]
    cursor, next_id = body["id"], body["nextBatchId"]
    arango_server.fail_after(0, "lose", path_pattern=f"/_api/cursor/{cursor}", times=1)
    with pytest.raises(ConnectionAbortedError):
        arango_server.client(fast_fail=True).db(
            db.name, arango_server.username, arango_server.password
        ).request(Request(method="post", endpoint=f"/_api/cursor/{cursor}/{next_id}"))
    status, again = call(db, "post", f"/_api/cursor/{cursor}/{next_id}")
    assert status == 200
    assert [d["_key"] if isinstance(d, dict) else d for d in again["result"]] == ["k02", "k03"]
    assert call(db, "delete", f"/_api/cursor/{cursor}")[0] == 202
