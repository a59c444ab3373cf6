"""Which parts a restore writes (spec/restore.md, "What a restore writes"): ``--target DIR``
sends the files to DIR and leaves the live database alone unless ``--target-db`` names one;
``--collection`` alone restores the database only. The confirmation and ``--dry-run`` say so,
and the Python API follows the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from snapstore.cli.main import cli
from snapstore.config.settings import ArangoSettings, Settings
from snapstore.manager import SnapshotManager
from tests.arango.conftest import ArangoDatabase, ArangoTarget
from tests.arango.dbstate import documents
from tests.helpers import created_name, error_line


class Scene:
    """A bulk tree and a database, snapshotted, then both changed."""

    def __init__(self, arango_db: ArangoDatabase, tmp: Path) -> None:
        self.arango_db = arango_db
        self.bulk = tmp / "bulk"
        self.bulk.mkdir()
        (self.bulk / "notes.txt").write_text("as snapshotted\n")
        self.env = {
            "SNAPSTORE_REPO": str(tmp / "repo"),
            "SNAPSTORE_BULK": str(self.bulk),
            "SNAPSTORE_CACHE_DIR": str(tmp / "cache"),
            "SNAPSTORE_PROJECT_DIR": str(tmp),
            "SNAPSTORE_ARANGO_URL": arango_db.url,
            "SNAPSTORE_ARANGO_DB": arango_db.db_name,
            "SNAPSTORE_ARANGO_USER": arango_db.user,
            "SNAPSTORE_ARANGO_PASSWORD": arango_db.password,
        }
        db = arango_db.db()
        db.create_collection("papers").insert_many([{"_key": str(i)} for i in range(30)])
        db.create_collection("authors").insert_many([{"_key": str(i)} for i in range(5)])
        made = self.run("create", "base", "--no-cleanup")
        assert made.exit_code == 0, made.output
        self.name = created_name(made.stdout)
        # After the snapshot: a file and the database change.
        (self.bulk / "notes.txt").write_text("changed since\n")
        db.collection("papers").delete("1")
        db.collection("authors").delete("1")
        db.create_collection("scratch")

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, input=input)

    def database_untouched(self) -> bool:
        db = self.arango_db.db()
        return (
            "1" not in documents(db, "papers")
            and "1" not in documents(db, "authors")
            and db.has_collection("scratch")
        )

    def settings(self) -> Settings:
        a = self.arango_db
        return Settings(
            repository=self.env["SNAPSTORE_REPO"],
            bulk=(str(self.bulk),),
            project_dir=self.env["SNAPSTORE_PROJECT_DIR"],
            cache_dir=self.env["SNAPSTORE_CACHE_DIR"],
            auto_cleanup=False,
            arangodb=ArangoSettings(url=a.url, database=a.db_name, user=a.user),
        )


@pytest.fixture
def scene(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    monkeypatch.setenv("SNAPSTORE_ARANGO_PASSWORD", arango_db.password)
    return Scene(arango_db, tmp_path)


def test_target_restores_the_files_only(scene: Scene, tmp_path: Path) -> None:
    out = tmp_path / "look-at-it"
    asked = scene.run("restore", scene.name, "--target", str(out), input="no\n")
    assert asked.exit_code == 1
    assert "Database: not restored (--target restores the files only" in asked.stderr
    assert (
        f"REPLACE the files in {out}!" in asked.stderr
        and "database" not in (asked.stderr.split("WARNING")[1])
    )
    done = scene.run("restore", scene.name, "--target", str(out), "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["database"] is None
    assert (out / "notes.txt").read_text() == "as snapshotted\n"
    assert (scene.bulk / "notes.txt").read_text() == "changed since\n"
    assert scene.database_untouched()


def test_target_dry_run_says_which_parts_are_written(scene: Scene, tmp_path: Path) -> None:
    out = tmp_path / "look-at-it"
    dry = scene.run("restore", scene.name, "--target", str(out), "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert f"  files: into {out}" in lines
    assert any(ln.startswith("  database: not restored (--target") for ln in lines), lines
    assert "Collections:" not in dry.stdout
    doc = json.loads(
        scene.run("restore", scene.name, "--target", str(out), "--dry-run", "--json").stdout
    )
    assert doc["writes"]["targets"] == [str(out)] and doc["writes"]["database"] is None
    assert doc["collections"] == []
    whole = json.loads(scene.run("restore", scene.name, "--dry-run", "--json").stdout)
    assert whole["writes"]["database"] == scene.arango_db.db_name
    assert {c["name"] for c in whole["collections"]} >= {"papers", "scratch"}


def test_target_with_target_db_writes_both_and_not_the_live_database(
    scene: Scene, tmp_path: Path, arango_server: ArangoTarget
) -> None:
    out = tmp_path / "look-at-it"
    copy = scene.arango_db.db_name + "_copy"
    try:
        r = scene.run(
            "restore", scene.name, "--target", str(out), "--target-db", copy, "--yes", "--json"
        )
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["database"]["database"] == copy
        copied = arango_server.client().db(copy, scene.arango_db.user, scene.arango_db.password)
        assert len(documents(copied, "papers")) == 30
        assert (out / "notes.txt").read_text() == "as snapshotted\n"
        assert scene.database_untouched()
    finally:
        arango_server.sys_db().delete_database(copy, ignore_missing=True)


def test_collection_alone_restores_the_database_only(scene: Scene) -> None:
    asked = scene.run("restore", scene.name, "--collection", "papers", input="no\n")
    assert "Bulk storage: not restored (--collection restores the database only" in asked.stderr
    r = scene.run("restore", scene.name, "--collection", "papers", "--yes")
    assert r.exit_code == 0, r.output
    assert (scene.bulk / "notes.txt").read_text() == "changed since\n"
    db = scene.arango_db.db()
    assert "1" in documents(db, "papers")
    assert "1" not in documents(db, "authors") and db.has_collection("scratch")


def test_collection_with_include_restores_both(scene: Scene) -> None:
    r = scene.run(
        "restore", scene.name, "--collection", "papers", "--include", "notes.txt", "--yes"
    )
    assert r.exit_code == 0, r.output
    assert (scene.bulk / "notes.txt").read_text() == "as snapshotted\n"
    assert "1" in documents(scene.arango_db.db(), "papers")


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (("--no-bulk", "--target", "DIR"), "--target"),
        (("--collection", "papers", "--target", "DIR"), "--target"),
        (("--collection", "papers", "--no-db"), "--no-db"),
    ],
)
def test_flags_that_contradict_each_other_are_one_line(
    scene: Scene, tmp_path: Path, flags: tuple[str, ...], needle: str
) -> None:
    argv = [str(tmp_path / "dir") if f == "DIR" else f for f in flags]
    r = scene.run("restore", scene.name, *argv, "--yes")
    assert r.exit_code == 2, r.output
    error_line(r.stderr, needle)
    assert scene.database_untouched()
    assert (scene.bulk / "notes.txt").read_text() == "changed since\n"


def test_the_seed_command_lines_keep_their_meaning(scene: Scene) -> None:
    r = scene.run("restore", scene.name, "--no-bulk", "--yes")
    assert r.exit_code == 0, r.output
    assert (scene.bulk / "notes.txt").read_text() == "changed since\n"
    assert not scene.database_untouched()
    (scene.bulk / "notes.txt").write_text("changed again\n")
    scene.arango_db.db().collection("papers").delete("2")
    r = scene.run("restore", scene.name, "--yes")
    assert r.exit_code == 0, r.output
    assert (scene.bulk / "notes.txt").read_text() == "as snapshotted\n"
    assert "2" in documents(scene.arango_db.db(), "papers")


def test_the_python_api_follows_the_same_rule(scene: Scene, tmp_path: Path) -> None:
    manager = SnapshotManager(scene.settings())
    plan = manager.plan_restore(scene.name, target=str(tmp_path / "t"))
    assert plan.restore_bulk and not plan.restore_db
    assert plan.database_note.startswith("--target restores the files only")
    result = manager.restore_snapshot(scene.name, confirm=True, target=str(tmp_path / "t"))
    assert result.database is None and scene.database_untouched()
    assert (tmp_path / "t" / "notes.txt").read_text() == "as snapshotted\n"
    result = manager.restore_snapshot(scene.name, confirm=True, collections=["papers"])
    assert result.targets == () and (scene.bulk / "notes.txt").read_text() == "changed since\n"
    assert "1" in documents(scene.arango_db.db(), "papers")
