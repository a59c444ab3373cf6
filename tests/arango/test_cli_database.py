"""The CLI with a database: options, environment and TOML keys for the connection, what
create / show / list --verbose / restore print, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from snapstore.cli.main import cli
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import documents
from tests.helpers import created_name, error_line


@pytest.fixture
def env(arango_db: ArangoDatabase, tmp_path: Path) -> dict[str, str]:
    return {
        "SNAPSTORE_REPO": str(tmp_path / "repo"),
        "SNAPSTORE_ARANGO_URL": arango_db.url,
        "SNAPSTORE_ARANGO_DB": arango_db.db_name,
        "SNAPSTORE_ARANGO_USER": arango_db.user,
        "SNAPSTORE_ARANGO_PASSWORD": arango_db.password,
        "SNAPSTORE_PROJECT_DIR": str(tmp_path),
    }


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def seed(arango_db: ArangoDatabase) -> None:
    db = arango_db.db()
    db.create_collection("papers").insert_many(
        [{"_key": str(i), "t": "x" * 50} for i in range(120)]
    )
    db.create_collection("authors").insert_many([{"_key": str(i)} for i in range(7)])


def test_create_show_list_restore(env: dict[str, str], arango_db: ArangoDatabase) -> None:
    seed(arango_db)
    created = run(env, "create", "with db", "--no-bulk")
    assert created.exit_code == 0, created.output
    assert "Collections: 127 documents" in created.stdout
    assert "Database: 0.0 MB" in created.stdout
    name = created_name(created.stdout)

    shown = run(env, "show", name)
    assert "papers: 120" in shown.stdout and "authors: 7" in shown.stdout
    assert "Consistency: one transaction" in shown.stdout

    listed = run(env, "list", "--verbose")
    assert "papers: 120 docs" in listed.stdout and "Database: 0.0 MB" in listed.stdout

    db = arango_db.db()
    db.collection("papers").delete("3")
    db.create_collection("scratch")
    # Without --yes the confirmation lists what will be dropped, replaced and created.
    asked = run(env, "restore", name, "--no-bulk", input="no\n")
    assert asked.exit_code != 0
    assert "drop: scratch" in asked.stderr and "replace: authors, papers" in asked.stderr
    assert f"into database {arango_db.db_name}" in asked.stderr
    assert "3" not in documents(db, "papers")

    done = run(env, "restore", name, "--no-bulk", "--yes")
    assert done.exit_code == 0, done.output
    assert "papers: 120 of 120 documents, count and checksum match" in done.stdout
    assert "dropped: scratch" in done.stdout
    assert "✓ Snapshot restored successfully" in done.stdout
    assert "3" in documents(db, "papers")


def test_restore_collection_and_target_db_flags(
    env: dict[str, str], arango_db: ArangoDatabase, arango_server: ArangoTarget
) -> None:
    seed(arango_db)
    name = created_name(run(env, "create", "base", "--no-bulk").stdout)
    db = arango_db.db()
    db.collection("papers").delete("1")
    db.collection("authors").delete("1")
    done = run(env, "restore", name, "--no-bulk", "--yes", "--collection", "papers")
    assert done.exit_code == 0, done.output
    assert "1" in documents(db, "papers") and "1" not in documents(db, "authors")

    target = arango_db.db_name + "_t"
    try:
        copy = run(env, "restore", name, "--no-bulk", "--yes", "--target-db", target, "--json")
        assert copy.exit_code == 0, copy.output
        assert json.loads(copy.stdout)["database"]["created_database"] is True
        copied = arango_server.client().db(target, arango_db.user, arango_db.password)
        assert len(documents(copied, "authors")) == 7
    finally:
        arango_server.sys_db().delete_database(target, ignore_missing=True)


def test_flags_and_toml_keys(
    env: dict[str, str], arango_db: ArangoDatabase, tmp_path: Path
) -> None:
    seed(arango_db)
    bare = {k: v for k, v in env.items() if not k.startswith("SNAPSTORE_ARANGO_")}
    bare["SNAPSTORE_ARANGO_PASSWORD"] = arango_db.password
    flags = run(
        bare,
        "--arango-url",
        arango_db.url,
        "--arango-db",
        arango_db.db_name,
        "--arango-user",
        arango_db.user,
        "create",
        "flags",
        "--no-bulk",
    )
    assert flags.exit_code == 0, flags.output
    secret = tmp_path / "secret"
    secret.write_text(arango_db.password)
    config = tmp_path / "snapstore.toml"
    config.write_text(
        f'[arangodb]\nurl = "{arango_db.url}"\ndatabase = "{arango_db.db_name}"\n'
        f'user = "{arango_db.user}"\npassword_file = "{secret}"\n'
    )
    no_pw = {k: v for k, v in bare.items() if k != "SNAPSTORE_ARANGO_PASSWORD"}
    toml = run(no_pw, "--config", str(config), "create", "toml", "--no-bulk")
    assert toml.exit_code == 0, toml.output
    assert "Collections: 127 documents" in toml.stdout


def test_connection_errors_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    bad_pw = {**env, "SNAPSTORE_ARANGO_PASSWORD": "wrong"}
    r = run(bad_pw, "create", "x", "--no-bulk")
    assert r.exit_code == 1
    error_line(r.stderr, "refused user")
    missing = {**env, "SNAPSTORE_ARANGO_DB": "missing_db"}
    r = run(missing, "create", "x", "--no-bulk")
    error_line(r.stderr, "database 'missing_db' does not exist")
    down = {**env, "SNAPSTORE_ARANGO_URL": "http://127.0.0.1:9"}
    r = run(down, "create", "x", "--no-bulk")
    error_line(r.stderr, "cannot reach ArangoDB at http://127.0.0.1:9")
    assert not (tmp_path / "repo").exists()


def test_restore_dry_run_reports_only_collections_that_differ(
    env: dict[str, str], arango_db: ArangoDatabase
) -> None:
    """A live database equal to the snapshot is not reported as changed (server-assigned
    ids, revisions counters and figures are not compared); each real difference is."""
    seed(arango_db)
    db = arango_db.db()
    db.collection("papers").add_index({"type": "persistent", "fields": ["t"], "name": "by_t"})
    name = created_name(run(env, "create", "base", "--no-bulk").stdout)

    same = run(env, "restore", name, "--no-bulk", "--dry-run", "--json")
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["collections"] == []
    text = run(env, "restore", name, "--no-bulk", "--dry-run")
    assert "no differences" in text.stdout

    db.collection("authors").update({"_key": "3", "x": 1})  # a document
    db.collection("papers").delete_index("by_t")  # a definition
    db.create_collection("scratch")  # an extra collection
    diff = run(env, "restore", name, "--no-bulk", "--dry-run", "--json")
    collections = {c["name"]: c for c in json.loads(diff.stdout)["collections"]}
    changed = {n: c["change"] for n, c in collections.items()}
    # authors keeps its definition: restored by difference, so what it writes is known
    # (spec/database.md, Restore by difference); papers' index changed: reloaded.
    assert changed == {"authors": "changed", "papers": "replaced", "scratch": "removed"}
    assert (collections["authors"]["n_changed"], collections["authors"]["n_added"]) == (1, 0)
    assert "3 collection(s) differ" in run(env, "restore", name, "--no-bulk", "--dry-run").stdout
