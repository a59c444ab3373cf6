"""export of a snapshot with a database: the files arangodump writes, loadable without snapstore.

The exported ``database/`` folder is read back the way arangorestore reads a dump directory
(``dump.json``; per collection ``<name>.structure.json`` with ``parameters`` and ``indexes``,
and ``<name>.data.json`` with one document per line) and loaded into a fresh database with
plain python-arango calls; the result must equal the snapshotted database.
"""

from __future__ import annotations

import json
from pathlib import Path

from arango.database import StandardDatabase
from click.testing import CliRunner

from snapstore.cli.main import cli
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import documents, raw
from tests.helpers import created_name


def _env(arango_db: ArangoDatabase, tmp_path: Path) -> dict[str, str]:
    return {
        "SNAPSTORE_REPO": str(tmp_path / "repo"),
        "SNAPSTORE_ARANGO_URL": arango_db.url,
        "SNAPSTORE_ARANGO_DB": arango_db.db_name,
        "SNAPSTORE_ARANGO_USER": arango_db.user,
        "SNAPSTORE_ARANGO_PASSWORD": arango_db.password,
        "SNAPSTORE_PROJECT_DIR": str(tmp_path),
    }


def _load_like_arangorestore(folder: Path, target: StandardDatabase) -> None:
    """Load an arangodump directory with python-arango, following arangorestore's rules."""
    for structure in sorted(folder.glob("*.structure.json")):
        doc = json.loads(structure.read_text())
        params, indexes = doc["parameters"], doc["indexes"]
        name = params["name"]
        if name.startswith("_"):
            continue  # system collections need --include-system-collections
        coll = target.create_collection(name, edge=params.get("type") == 3)
        data = folder / f"{name}.data.json"
        docs = [json.loads(line) for line in data.read_text().splitlines() if line]
        if docs:  # as restore-data does: keys and revisions kept
            raw(target, "post", f"/_api/document/{name}", params={"isRestore": "true"}, data=docs)
        for index in indexes:
            body = {k: v for k, v in index.items() if k not in ("id", "selectivityEstimate")}
            coll.add_index(body)


def test_exported_database_loads_into_a_new_database_without_snapstore(
    arango_db: ArangoDatabase, arango_server: ArangoTarget, tmp_path: Path
) -> None:
    db = arango_db.db()
    papers = db.create_collection("papers")
    papers.insert_many([{"_key": f"p{i:03}", "title": f"paper {i}", "n": i} for i in range(150)])
    papers.add_index({"type": "persistent", "fields": ["n"], "name": "by_n"})
    db.create_collection("authors").insert_many([{"_key": f"a{i}", "name": "x"} for i in range(5)])
    db.create_collection("wrote", edge=True).insert_many(
        [
            {"_key": f"w{i}", "_from": f"authors/a{i % 5}", "_to": f"papers/p{i:03}"}
            for i in range(9)
        ]
    )
    env = _env(arango_db, tmp_path)
    runner = CliRunner()
    created = runner.invoke(cli, ["create", "with db", "--no-bulk"], env=env)
    assert created.exit_code == 0, created.output
    name = created_name(created.stdout)

    out = tmp_path / "exported"
    exported = runner.invoke(cli, ["export", name, str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    folder = out / "database"
    dump = json.loads((folder / "dump.json").read_text())
    assert dump["database"] == arango_db.db_name and dump["useEnvelope"] is False
    lines = (folder / "papers.data.json").read_text().splitlines()
    keys = [json.loads(line)["_key"] for line in lines]
    assert keys == sorted(keys) and len(keys) == 150  # _key order, every document
    structure = json.loads((folder / "papers.structure.json").read_text())
    assert structure["parameters"]["name"] == "papers"
    assert [i["name"] for i in structure["indexes"]] == ["by_n"]  # primary is implicit

    arango_server.sys_db().create_database(f"{arango_db.db_name}_copy")
    try:
        target = ArangoDatabase(
            arango_db.url, f"{arango_db.db_name}_copy", arango_db.user, arango_db.password
        ).db()
        _load_like_arangorestore(folder, target)
        for coll in ("papers", "authors", "wrote"):
            assert documents(target, coll) == documents(db, coll), coll
        assert any(i.get("name") == "by_n" for i in target.collection("papers").indexes())
    finally:
        arango_server.sys_db().delete_database(f"{arango_db.db_name}_copy", ignore_missing=True)


def test_mount_layout_and_export_agree_on_database_files(
    arango_db: ArangoDatabase, tmp_path: Path
) -> None:
    db = arango_db.db()
    db.create_collection("empty")
    env = _env(arango_db, tmp_path)
    runner = CliRunner()
    name = created_name(runner.invoke(cli, ["create", "e", "--no-bulk"], env=env).stdout)
    out = tmp_path / "x"
    assert runner.invoke(cli, ["export", name, str(out)], env=env).exit_code == 0
    assert (out / "database" / "empty.data.json").read_bytes() == b""
    assert sorted(p.name for p in (out / "database").iterdir()) == [
        "dump.json",
        "empty.data.json",
        "empty.structure.json",
    ]
