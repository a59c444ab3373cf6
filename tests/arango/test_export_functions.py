"""export keeps user-defined AQL functions as arangodump does (spec/browse.md): the
``_aqlfunctions`` system collection's documents, so ``arangorestore
--include-system-collections true`` brings them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arango.database import StandardDatabase
from click.testing import CliRunner

from snapstore.cli.main import cli
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import raw
from tests.helpers import created_name

FUNCTIONS = (
    ("stats::double", "function (x) { return x * 2; }", True),
    ("Stats::Greet", "function (name) { return 'hello ' + name; }", False),
)


def _functions(db: StandardDatabase) -> list[dict[str, Any]]:
    functions: list[dict[str, Any]] = raw(db, "get", "/_api/aqlfunction")["result"]
    return sorted(functions, key=lambda f: str(f["name"]))


def test_exported_aql_functions_come_back_with_arangorestore(
    arango_db: ArangoDatabase, arango_server: ArangoTarget, tmp_path: Path
) -> None:
    db = arango_db.db()
    raw(db, "post", "/_api/collection", data={"name": "papers"})
    for name, code, deterministic in FUNCTIONS:
        raw(
            db,
            "post",
            "/_api/aqlfunction",
            data={"name": name, "code": code, "isDeterministic": deterministic},
        )
    env = {
        "SNAPSTORE_REPO": str(tmp_path / "repo"),
        "SNAPSTORE_ARANGO_URL": arango_db.url,
        "SNAPSTORE_ARANGO_DB": arango_db.db_name,
        "SNAPSTORE_ARANGO_USER": arango_db.user,
        "SNAPSTORE_ARANGO_PASSWORD": arango_db.password,
        "SNAPSTORE_PROJECT_DIR": str(tmp_path),
    }
    runner = CliRunner()
    created = runner.invoke(cli, ["create", "with functions", "--no-bulk"], env=env)
    assert created.exit_code == 0, created.output
    out = tmp_path / "exported"
    exported = runner.invoke(cli, ["export", created_name(created.stdout), str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    folder = out / "database"
    structure = json.loads((folder / "_aqlfunctions.structure.json").read_text())
    assert structure["parameters"]["name"] == "_aqlfunctions"
    assert structure["parameters"]["isSystem"] is True
    docs = [json.loads(x) for x in (folder / "_aqlfunctions.data.json").read_text().splitlines()]
    # The documents arangod keeps: the key is the name in upper case, the code wrapped.
    assert sorted(d["_key"] for d in docs) == ["STATS::DOUBLE", "STATS::GREET"]
    by_name = {d["name"]: d for d in docs}
    assert by_name["stats::double"]["code"] == "(function (x) { return x * 2; }\n)"
    assert by_name["Stats::Greet"]["isDeterministic"] is False

    # arangorestore --include-system-collections true: the documents, keys kept.
    copy = f"{arango_db.db_name}_fn_copy"
    arango_server.sys_db().create_database(copy)
    try:
        target = ArangoDatabase(arango_db.url, copy, arango_db.user, arango_db.password).db()
        raw(target, "post", "/_api/document/_aqlfunctions", params={"isRestore": "true"}, data=docs)
        assert _functions(target) == _functions(db)
        assert len(_functions(target)) == 2
    finally:
        arango_server.sys_db().delete_database(copy, ignore_missing=True)
