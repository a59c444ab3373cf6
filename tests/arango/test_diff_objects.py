"""diff and restore --dry-run report views, analyzers, named graphs and AQL functions that were
added, removed or changed (spec/diff.md, "Views, analyzers, graphs, AQL functions"), against the
ArangoDB test server, through the CLI (text and --json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from arango.database import StandardDatabase

from tests.arango.conftest import ArangoDatabase
from tests.arango.test_cli_database import run
from tests.helpers import created_name


@pytest.fixture
def env(arango_db: ArangoDatabase, tmp_path: Path) -> dict[str, str]:
    return {
        "SNAPSTORE_REPO": str(tmp_path / "repo"),
        "SNAPSTORE_CACHE_DIR": str(tmp_path / "cache"),
        "SNAPSTORE_ARANGO_URL": arango_db.url,
        "SNAPSTORE_ARANGO_DB": arango_db.db_name,
        "SNAPSTORE_ARANGO_USER": arango_db.user,
        "SNAPSTORE_ARANGO_PASSWORD": arango_db.password,
        "SNAPSTORE_PROJECT_DIR": str(tmp_path),
        "SNAPSTORE_AUTO_CLEANUP": "false",
    }


def _build(db: StandardDatabase) -> None:
    db.create_collection("papers").insert({"_key": "p1", "title": "a"})
    db.create_collection("cites", edge=True)
    db.create_analyzer("ident", "identity", {}, ["frequency"])
    db.create_analyzer("commas", "delimiter", {"delimiter": ","}, [])
    db.create_view("search", "arangosearch", {"links": {"papers": {"includeAllFields": True}}})
    db.create_view("gone", "arangosearch", {})
    db.create_graph(
        "citations",
        edge_definitions=[
            {
                "edge_collection": "cites",
                "from_vertex_collections": ["papers"],
                "to_vertex_collections": ["papers"],
            }
        ],
    )
    db.aql.create_function("lib::id", "(x) => x")
    db.aql.create_function("lib::old", "(x) => 1")


def _change(db: StandardDatabase) -> None:
    """Change one object of each kind; no collection's documents or definition change."""
    db.delete_view("gone")
    db.create_view("fresh", "arangosearch", {})
    db.delete_analyzer("commas", force=True)
    db.create_analyzer("semis", "delimiter", {"delimiter": ";"}, [])
    db.delete_graph("citations")
    db.create_graph("other", orphan_collections=["papers"])
    db.aql.create_function("lib::id", "(x) => x + 0")  # same name, new code
    db.aql.delete_function("lib::old")


EXPECTED = {
    ("view", "fresh", "added"),
    ("view", "gone", "removed"),
    ("analyzer", "commas", "removed"),
    ("analyzer", "semis", "added"),
    ("graph", "citations", "removed"),
    ("graph", "other", "added"),
    ("AQL function", "lib::id", "changed"),
    ("AQL function", "lib::old", "removed"),
}


def _objects(stdout: str) -> set[tuple[str, str, str]]:
    return {(o["kind"], o["name"], o["change"]) for o in json.loads(stdout)["objects"]}


def test_diff_reports_views_analyzers_graphs_and_functions(
    env: dict[str, str], arango_db: ArangoDatabase
) -> None:
    db = arango_db.db()
    _build(db)
    a = created_name(run(env, "create", "a", "--no-bulk").stdout)
    _change(db)
    b = created_name(run(env, "create", "b", "--no-bulk").stdout)

    r = run(env, "diff", a, b, "--json")
    assert r.exit_code == 0, r.output
    assert _objects(r.stdout) == EXPECTED
    assert json.loads(r.stdout)["summary"]["objects_changed"] == len(EXPECTED)
    text = run(env, "diff", a, b).stdout
    assert "no differences" not in text
    for line in ("+ view fresh", "- view gone", "~ AQL function lib::id", "- graph citations"):
        assert line in text, text
    assert "8 view/analyzer/graph/function(s) differ" in text

    same = run(env, "diff", a, a, "--json")
    assert _objects(same.stdout) == set()


def test_restore_dry_run_reports_what_it_would_change_in_them(
    env: dict[str, str], arango_db: ArangoDatabase
) -> None:
    db = arango_db.db()
    _build(db)
    name = created_name(run(env, "create", "base", "--no-bulk").stdout)
    quiet = run(env, "restore", name, "--no-bulk", "--dry-run")
    assert "no differences" in quiet.stdout, quiet.stdout  # server ids are not changes

    _change(db)
    r = run(env, "restore", name, "--no-bulk", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    # The live database is "before", the snapshot "after": every change runs backwards.
    flip = {"added": "removed", "removed": "added", "changed": "changed"}
    assert _objects(r.stdout) == {(k, n, flip[c]) for k, n, c in EXPECTED}
    text = run(env, "restore", name, "--no-bulk", "--dry-run").stdout
    assert "+ view gone" in text and "~ AQL function lib::id" in text, text
    assert "no differences" not in text
    # Nothing was changed by the dry runs.
    assert {v["name"] for v in db.views()} == {"search", "fresh"}
