"""python-arango (unmodified) against the ArangoDB test server, over real HTTP.

Each test checks what a client notices: response bodies as python-arango
returns them, error numbers on its exceptions (`error_code` / `http_code`),
transaction isolation, cursor batching and expiry, JWT login and refresh,
import counts, schema rejection, and the fault-injection controls.

Most tests also hold for a real ArangoDB 3.12 (set SNAPSTORE_TEST_ARANGO_URL);
those that need the test server's controls skip there.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from typing import Any

import pytest
import requests
from arango.database import StandardDatabase
from arango.exceptions import (
    AnalyzerCreateError,
    AnalyzerDeleteError,
    AnalyzerGetError,
    AQLQueryExecuteError,
    ArangoServerError,
    CollectionCreateError,
    CollectionDeleteError,
    CollectionPropertiesError,
    CollectionRenameError,
    CursorNextError,
    DatabaseCreateError,
    DatabaseDeleteError,
    DocumentInsertError,
    DocumentReplaceError,
    DocumentRevisionError,
    DocumentUpdateError,
    GraphCreateError,
    GraphDeleteError,
    GraphPropertiesError,
    IndexCreateError,
    IndexDeleteError,
    ServerConnectionError,
    ServerVersionError,
    TransactionCommitError,
    TransactionFetchError,
    TransactionInitError,
    ViewCreateError,
    ViewDeleteError,
    ViewGetError,
)
from arango.request import Request
from arango.response import Response

from .conftest import ArangoDatabase, ArangoTarget

# -- helpers --------------------------------------------------------------------------


@pytest.fixture
def db(arango_db: ArangoDatabase) -> StandardDatabase:
    return arango_db.db()


def call(
    db: StandardDatabase,
    method: str,
    endpoint: str,
    data: Any = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A raw request through python-arango (for fields its methods cannot send)."""
    return db.request(Request(method, endpoint, headers=headers, params=params, data=data))


def create_collection_raw(db: StandardDatabase, body: dict[str, Any]) -> dict[str, Any]:
    resp = call(db, "post", "/_api/collection", body)
    assert resp.status_code == 200, resp.body
    return resp.body


def raw_properties(db: StandardDatabase, name: str) -> dict[str, Any]:
    return call(db, "get", f"/_api/collection/{name}/properties").body


def assert_server_error(exc: pytest.ExceptionInfo, http_code: int, error_code: int) -> None:
    err = exc.value
    assert isinstance(err, ArangoServerError)
    assert (err.http_code, err.error_code) == (http_code, error_code), str(err)


# -- server, authentication, databases -------------------------------------------------


def test_version_and_basic_auth(arango_server: ArangoTarget) -> None:
    sys_db = arango_server.sys_db(verify=True)
    assert re.match(r"^3\.\d+", sys_db.version())
    assert "_system" in sys_db.databases()
    props = sys_db.properties()
    assert props["name"] == "_system" and props["system"] is True


def test_wrong_password_is_401_with_errornum_11(arango_server: ArangoTarget) -> None:
    client = arango_server.client()
    with pytest.raises(ServerConnectionError):
        client.db("_system", arango_server.username, "wrong", verify=True)
    bad = client.db("_system", arango_server.username, "wrong")
    with pytest.raises(ServerVersionError) as exc:
        bad.version()
    assert_server_error(exc, 401, 11)
    # The JSON error body and the authentication challenge.
    resp = requests.get(f"{arango_server.url}/_api/version", timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {
        "error": True,
        "code": 401,
        "errorNum": 11,
        "errorMessage": "not authorized to execute this request",
    }
    assert "Www-Authenticate" in resp.headers


def test_jwt_login_token_claims(arango_server: ArangoTarget) -> None:
    resp = requests.post(
        f"{arango_server.url}/_open/auth",
        json={"username": arango_server.username, "password": arango_server.password},
        timeout=10,
    )
    assert resp.status_code == 200
    token = resp.json()["jwt"]
    header_part, payload_part, _ = token.split(".")

    def decode(part: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    assert decode(header_part)["alg"] == "HS256"
    claims = decode(payload_part)
    assert claims["iss"] == "arangodb"
    assert claims["preferred_username"] == arango_server.username
    assert claims["iat"] <= time.time() + 1 < claims["exp"]
    bad = requests.post(
        f"{arango_server.url}/_open/auth", json={"username": "root", "password": "x"}, timeout=10
    )
    assert bad.status_code == 401


def test_jwt_auth_and_refresh(arango_server: ArangoTarget, arango_db: ArangoDatabase) -> None:
    client = arango_server.client()
    db = client.db(arango_db.db_name, arango_db.user, arango_db.password, auth_method="jwt")
    db.create_collection("c")
    first_token = db.conn._token
    # Server no longer accepts the token: python-arango gets 401/11, logs in again, retries.
    arango_server.revoke_tokens()
    assert db.collection("c").count() == 0
    assert db.conn._token != first_token
    # Server clock beyond the token's exp (client still thinks it valid): refreshed too.
    second_token = db.conn._token
    arango_server.advance_clock(arango_server.settings.jwt_lifetime + 60)
    assert db.collection("c").count() == 0
    assert db.conn._token != second_token


def test_bearer_with_garbage_token_is_401(arango_server: ArangoTarget) -> None:
    resp = requests.get(
        f"{arango_server.url}/_api/version",
        headers={"Authorization": "bearer not.a.token", "X-Omit-Www-Authenticate": "1"},
        timeout=10,
    )
    assert resp.status_code == 401 and resp.json()["errorNum"] == 11
    assert "Www-Authenticate" not in resp.headers


def test_query_booleans_accept_1_0_and_true_false(db: StandardDatabase) -> None:
    # python-arango sends booleans as 1/0 (e.g. excludeSystem=True -> "1").
    for value in ("1", "true", True):
        resp = call(db, "get", "/_api/collection", params={"excludeSystem": value})
        assert resp.body["result"] == []
    for value in ("0", "false", False):
        resp = call(db, "get", "/_api/collection", params={"excludeSystem": value})
        assert {"_graphs", "_analyzers"} <= {c["name"] for c in resp.body["result"]}


def test_databases_create_list_current_drop(arango_server: ArangoTarget) -> None:
    sys_db = arango_server.sys_db()
    name = "t_protocol_dbs"
    sys_db.delete_database(name, ignore_missing=True)
    assert sys_db.create_database(name) is True
    assert name in sys_db.databases()
    with pytest.raises(DatabaseCreateError) as exc:
        sys_db.create_database(name)
    assert_server_error(exc, 409, 1207)
    other = arango_server.client().db(name, arango_server.username, arango_server.password)
    assert other.properties()["name"] == name
    assert sys_db.delete_database(name) is True
    with pytest.raises(DatabaseDeleteError) as exc:
        sys_db.delete_database(name)
    assert_server_error(exc, 404, 1228)
    assert sys_db.delete_database(name, ignore_missing=True) is False


def test_unknown_database_is_404_1228(arango_server: ArangoTarget) -> None:
    missing = arango_server.client().db(
        "t_no_such_db", arango_server.username, arango_server.password
    )
    with pytest.raises(ServerVersionError) as exc:
        missing.version()
    assert_server_error(exc, 404, 1228)


# -- collections ----------------------------------------------------------------------


def test_collection_list_includes_system_collections(db: StandardDatabase) -> None:
    db.create_collection("docs")
    db.create_collection("links", edge=True)
    listed = call(db, "get", "/_api/collection").body["result"]
    by_name = {c["name"]: c for c in listed}
    for entry in listed:
        assert {"id", "name", "status", "type", "isSystem", "globallyUniqueId"} <= set(entry)
    assert by_name["_graphs"]["isSystem"] and by_name["_analyzers"]["isSystem"]
    assert by_name["docs"]["type"] == 2 and by_name["links"]["type"] == 3
    assert not by_name["docs"]["isSystem"]
    names = {c["name"] for c in db.collections()}
    assert {"docs", "links", "_graphs", "_analyzers"} <= names


def test_collection_properties_full_set(db: StandardDatabase) -> None:
    schema = {"rule": {"type": "object"}, "level": "moderate", "message": "bad doc"}
    computed = [{"name": "x", "expression": "RETURN 1", "overwrite": True}]
    create_collection_raw(
        db,
        {
            "name": "c",
            "waitForSync": True,
            "cacheEnabled": True,
            "schema": schema,
            "computedValues": computed,
            "keyOptions": {"type": "traditional", "allowUserKeys": True, "lastValue": 5000},
        },
    )
    props = raw_properties(db, "c")
    expected_keys = {
        "writeConcern",
        "waitForSync",
        "usesRevisionsAsDocumentIds",
        "syncByRevision",
        "statusString",
        "id",
        "isSmartChild",
        "schema",
        "name",
        "type",
        "status",
        "cacheEnabled",
        "isSystem",
        "internalValidatorType",
        "globallyUniqueId",
        "keyOptions",
        "computedValues",
        "objectId",
    }
    assert expected_keys <= set(props)
    assert props["waitForSync"] is True and props["cacheEnabled"] is True
    assert props["schema"] == {**schema, "type": "json"}
    assert props["computedValues"][0]["computeOn"] == ["insert", "update", "replace"]
    assert props["keyOptions"] == {"allowUserKeys": True, "type": "traditional", "lastValue": 5000}
    # python-arango's formatted view of the same properties.
    formatted = db.collection("c").properties()
    assert formatted["key_options"]["key_last_value"] == 5000


def test_key_generators_and_last_value(db: StandardDatabase) -> None:
    create_collection_raw(
        db, {"name": "trad", "keyOptions": {"type": "traditional", "lastValue": 10**12}}
    )
    key = db.collection("trad").insert({})["_key"]
    assert int(key) == 10**12 + 1
    assert raw_properties(db, "trad")["keyOptions"]["lastValue"] == 10**12 + 1

    create_collection_raw(
        db,
        {"name": "auto", "keyOptions": {"type": "autoincrement", "increment": 5, "offset": 10}},
    )
    auto = db.collection("auto")
    assert auto.insert({})["_key"] == "10"
    assert auto.insert({})["_key"] == "15"
    auto.insert({"_key": "42"})  # user keys raise lastValue
    assert auto.insert({})["_key"] == "45"
    with pytest.raises(DocumentInsertError) as exc:
        auto.insert({"_key": "abc"})  # autoincrement keys must be numeric
    assert_server_error(exc, 400, 1221)
    auto_props = raw_properties(db, "auto")["keyOptions"]
    assert (auto_props["increment"], auto_props["offset"], auto_props["lastValue"]) == (5, 10, 45)

    create_collection_raw(db, {"name": "pad", "keyOptions": {"type": "padded"}})
    padded = [db.collection("pad").insert({})["_key"] for _ in range(3)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", k) for k in padded)
    assert padded == sorted(padded)

    create_collection_raw(db, {"name": "uu", "keyOptions": {"type": "uuid"}})
    uuid_key = db.collection("uu").insert({})["_key"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", uuid_key)
    assert "lastValue" not in raw_properties(db, "uu")["keyOptions"]

    with pytest.raises(CollectionCreateError) as exc:
        db.create_collection("bad", key_generator="nonsense")
    assert_server_error(exc, 400, 1232)


def test_user_keys_validation_and_allow_user_keys(db: StandardDatabase) -> None:
    closed = db.create_collection("closed", user_keys=False)
    with pytest.raises(DocumentInsertError) as exc:
        closed.insert({"_key": "mine"})
    assert_server_error(exc, 400, 1222)
    # isRestore accepts user keys anyway (what a restore needs).
    resp = call(db, "post", "/_api/document/closed", {"_key": "mine"}, {"isRestore": "true"})
    assert resp.status_code == 202 and resp.body["_key"] == "mine"

    open_ = db.create_collection("open")
    for bad_key in ("has space", "a/b", "é", "x" * 255, ""):
        with pytest.raises(DocumentInsertError) as exc:
            open_.insert({"_key": bad_key})
        assert_server_error(exc, 400, 1221)
    legal = "aZ0_-:.@()+,=;$!*'%"
    assert open_.insert({"_key": legal})["_key"] == legal
    assert open_.get(legal)["_key"] == legal


def test_collection_properties_update(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    schema = {"rule": {"type": "object", "required": ["a"]}, "level": "strict", "message": "m"}
    resp = call(
        db,
        "put",
        "/_api/collection/c/properties",
        {
            "schema": schema,
            "computedValues": [{"name": "v", "expression": "RETURN 7", "overwrite": False}],
            "cacheEnabled": True,
            "waitForSync": True,
        },
    )
    assert resp.status_code == 200
    props = raw_properties(db, "c")
    assert props["schema"]["rule"] == schema["rule"] and props["cacheEnabled"] is True
    assert props["waitForSync"] is True and props["computedValues"][0]["name"] == "v"
    col.configure(computed_values=[])
    call(db, "put", "/_api/collection/c/properties", {"schema": None})
    props = raw_properties(db, "c")
    assert props["schema"] is None and props["computedValues"] is None


def test_collection_count_figures_truncate_rename_drop(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": str(i), "v": "x" * 10} for i in range(7)])
    assert col.count() == 7
    stats = col.statistics()
    assert stats["documents_size"] > 0
    assert isinstance(col.revision(), str)
    assert isinstance(col.checksum(), str)
    col.truncate()
    assert col.count() == 0
    db.create_collection("other")
    with pytest.raises(CollectionRenameError) as exc:
        col.rename("other")
    assert_server_error(exc, 409, 1207)
    col.rename("renamed")
    assert db.has_collection("renamed") and not db.has_collection("c")
    assert db.delete_collection("renamed") is True
    with pytest.raises(CollectionDeleteError) as exc:
        db.delete_collection("renamed")
    assert_server_error(exc, 404, 1203)
    assert db.delete_collection("renamed", ignore_missing=True) is False
    with pytest.raises(CollectionDeleteError) as exc:
        db.delete_collection("_graphs")
    assert exc.value.http_code == 403
    with pytest.raises(CollectionPropertiesError) as exc:
        db.collection("missing").properties()
    assert_server_error(exc, 404, 1203)
    with pytest.raises(CollectionCreateError) as exc:
        db.create_collection("other")
    assert_server_error(exc, 409, 1207)
    with pytest.raises(CollectionCreateError) as exc:
        db.create_collection("1bad name")
    assert_server_error(exc, 400, 1208)


# -- indexes --------------------------------------------------------------------------


def test_index_list_create_delete(db: StandardDatabase) -> None:
    db.create_collection("e", edge=True)
    edges = db.collection("e")
    listed = call(db, "get", "/_api/index", params={"collection": "e"}).body
    types = {ix["type"]: ix for ix in listed["indexes"]}
    assert types["primary"]["id"] == "e/0" and types["primary"]["fields"] == ["_key"]
    assert types["edge"]["fields"] == ["_from", "_to"]
    assert set(listed["identifiers"]) == {ix["id"] for ix in listed["indexes"]}

    definition = {"type": "persistent", "fields": ["a", "b"], "name": "ab", "unique": False}
    first = call(db, "post", "/_api/index", definition, {"collection": "e"})
    again = call(db, "post", "/_api/index", definition, {"collection": "e"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.body["isNewlyCreated"] is True and again.body["isNewlyCreated"] is False
    assert first.body["id"] == again.body["id"] and first.body["id"].startswith("e/")

    # Definitions of other index types are stored verbatim (plus id and name).
    extra = [
        {"type": "ttl", "fields": ["t"], "expireAfter": 3600},
        {"type": "geo", "fields": ["loc"], "geoJson": True},
        {"type": "fulltext", "fields": ["txt"], "minLength": 3},
        {"type": "mdi-prefixed", "fields": ["x", "y"], "prefixFields": ["p"]},
        {"type": "zkd", "fields": ["x", "y"], "fieldValueTypes": "double"},
        {"type": "inverted", "fields": [{"name": "txt", "analyzer": "text_en"}], "name": "inv"},
    ]
    for definition in extra:
        created = edges.add_index(definition)
        assert created["name"] and created["id"]
        for key, value in definition.items():
            assert created[key] == value
    raw = call(db, "get", "/_api/index", params={"collection": "e"}).body["indexes"]
    mdi = next(ix for ix in raw if ix["type"] == "mdi-prefixed")
    assert mdi["prefixFields"] == ["p"]

    index_id = first.body["id"].split("/")[1]
    assert edges.delete_index(index_id) is True
    with pytest.raises(IndexDeleteError) as exc:
        edges.delete_index(index_id)
    assert_server_error(exc, 404, 1212)
    assert edges.delete_index(index_id, ignore_missing=True) is False


def test_unique_index_enforced(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": "1", "email": "a@x"}, {"_key": "2", "email": "b@x"}])
    col.add_index({"type": "persistent", "fields": ["email"], "unique": True, "sparse": True})
    with pytest.raises(DocumentInsertError) as exc:
        col.insert({"email": "a@x"})
    assert_server_error(exc, 409, 1210)
    col.insert({"other": 1})  # sparse: documents without the attribute are not indexed
    col.insert({"other": 2})
    with pytest.raises(DocumentUpdateError) as exc:
        col.update({"_key": "2", "email": "a@x"})
    assert_server_error(exc, 409, 1210)
    # A unique index cannot be created over existing duplicates.
    col.insert_many([{"n": 1}, {"n": 1}])
    with pytest.raises(IndexCreateError) as exc:
        col.add_index({"type": "persistent", "fields": ["n"], "unique": True})
    assert_server_error(exc, 409, 1210)


def test_vector_index_needs_data_first(arango_server: ArangoTarget, db: StandardDatabase) -> None:
    # A real 3.12 server also needs --experimental-vector-index for this.
    arango_server.require_test_server("vector index training rules")
    arango_server.settings.vector_index = True
    col = db.create_collection("v")
    definition = {
        "type": "vector",
        "fields": ["emb"],
        "params": {"metric": "cosine", "dimension": 2, "nLists": 2},
    }
    with pytest.raises(IndexCreateError) as exc:
        col.add_index(definition)
    assert exc.value.http_code == 400
    col.insert_many([{"emb": [1.0, 0.0]}, {"emb": [0.0, 1.0]}])
    created = col.add_index(definition)
    assert created["params"] == definition["params"]


# -- documents ------------------------------------------------------------------------


def test_document_crud_and_revisions(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    meta = col.insert({"_key": "k", "a": 1, "nested": {"x": 1, "y": 2}})
    assert set(meta) == {"_id", "_key", "_rev"} and meta["_id"] == "c/k"
    doc = col.get("k")
    assert doc == {
        "_key": "k",
        "_id": "c/k",
        "_rev": meta["_rev"],
        "a": 1,
        "nested": {"x": 1, "y": 2},
    }
    assert col.get("missing") is None
    assert col.has("k") and not col.has("missing")

    updated = col.update({"_key": "k", "nested": {"x": 5}, "a": None}, keep_none=False)
    assert updated["_old_rev"] == meta["_rev"] and updated["_rev"] != meta["_rev"]
    assert col.get("k") == {
        "_key": "k",
        "_id": "c/k",
        "_rev": updated["_rev"],
        "nested": {"x": 5, "y": 2},
    }
    replaced = col.replace({"_key": "k", "b": 2}, return_new=True)
    assert replaced["new"]["b"] == 2 and "nested" not in replaced["new"]
    with pytest.raises(DocumentRevisionError) as exc:
        col.replace({"_key": "k", "_rev": meta["_rev"], "c": 3})
    assert_server_error(exc, 412, 1200)
    with pytest.raises(DocumentRevisionError):
        col.get({"_key": "k", "_rev": meta["_rev"]})
    with pytest.raises(DocumentReplaceError) as exc:
        col.replace({"_key": "missing"})
    assert_server_error(exc, 404, 1202)
    deleted = col.delete("k", return_old=True)
    assert deleted["old"]["b"] == 2
    assert col.delete("k", ignore_missing=True) is False


def test_insert_many_overwrite_modes_and_item_errors(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert({"_key": "a", "v": 1, "keep": True})

    results = col.insert_many([{"_key": "a", "v": 2}, {"_key": "b", "v": 2}])
    assert isinstance(results[0], DocumentInsertError)
    assert (results[0].error_code, results[0].http_code) == (1210, 202)
    assert results[1]["_key"] == "b"

    resp = call(db, "post", "/_api/document/c", [{"_key": "a"}, {"_key": "bad key"}, {}])
    assert resp.status_code == 202
    assert json.loads(resp.headers["X-Arango-Error-Codes"]) == {"1210": 1, "1221": 1}
    assert resp.body[0]["errorNum"] == 1210 and resp.body[1]["errorNum"] == 1221
    assert "_id" in resp.body[2]

    col.insert_many([{"_key": "a", "v": 3}], overwrite_mode="ignore")
    assert col.get("a")["v"] == 1
    col.insert_many([{"_key": "a", "v": 4}], overwrite_mode="update")
    assert col.get("a")["v"] == 4 and col.get("a")["keep"] is True
    out = col.insert_many([{"_key": "a", "v": 5}], overwrite_mode="replace", return_new=True)
    assert out[0]["new"] == col.get("a") and "keep" not in col.get("a")
    results = col.insert_many([{"_key": "a"}], overwrite_mode="conflict")
    assert results[0].error_code == 1210
    assert col.insert_many([{"_key": "s1"}, {"_key": "s2"}], silent=True) is True
    resp = call(db, "post", "/_api/document/c", [{"_key": "s3"}], {"waitForSync": "true"})
    assert resp.status_code == 201


def test_batch_get_update_replace_delete(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": str(i), "n": i} for i in range(4)])
    assert [d["n"] for d in col.get_many(["0", "c/2", "missing"])] == [0, 2]
    updated = col.update_many([{"_key": "0", "m": 1}, {"_key": "missing", "m": 1}])
    assert updated[0]["_key"] == "0" and updated[1].error_code == 1202
    replaced = col.replace_many([{"_key": "1", "r": True}])
    assert replaced[0]["_key"] == "1" and col.get("1") == {**col.get("1"), "r": True}
    assert "n" not in col.get("1")
    deleted = col.delete_many(["2", {"_key": "3"}, "missing"])
    assert deleted[0]["_key"] == "2" and deleted[1]["_key"] == "3"
    assert deleted[2].error_code == 1202
    assert col.count() == 2


def test_is_restore_keeps_rev_and_plain_insert_makes_fresh_rev(db: StandardDatabase) -> None:
    db.create_collection("c")
    rev = "_gPl2j3K---"
    resp = call(db, "post", "/_api/document/c", [{"_key": "r", "_rev": rev}], {"isRestore": "1"})
    assert resp.body[0]["_rev"] == rev
    assert db.collection("c").get("r")["_rev"] == rev
    resp = call(db, "post", "/_api/document/c", {"_key": "p", "_rev": rev})
    assert resp.body["_rev"] != rev
    resp = call(
        db,
        "post",
        "/_api/document/c",
        {"_key": "r", "_rev": "_other---"},
        {"isRestore": "true", "overwriteMode": "replace"},
    )
    assert db.collection("c").get("r")["_rev"] == "_other---"


def test_every_write_gives_a_new_rev_even_one_that_changes_nothing(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    seen = {col.insert({"_key": "k", "v": 1})["_rev"]}
    for write in (
        lambda: col.replace({"_key": "k", "v": 1}),
        lambda: col.update({"_key": "k", "v": 1}),
        lambda: col.insert({"_key": "k", "v": 1}, overwrite_mode="replace"),
        lambda: col.insert({"_key": "k", "v": 1}, overwrite_mode="update"),
        lambda: col.import_bulk([{"_key": "k", "v": 1}], on_duplicate="replace"),
    ):
        write()
        rev = col.get("k")["_rev"]
        assert rev not in seen
        seen.add(rev)


def test_sorted_revision_listing(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": k} for k in ("b", "B", "a", "_x", "A1")])
    listing = list(
        db.aql.execute("FOR d IN @@c SORT d._key RETURN [d._key, d._rev]", bind_vars={"@c": "c"})
    )
    assert [k for k, _ in listing] == sorted(["b", "B", "a", "_x", "A1"], key=str.encode)
    docs = db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "c"})
    assert dict(listing) == {d["_key"]: d["_rev"] for d in docs}


def test_edges_need_from_and_to(db: StandardDatabase) -> None:
    edges = db.create_collection("e", edge=True)
    edges.insert({"_from": "v/1", "_to": "v/2"})  # no referential integrity
    for bad in ({}, {"_from": "v/1"}, {"_from": "v1", "_to": "v/2"}, {"_from": 1, "_to": "v/2"}):
        with pytest.raises(DocumentInsertError) as exc:
            edges.insert(bad)
        assert_server_error(exc, 400, 1233)
    doc = edges.insert({"_from": "v/1", "_to": "v/3", "w": 1}, return_new=True)["new"]
    assert list(doc)[:5] == ["_key", "_id", "_from", "_to", "_rev"]


@pytest.mark.parametrize("level", ["strict", "moderate", "new"])
def test_schema_validation_levels(db: StandardDatabase, level: str) -> None:
    rule = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    col = db.create_collection("c", schema={"rule": rule, "level": level, "message": "nope"})
    col.insert({"_key": "ok", "name": "bob", "age": 3, "tags": ["a"]})
    for bad in (
        {"age": 3},
        {"name": "b"},
        {"name": "bob", "age": -1},
        {"name": "bob", "age": 1.5},
        {"name": "bob", "tags": ["c"]},
        {"name": "bob", "extra": 1},
    ):
        with pytest.raises(DocumentInsertError) as exc:
            col.insert(bad)
        assert_server_error(exc, 400, 1620)
        assert exc.value.error_message == "nope"
    # Modifications: strict and moderate validate, new does not.
    if level == "new":
        col.update({"_key": "ok", "name": "x"})
    else:
        with pytest.raises(DocumentUpdateError) as exc:
            col.update({"_key": "ok", "name": "x"})
        assert_server_error(exc, 400, 1620)
    # A restore (and skipDocumentValidation) bypasses the schema.
    for params in ({"isRestore": "true"}, {"skipDocumentValidation": "true"}):
        resp = call(db, "post", "/_api/document/c", {"invalid": True}, params)
        assert resp.status_code == 202


def test_schema_moderate_allows_changing_invalid_documents(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert({"_key": "old", "n": "not a number"})
    col.configure(schema={"rule": {"properties": {"n": {"type": "number"}}}, "level": "moderate"})
    col.update({"_key": "old", "other": 1})  # was invalid before: allowed
    with pytest.raises(DocumentInsertError):
        col.insert({"n": "x"})


def test_computed_values_literal_expressions(db: StandardDatabase) -> None:
    col = db.create_collection(
        "c",
        computedValues=[
            {"name": "kind", "expression": 'RETURN "default"', "overwrite": False},
            {"name": "v", "expression": "RETURN 2", "overwrite": True, "computeOn": ["update"]},
        ],
    )
    col.insert({"_key": "a"})
    col.insert({"_key": "b", "kind": "mine"})
    assert col.get("a")["kind"] == "default" and col.get("b")["kind"] == "mine"
    assert "v" not in col.get("a")
    col.update({"_key": "a", "v": 1})
    assert col.get("a")["v"] == 2
    resp = call(db, "post", "/_api/document/c", {"_key": "r"}, {"isRestore": "true"})
    assert resp.status_code == 202 and "kind" not in col.get("r")


# -- import ---------------------------------------------------------------------------


def test_import_bulk_counts_and_details(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert({"_key": "dup", "v": 0})
    result = col.import_bulk(
        [{"_key": "a"}, {"_key": "dup", "v": 1}, {"_key": "bad key"}], halt_on_error=False
    )
    assert {k: result[k] for k in ("created", "errors", "empty", "updated", "ignored")} == {
        "created": 1,
        "errors": 2,
        "empty": 0,
        "updated": 0,
        "ignored": 0,
    }
    assert result["error"] is False and len(result["details"]) == 2
    assert result["details"][0].startswith("at position 1: creating document failed")

    result = col.import_bulk([{"_key": "dup", "w": 1}], on_duplicate="update")
    assert result["updated"] == 1 and col.get("dup") == {**col.get("dup"), "v": 0, "w": 1}
    result = col.import_bulk([{"_key": "dup", "x": 1}], on_duplicate="replace")
    assert result["updated"] == 1 and "w" not in col.get("dup")
    result = col.import_bulk([{"_key": "dup"}], on_duplicate="ignore")
    assert result["ignored"] == 1

    # complete=true: all or nothing.
    before = col.count()
    with pytest.raises(DocumentInsertError) as exc:
        col.import_bulk([{"_key": "new1"}, {"_key": "dup"}], halt_on_error=True)
    assert_server_error(exc, 409, 1210)
    assert col.count() == before

    result = col.import_bulk([{"_key": "only"}], overwrite=True)
    assert result["created"] == 1 and col.count() == 1


def test_import_documents_lines_and_empty(db: StandardDatabase) -> None:
    db.create_collection("c")
    body = '{"_key":"a"}\n\n{"_key":"b"}\n[1]\n'
    resp = db.request(
        Request(
            "post",
            "/_api/import",
            params={"type": "documents", "collection": "c", "details": "true"},
            data=body,
        )
    )
    assert resp.status_code == 201
    counts = {k: resp.body[k] for k in ("created", "errors", "empty")}
    assert counts == {"created": 2, "errors": 1, "empty": 1}
    resp = call(
        db, "post", "/_api/import", [{"_key": "x"}], {"type": "array", "collection": "nope"}
    )
    assert (resp.status_code, resp.body["errorNum"]) == (404, 1203)


# -- AQL cursors ----------------------------------------------------------------------


def _fill(db: StandardDatabase, keys: list[str]) -> None:
    db.create_collection("c")
    db.collection("c").insert_many([{"_key": k, "k": k} for k in keys])


def test_supported_query_shapes(db: StandardDatabase) -> None:
    keys = ["b", "Z", "a", "_", "10", "9"]
    _fill(db, keys)
    by_bytes = sorted(keys, key=str.encode)

    def run(query: str, **bind: Any) -> list[Any]:
        return list(db.aql.execute(query, bind_vars={"@c": "c", **bind}))

    assert sorted(d["_key"] for d in run("FOR d IN @@c RETURN d")) == sorted(keys)
    assert [d["_key"] for d in run("FOR d IN @@c SORT d._key RETURN d")] == by_bytes
    assert [d["_key"] for d in run("FOR d IN @@c SORT d._key LIMIT @n RETURN d", n=2)] == (
        by_bytes[:2]
    )
    page = run("FOR d IN @@c FILTER d._key > @last SORT d._key LIMIT @n RETURN d", last="Z", n=2)
    assert [d["_key"] for d in page] == [k for k in by_bytes if k.encode() > b"Z"][:2]
    assert run("RETURN LENGTH(@@c)") == [len(keys)]
    hits = run("FOR d IN @@c FILTER d._key IN @keys RETURN d", keys=["a", "nope", "b"])
    assert sorted(d["_key"] for d in hits) == ["a", "b"]
    # Whitespace and variable names do not matter.
    spaced = "  for   doc in @@c\n  sort doc._key\n  limit 1\n  return doc "
    assert [d["_key"] for d in run(spaced)] == by_bytes[:1]


def test_query_errors(db: StandardDatabase) -> None:
    _fill(db, ["a"])
    cases = [
        ("FOR d IN @@c FILTER d.x == 1 RETURN d", {"@c": "c"}, 1501),
        ("FOR d IN @@c SORT d._key LIMIT @n RETURN d", {"@c": "c"}, 1551),
        ("FOR d IN @@c RETURN d", {"@c": "c", "extra": 1}, 1552),
        ("FOR d IN @@c RETURN d", {"@c": 5}, 1553),
    ]
    for query, bind_vars, error_num in cases:
        with pytest.raises(AQLQueryExecuteError) as exc:
            db.aql.execute(query, bind_vars=bind_vars)
        assert_server_error(exc, 400, error_num)
    with pytest.raises(AQLQueryExecuteError) as exc:
        db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "missing"})
    assert_server_error(exc, 404, 1203)


def test_cursor_batching_count_and_close(db: StandardDatabase) -> None:
    _fill(db, [f"k{i:02d}" for i in range(7)])
    query = "FOR d IN @@c SORT d._key RETURN d"
    cursor = db.aql.execute(query, bind_vars={"@c": "c"}, batch_size=3, count=True)
    assert cursor.count() == 7 and cursor.has_more() and cursor.id
    assert len(cursor.batch()) == 3
    assert [d["_key"] for d in cursor] == [f"k{i:02d}" for i in range(7)]
    # Raw shapes: 201 for the first batch, 200 for the next, 202 for a delete.
    first = call(
        db, "post", "/_api/cursor", {"query": query, "bindVars": {"@c": "c"}, "batchSize": 5}
    )
    assert first.status_code == 201 and first.body["hasMore"] is True
    assert first.body["cached"] is False and "stats" in first.body["extra"]
    cursor_id = first.body["id"]
    second = call(db, "post", f"/_api/cursor/{cursor_id}")
    assert second.status_code == 200 and second.body["hasMore"] is False
    assert len(second.body["result"]) == 2
    again = call(db, "post", f"/_api/cursor/{cursor_id}")
    assert (again.status_code, again.body["errorNum"]) == (404, 1600)
    third = call(
        db, "post", "/_api/cursor", {"query": query, "bindVars": {"@c": "c"}, "batchSize": 1}
    )
    assert call(db, "delete", f"/_api/cursor/{third.body['id']}").status_code == 202
    gone = call(db, "delete", f"/_api/cursor/{third.body['id']}")
    assert (gone.status_code, gone.body["errorNum"]) == (404, 1600)
    legacy = call(
        db, "post", "/_api/cursor", {"query": query, "bindVars": {"@c": "c"}, "batchSize": 4}
    )
    assert call(db, "put", f"/_api/cursor/{legacy.body['id']}").status_code == 200
    small = db.aql.execute(query, bind_vars={"@c": "c"}, batch_size=100)
    assert small.id is None and not small.has_more()
    assert call(db, "post", "/_api/cursor", {"query": query, "batchSize": 0}).status_code == 400


def test_stream_cursor_reports_stats_at_the_end(db: StandardDatabase) -> None:
    _fill(db, ["a", "b", "c"])
    body = {"query": "FOR d IN @@c RETURN d", "bindVars": {"@c": "c"}, "batchSize": 2}
    first = call(db, "post", "/_api/cursor", {**body, "stream": True, "count": True})
    assert "extra" not in first.body and "count" not in first.body
    last = call(db, "post", f"/_api/cursor/{first.body['id']}")
    assert "extra" in last.body and last.body["hasMore"] is False


def test_cursor_allow_retry_refetches_a_batch(db: StandardDatabase) -> None:
    _fill(db, ["a", "b", "c"])
    body = {
        "query": "FOR d IN @@c SORT d._key RETURN d",
        "bindVars": {"@c": "c"},
        "batchSize": 1,
        "options": {"allowRetry": True},
    }
    first = call(db, "post", "/_api/cursor", body)
    cursor_id, next_id = first.body["id"], first.body["nextBatchId"]
    second = call(db, "post", f"/_api/cursor/{cursor_id}/{next_id}")
    repeat = call(db, "post", f"/_api/cursor/{cursor_id}/{next_id}")
    assert second.body["result"] == repeat.body["result"] == [db.collection("c").get("b")]
    cursor = db.aql.execute(body["query"], bind_vars={"@c": "c"}, batch_size=1, allow_retry=True)
    assert [d["_key"] for d in cursor] == ["a", "b", "c"]


def test_cursor_expires_after_ttl(arango_server: ArangoTarget, db: StandardDatabase) -> None:
    arango_server.require_test_server("cursor expiry without waiting")
    _fill(db, ["a", "b"])
    cursor = db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "c"}, batch_size=1, ttl=5)
    arango_server.advance_clock(3)
    cursor.fetch()  # an access renews the ttl
    cursor2 = db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "c"}, batch_size=1, ttl=5)
    arango_server.advance_clock(6)
    with pytest.raises(CursorNextError) as exc:
        cursor2.fetch()
    assert_server_error(exc, 404, 1600)


def test_key_range_paging_in_a_transaction(db: StandardDatabase) -> None:
    """The dump pattern: page through a snapshot by key ranges."""
    col = db.create_collection("c")
    col.import_bulk([{"_key": f"k{i:04d}"} for i in range(250)])
    trx = db.begin_transaction(read=["c"])
    col.insert({"_key": "k0000a"})  # after the snapshot: not part of the dump
    query = "FOR d IN @@c FILTER d._key > @last SORT d._key LIMIT @n RETURN d"
    seen: list[str] = []
    last = ""
    while True:
        page = list(trx.aql.execute(query, bind_vars={"@c": "c", "last": last, "n": 100}))
        if not page:
            break
        seen.extend(d["_key"] for d in page)
        last = page[-1]["_key"]
    trx.commit_transaction()
    assert seen == [f"k{i:04d}" for i in range(250)]


def test_concurrent_clients(arango_db: ArangoDatabase) -> None:
    arango_db.db().create_collection("c")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            col = arango_db.db().collection("c")
            for i in range(25):
                col.insert({"_key": f"{n}-{i}"})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and arango_db.db().collection("c").count() == 100


# -- stream transactions --------------------------------------------------------------


def test_transaction_snapshot_isolation(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    db.create_collection("d")
    col.insert_many([{"_key": "1"}, {"_key": "2"}])
    trx = db.begin_transaction(read=["c", "d"], write=["c"])
    assert trx.transaction_status() == "running"
    t_col = trx.collection("c")
    # Outside writes after begin are invisible inside.
    col.insert({"_key": "outside"})
    db.collection("d").insert({"_key": "x"})
    assert t_col.count() == 2 and t_col.get("outside") is None
    assert trx.collection("d").count() == 0
    query = "FOR d IN @@c SORT d._key RETURN d"
    inside = [d["_key"] for d in trx.aql.execute(query, bind_vars={"@c": "c"})]
    assert inside == ["1", "2"]
    # Writes inside are invisible outside until commit.
    t_col.insert({"_key": "inside"})
    t_col.delete("1")
    assert col.get("inside") is None and col.get("1") is not None
    assert t_col.count() == 2
    assert trx.commit_transaction() is True
    assert col.get("inside") is not None and col.get("1") is None
    keys = [d["_key"] for d in db.aql.execute(query, bind_vars={"@c": "c"})]
    assert keys == ["2", "inside", "outside"]
    assert trx.transaction_status() == "committed"


def test_transaction_abort_discards_and_truncate_counts(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": str(i)} for i in range(3)])
    trx = db.begin_transaction(write=["c"])
    trx.collection("c").truncate()
    assert trx.collection("c").count() == 0 and col.count() == 3
    trx.collection("c").import_bulk([{"_key": "imported"}])
    assert trx.collection("c").count() == 1 and col.get("imported") is None
    assert trx.abort_transaction() is True
    assert col.count() == 3 and trx.transaction_status() == "aborted"
    with pytest.raises(TransactionCommitError) as exc:
        trx.commit_transaction()
    assert_server_error(exc, 400, 1653)


def test_transaction_errors(db: StandardDatabase) -> None:
    db.create_collection("c")
    with pytest.raises(TransactionInitError) as exc:
        db.begin_transaction(read=["missing"])
    assert_server_error(exc, 404, 1203)
    with pytest.raises(TransactionFetchError) as exc:
        db.fetch_transaction("999999999")
    assert_server_error(exc, 404, 1655)
    resp = call(db, "get", "/_api/transaction/999999999")
    assert (resp.status_code, resp.body["errorNum"]) == (404, 1655)
    resp = call(db, "get", "/_api/document/c/x", headers={"x-arango-trx-id": "999999999"})
    assert (resp.status_code, resp.body["errorNum"]) == (404, 1655)
    read_only = db.begin_transaction(read=["c"])
    with pytest.raises(DocumentInsertError) as exc:
        read_only.collection("c").insert({})
    assert_server_error(exc, 400, 1652)
    read_only.abort_transaction()
    assert [t["id"] for t in db.list_transactions()] == []


def test_transaction_write_write_conflict(db: StandardDatabase) -> None:
    col = db.create_collection("c")
    col.insert({"_key": "k", "v": 0})
    trx = db.begin_transaction(write=["c"])
    col.update({"_key": "k", "v": 1})
    with pytest.raises(DocumentUpdateError) as exc:
        trx.collection("c").update({"_key": "k", "v": 2})
    assert_server_error(exc, 409, 1200)
    trx.abort_transaction()


def test_transaction_idle_expiry(arango_server: ArangoTarget, db: StandardDatabase) -> None:
    arango_server.require_test_server("transaction idle expiry")
    arango_server.set_stream_trx_idle_timeout(10)
    col = db.create_collection("c")
    trx = db.begin_transaction(write=["c"])
    trx.collection("c").insert({"_key": "lost"})
    arango_server.advance_clock(6)
    trx.collection("c").count()  # using it resets the idle timer
    arango_server.advance_clock(6)
    assert trx.transaction_status() == "running"
    arango_server.advance_clock(11)
    assert trx.transaction_status() == "aborted"
    with pytest.raises(ArangoServerError) as exc:
        trx.collection("c").count()
    assert_server_error(exc, 410, 1654)
    with pytest.raises(TransactionCommitError) as exc:
        trx.commit_transaction()
    assert_server_error(exc, 410, 1654)
    assert col.get("lost") is None


def test_cursor_in_transaction_follow_up_without_header(
    arango_server: ArangoTarget, db: StandardDatabase
) -> None:
    col = db.create_collection("c")
    col.insert_many([{"_key": str(i)} for i in range(5)])
    trx = db.begin_transaction(read=["c"])
    col.insert({"_key": "late"})
    cursor = trx.aql.execute(
        "FOR d IN @@c SORT d._key RETURN d", bind_vars={"@c": "c"}, batch_size=2, stream=True
    )
    # python-arango fetches follow-up batches without x-arango-trx-id.
    assert [d["_key"] for d in cursor] == ["0", "1", "2", "3", "4"]
    trx.commit_transaction()
    if not arango_server.is_test_server:
        return
    arango_server.set_stream_trx_idle_timeout(10)
    trx = db.begin_transaction(read=["c"])
    cursor = trx.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "c"}, batch_size=2)
    arango_server.advance_clock(11)
    with pytest.raises(CursorNextError) as exc:
        cursor.fetch()
    assert_server_error(exc, 410, 1654)


# -- views, analyzers, graphs ---------------------------------------------------------


def test_views(db: StandardDatabase) -> None:
    db.create_collection("c")
    db.create_analyzer("tok", "delimiter", {"delimiter": ","}, ["frequency"])
    links = {
        "c": {"analyzers": ["tok", "identity"], "fields": {"t": {}}, "includeAllFields": False}
    }
    view = db.create_view("v", "arangosearch", {"links": links, "commitIntervalMsec": 500})
    assert view["name"] == "v" and view["commit_interval_msec"] == 500
    assert view["links"]["c"]["analyzers"] == ["tok", "identity"]
    assert [v["name"] for v in db.views()] == ["v"]
    raw_view = call(db, "get", "/_api/view/v/properties").body
    assert raw_view["links"]["c"]["fields"] == {"t": {}}
    with pytest.raises(ViewCreateError) as exc:
        db.create_view("v", "arangosearch")
    assert_server_error(exc, 409, 1207)
    with pytest.raises(ViewCreateError) as exc:
        db.create_view("c", "arangosearch")  # views and collections share names
    assert_server_error(exc, 409, 1207)
    updated = db.update_view("v", {"consolidationIntervalMsec": 7})
    assert updated["consolidation_interval_msec"] == 7 and updated["links"]
    replaced = db.replace_view("v", {"commitIntervalMsec": 9})
    assert replaced["links"] == {} and replaced["consolidation_interval_msec"] == 1000
    assert db.rename_view("v", "w") is True
    with pytest.raises(ViewGetError) as exc:
        db.view("v")
    assert_server_error(exc, 404, 1203)

    db.collection("c").add_index({"type": "inverted", "name": "inv", "fields": ["t"]})
    alias = db.create_view("sa", "search-alias", {"indexes": [{"collection": "c", "index": "inv"}]})
    assert alias["indexes"] == [{"collection": "c", "index": "inv"}]
    assert db.delete_view("w") is True
    with pytest.raises(ViewDeleteError) as exc:
        db.delete_view("w")
    assert_server_error(exc, 404, 1203)
    assert db.delete_view("w", ignore_missing=True) is False


def test_analyzers(db: StandardDatabase, arango_db: ArangoDatabase) -> None:
    names = {a["name"] for a in db.analyzers()}
    assert {"identity", "text_en"} <= names
    created = db.create_analyzer("tok", "delimiter", {"delimiter": ","}, ["frequency"])
    assert created["name"] == f"{arango_db.db_name}::tok"
    again = call(
        db,
        "post",
        "/_api/analyzer",
        {
            "name": "tok",
            "type": "delimiter",
            "properties": {"delimiter": ","},
            "features": ["frequency"],
        },
    )
    assert again.status_code == 200
    first = call(db, "post", "/_api/analyzer", {"name": "fresh", "type": "identity"})
    assert first.status_code == 201
    with pytest.raises(AnalyzerCreateError) as exc:
        db.create_analyzer("tok", "delimiter", {"delimiter": ";"})
    assert exc.value.http_code == 409
    assert db.analyzer("tok")["type"] == "delimiter"
    assert db.analyzer(f"{arango_db.db_name}::tok")["properties"] == {"delimiter": ","}

    db.create_collection("c")
    db.create_view("v", "arangosearch", {"links": {"c": {"analyzers": ["tok"]}}})
    with pytest.raises(AnalyzerDeleteError) as exc:
        db.delete_analyzer("tok")
    assert exc.value.http_code == 409
    assert db.delete_analyzer("tok", force=True) is True
    with pytest.raises(AnalyzerGetError) as exc:
        db.analyzer("tok")
    assert exc.value.http_code == 404
    assert db.delete_analyzer("tok", ignore_missing=True) is False


def test_graphs(db: StandardDatabase) -> None:
    db.create_collection("people")  # reused by the graph
    graph = db.create_graph(
        "g",
        edge_definitions=[
            {
                "edge_collection": "knows",
                "from_vertex_collections": ["people"],
                "to_vertex_collections": ["people", "pets"],
            }
        ],
        orphan_collections=["lonely"],
    )
    assert db.collection("knows").properties()["edge"] is True
    assert db.has_collection("pets") and db.has_collection("lonely")
    props = graph.properties()
    assert props["name"] == "g" and props["orphan_collections"] == ["lonely"]
    assert props["edge_definitions"][0]["to_vertex_collections"] == ["people", "pets"]
    raw_graph = call(db, "get", "/_api/gharial").body["graphs"][0]
    assert raw_graph["_key"] == "g" and raw_graph["_id"] == "_graphs/g"
    assert {"isSmart", "numberOfShards", "replicationFactor"} <= set(raw_graph)
    assert db.has_graph("g") and not db.has_graph("nope")
    assert sorted(graph.vertex_collections()) == ["lonely", "people", "pets"]
    with pytest.raises(GraphCreateError) as exc:
        db.create_graph("g")
    assert_server_error(exc, 409, 1925)
    with pytest.raises(GraphPropertiesError) as exc:
        db.graph("nope").properties()
    assert_server_error(exc, 404, 1924)
    with pytest.raises(GraphCreateError) as exc:
        db.create_graph(
            "h",
            edge_definitions=[
                {
                    "edge_collection": "people",
                    "from_vertex_collections": ["a"],
                    "to_vertex_collections": ["b"],
                }
            ],
        )
    assert exc.value.http_code == 400
    assert db.delete_graph("g", drop_collections=True) is True
    assert not db.has_collection("knows") and not db.has_collection("people")
    with pytest.raises(GraphDeleteError) as exc:
        db.delete_graph("g")
    assert_server_error(exc, 404, 1924)
    assert db.delete_graph("g", ignore_missing=True) is False


# -- fault injection ------------------------------------------------------------------


def test_fail_after_drops_connections_until_healed(
    arango_server: ArangoTarget, arango_db: ArangoDatabase
) -> None:
    arango_server.require_test_server("fault injection")
    client = arango_server.client(fast_fail=True)
    db = arango_db.db(client)
    col = db.create_collection("c")
    col.insert_many([{"_key": str(i)} for i in range(6)])
    arango_server.fail_after(1, path_pattern=r"/_api/cursor")
    cursor = db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": "c"}, batch_size=2)
    assert len(cursor.batch()) == 2
    with pytest.raises(ConnectionAbortedError):
        cursor.fetch()
    with pytest.raises(ConnectionAbortedError):
        col.count()  # once triggered, every request fails
    arango_server.heal()
    assert col.count() == 6


def test_kill_and_restart_on_same_port(
    arango_server: ArangoTarget, arango_db: ArangoDatabase
) -> None:
    arango_server.require_test_server("killing the server")
    client = arango_server.client(fast_fail=True)
    db = arango_db.db(client)
    col = db.create_collection("c")
    col.insert({"_key": "kept"})
    cursor = db.aql.execute(
        "FOR d IN @@c RETURN d", bind_vars={"@c": "c"}, batch_size=1, count=True
    )
    del cursor
    arango_server.kill()
    with pytest.raises(ConnectionAbortedError):
        col.count()
    arango_server.restart()
    assert col.get("kept") is not None  # data survives a restart
    assert call(db, "get", "/_api/transaction").body["transactions"] == []


def test_hang_mode_times_out_the_client(
    arango_server: ArangoTarget, arango_db: ArangoDatabase
) -> None:
    arango_server.require_test_server("fault injection")
    client = arango_server.client(fast_fail=True, timeout=0.3)
    db = arango_db.db(client)
    arango_server.fail_after(0, mode="hang")
    started = time.monotonic()
    with pytest.raises(ConnectionAbortedError):  # python-arango's report of the read timeout
        db.collections()
    assert time.monotonic() - started >= 0.3
    arango_server.heal()
    assert isinstance(db.collections(), list)


def test_real_server_mode_skips_controls(arango_server: ArangoTarget) -> None:
    if arango_server.is_test_server:
        fake = type(arango_server)(arango_server.url, "root", "x")
        with pytest.raises(pytest.skip.Exception):
            fake.fail_after(1)
        with pytest.raises(pytest.skip.Exception):
            fake.advance_clock(1)
    else:
        pytest.skip("only meaningful against the test server")


def test_unsupported_endpoint_is_404(arango_server: ArangoTarget, db: StandardDatabase) -> None:
    arango_server.require_test_server("an endpoint only the test server lacks")
    resp = call(db, "get", "/_api/replication/inventory")
    assert resp.status_code == 404
