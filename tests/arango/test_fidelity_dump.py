"""What the dump captures from a real 3.12 server, and how it reads it.

User AQL functions, database options, `_system` analyzers that views use, indexes still
being built; batches lost on the way are fetched again by batch id, cursors are deleted,
no stream transaction serves two requests at once, and a server whose `SORT d._key` is not
byte order still gives the same snapshot. All against the strict test server
(tests/arango/test_server_strictness.py shows its rules).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from snapstore.sources.arangodb.docchunks import canonical, canonical_for, canonical_v1
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import SnapWorkspace, make_workspace, raw


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


def section_of(sw: SnapWorkspace, name: str) -> dict:
    return sw.manager().get_snapshot(name).database


def test_user_defined_aql_functions_and_database_options_are_captured(sw: SnapWorkspace) -> None:
    db = sw.db()
    db.create_collection("c")
    code = "function (a) { return a * 2; }"
    raw(
        db,
        "post",
        "/_api/aqlfunction",
        data={"name": "lib::double", "code": code, "isDeterministic": True},
    )
    db.aql.create_function("lib::id", "(x) => x")
    section = section_of(sw, sw.create("functions"))
    assert section["aql_functions"] == [
        {"name": "lib::double", "code": "function (a) { return a * 2; }", "isDeterministic": True},
        {"name": "lib::id", "code": "(x) => x", "isDeterministic": False},
    ]
    assert section["options"] == {"sharding": "", "replicationFactor": 1, "writeConcern": 1}
    assert section["line_format"] == 2


def test_a_coordinators_database_options_are_captured(
    arango_server: ArangoTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arango_server.require_test_server("a Coordinator")
    arango_server.settings.role = "COORDINATOR"
    name = f"oneshard_{time.monotonic_ns()}"
    sys_db = arango_server.sys_db()
    sys_db.create_database(name, sharding="single", replication_factor=2, write_concern=2)
    try:
        target = ArangoDatabase(
            arango_server.url, name, arango_server.username, arango_server.password
        )
        sw = make_workspace(target, tmp_path, monkeypatch)
        sw.db().create_collection("c").insert_many([{"_key": str(i)} for i in range(5)])
        section = section_of(sw, sw.create("oneshard"))
        assert section["options"] == {
            "sharding": "single",
            "replicationFactor": 2,
            "writeConcern": 2,
        }
        assert section["collections"]["c"]["properties"]["distributeShardsLike"] == "_graphs"
        assert section["consistency"]["mode"] == "per-collection"
        # Every lease on a Coordinator is exclusive: the dump never overlapped two requests.
        assert arango_server.server is not None
        assert arango_server.server.app.leases.conflicts == 0
    finally:
        sys_db.delete_database(name)


def test_system_analyzers_used_by_views_and_indexes_are_captured(
    arango_server: ArangoTarget, sw: SnapWorkspace
) -> None:
    sys_db = arango_server.sys_db()
    used, unused, by_index = (f"{p}_{time.monotonic_ns()}" for p in ("used", "unused", "idx"))
    for name in (used, unused, by_index):
        sys_db.create_analyzer(name, "delimiter", {"delimiter": ";"}, [])
    try:
        db = sw.db()
        db.create_analyzer("own", "identity", {}, [])
        db.create_collection("c")
        db.create_view(
            "v", "arangosearch", {"links": {"c": {"analyzers": [f"_system::{used}", "own"]}}}
        )
        db.collection("c").add_index(
            {"type": "inverted", "fields": [{"name": "t", "analyzer": f"_system::{by_index}"}]}
        )
        section = section_of(sw, sw.create("analyzers"))
        assert [a["name"] for a in section["system_analyzers"]] == sorted([used, by_index])
        assert section["system_analyzers"][0]["properties"] == {"delimiter": ";"}
        assert [a["name"] for a in section["analyzers"]] == ["own"]
    finally:
        for name in (used, unused, by_index):
            sys_db.delete_analyzer(name, force=True, ignore_missing=True)


def test_indexes_still_being_built_are_captured_and_view_links_are_not(
    arango_server: ArangoTarget, sw: SnapWorkspace
) -> None:
    arango_server.require_test_server("slow background index builds")
    arango_server.settings.index_build_seconds = 600
    db = sw.db()
    db.create_collection("c").insert_many([{"a": i} for i in range(10)])
    raw(
        db,
        "post",
        "/_api/index",
        params={"collection": "c"},
        data={"type": "persistent", "fields": ["a"], "name": "slow", "inBackground": True},
    )
    db.create_view("v", "arangosearch", {"links": {"c": {"includeAllFields": True}}})
    indexes = section_of(sw, sw.create("building"))["collections"]["c"]["indexes"]
    assert [i["name"] for i in indexes] == ["primary", "slow"]


def test_a_lost_batch_is_fetched_again_and_cursors_are_deleted(
    arango_server: ArangoTarget, sw: SnapWorkspace
) -> None:
    server = arango_server.require_test_server("losing answers")
    db = sw.db()
    db.create_collection("c").insert_many([{"_key": f"k{i:04d}", "n": i} for i in range(2500)])
    before = section_of(sw, sw.create("clean"))["collections"]["c"]
    # The second batch of the read is carried out, but its answer never arrives.
    failed_before = server.faults.failed_requests
    arango_server.fail_after(0, "lose", path_pattern=r"/_api/cursor/\d+/2$", times=1)
    name = sw.create("lossy", reread=True)  # a full read: documents in batches of 1000
    section = section_of(sw, name)
    assert server.faults.failed_requests == failed_before + 1
    assert section["dump_stats"]["batch_retries"] == 1
    after = section["collections"]["c"]
    assert (after["root"], after["checksum"], after["count"]) == (
        before["root"],
        before["checksum"],
        2500,
    )
    assert server.app.cursors.count() == 0  # allowRetry cursors are not left behind


def test_a_server_sorting_keys_by_collation_gives_the_same_snapshot(
    arango_server: ArangoTarget, sw: SnapWorkspace
) -> None:
    arango_server.require_test_server("a server that sorts keys by collation")
    db = sw.db()
    keys = ["A", "a", "B", "b", "Z", "z", "_x", "0", "é"]
    db.create_collection("c").insert_many([{"_key": k} for k in keys if k != "é"])
    bytewise = section_of(sw, sw.create("bytes"))["collections"]["c"]
    arango_server.settings.key_order = "collation"
    sw.reporter.infos.clear()
    collated = section_of(sw, sw.create("collation"))["collections"]["c"]
    assert (collated["root"], collated["checksum"]) == (bytewise["root"], bytewise["checksum"])
    assert any("sorting on our side" in line for line in sw.reporter.infos)


def test_line_format_2_spells_doubles_like_orjson_and_old_snapshots_keep_theirs() -> None:
    doc = {"_key": "k", "small": 1.5e-07, "tiny": 2e-05, "big": 1e22, "n": 3}
    assert canonical(dict(doc)) == b'{"_key":"k","big":1e+22,"n":3,"small":1.5e-7,"tiny":0.00002}'
    assert canonical_v1(dict(doc)) == b'{"_key":"k","big":1e+22,"n":3,"small":1.5e-07,"tiny":2e-05}'
    assert canonical_for({})(dict(doc)) == canonical_v1(dict(doc))  # no line_format: 1
    assert canonical_for({"line_format": 2})(dict(doc)) == canonical(dict(doc))
    # What orjson cannot write (beyond 64 bits, lone surrogates) falls back to format 1.
    assert (
        canonical({"_key": "k", "v": 2**64, "f": 1e-07})
        == b'{"_key":"k","f":1e-07,"v":18446744073709551616}'
    )


def test_a_snapshot_in_line_format_1_still_restores_and_verifies(
    sw: SnapWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snapstore.sources.arangodb import dump

    db = sw.db()
    docs = [{"_key": f"k{i}", "small": i * 1e-07, "mid": 3e-05} for i in range(50)]
    db.create_collection("c").insert_many(docs)
    with monkeypatch.context() as old:  # write the snapshot as before line format 2
        old.setattr(dump, "canonical", canonical_v1)
        old.setattr(dump, "LINE_FORMAT", 1)
        name = sw.create("format 1")
    assert section_of(sw, name)["line_format"] == 1
    db.collection("c").truncate()
    result = sw.restore(name, safety_snapshot=False)
    verified = result.database["collections"]["c"]
    assert verified["checksum_ok"] is True and verified["revisions_kept"] is True
    assert db.collection("c").count() == 50
