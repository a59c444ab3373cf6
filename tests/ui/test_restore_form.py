"""The restore page runs exactly the restore its fields and plan show (spec/browse.md, "ui").

A real ``snapstore ui`` process on a repository whose snapshot holds files and a database (the
ArangoDB test server), driven by chromium for what a user does, by plain HTTP for the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from arango import ArangoClient

from tests.arango.conftest import ArangoDatabase
from tests.arango.dbstate import documents
from tests.helpers import Workspace, assert_same_tree, created_name, ok, tree_state
from tests.ui.conftest import Server, browser, get, needs_browser, post, start_ui, wait_for_job


@dataclass
class WithDatabase:
    ws: Workspace
    db: ArangoDatabase
    server: Server
    name: str
    snapshot_tree: dict[bytes, Any]
    live_tree: dict[bytes, Any]  # changed after the snapshot
    live_docs: dict[str, Any]  # changed after the snapshot


@pytest.fixture
def with_db(ws: Workspace, arango_db: ArangoDatabase) -> Iterator[WithDatabase]:
    env = ws.env(
        SNAPSTORE_ARANGO_URL=arango_db.url,
        SNAPSTORE_ARANGO_DB=arango_db.db_name,
        SNAPSTORE_ARANGO_USER=arango_db.user,
        SNAPSTORE_ARANGO_PASSWORD=arango_db.password,
    )
    db = arango_db.db()
    db.create_collection("papers").insert_many([{"_key": str(i), "n": i} for i in range(5)])
    name = created_name(ok(ws.run("create", "base", env=env)).stdout)
    snapshot_tree = tree_state(ws.bulk)
    # The live state moves on: what a wrong restore would silently undo.
    (ws.bulk / "notes.txt").write_text("written after the snapshot\n")
    db.collection("papers").insert({"_key": "new", "n": 99})
    with start_ui(ws, env) as server:
        yield WithDatabase(
            ws,
            arango_db,
            server,
            name,
            snapshot_tree,
            tree_state(ws.bulk),
            documents(db, "papers"),
        )


def _live_unchanged(w: WithDatabase) -> None:
    assert_same_tree(w.live_tree, tree_state(w.ws.bulk), "live files")
    assert documents(w.db.db(), "papers") == w.live_docs


@needs_browser
def test_restore_runs_the_changed_form_only_after_showing_its_plan(
    with_db: WithDatabase, tmp_path: Path
) -> None:
    """Type a target folder, untick the database, type yes and press Restore without
    "Show what this replaces": the page refuses, changes nothing, and shows the plan of the
    form as it is now, with the fields kept. Confirming that plan restores only the files,
    only into the folder."""
    w, out = with_db, tmp_path / "look-at-it-first"
    with browser(w.server.url) as page:
        page.goto(f"{w.server.base}/s/{w.name}/restore")
        assert "the database" in page.inner_text("#plan")  # the default: all of it, in place
        page.fill("input[name=target]", str(out))
        page.uncheck("input[name=db]")
        page.fill("#confirm", "yes")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("#restore-button")
        assert answer.value.status == 409, page.url
        refused = page.inner_text("#refused")
        assert refused.startswith("nothing was changed") and "confirm again" in refused
        _live_unchanged(w)
        assert not out.exists()

        # The plan of the form as it is now; what the user typed is still there.
        plan = page.inner_text("#plan")
        assert f"the folder {out} (new)" in plan
        assert "the database" not in page.inner_text("#plan ul")
        assert page.inner_text("#untouched").startswith("Not restored: the database")
        assert page.input_value("input[name=target]") == str(out)
        assert not page.is_checked("input[name=db]")
        assert page.is_checked("input[name=bulk]")
        assert page.input_value("#confirm") == ""  # a new plan is confirmed anew

        page.fill("#confirm", "yes")
        page.click("#restore-button")
        wait_for_job(page)
        assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    assert_same_tree(w.snapshot_tree, tree_state(out), "restored folder")
    _live_unchanged(w)


@needs_browser
def test_database_into_another_database_beside_a_target_folder(
    with_db: WithDatabase, tmp_path: Path
) -> None:
    """With a target folder the database goes where "into database" says; the live files
    and the live database stay as they are."""
    w, out = with_db, tmp_path / "copy"
    other = f"{w.db.db_name}_copy"
    with browser(w.server.url) as page:
        page.goto(f"{w.server.base}/s/{w.name}/restore")
        page.fill("input[name=target]", str(out))
        page.fill("input[name=target_db]", other)
        page.click("#show-plan")
        plan = page.inner_text("#plan")
        assert f"the folder {out} (new)" in plan
        assert f"the database {other}" in plan
        page.fill("#confirm", "yes")
        page.click("#restore-button")
        wait_for_job(page)
        assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    assert_same_tree(w.snapshot_tree, tree_state(out), "restored folder")
    _live_unchanged(w)
    restored = ArangoClient(hosts=w.db.url).db(other, w.db.user, w.db.password)
    assert sorted(documents(restored, "papers")) == sorted(str(i) for i in range(5))
    ArangoClient(hosts=w.db.url).db("_system", w.db.user, w.db.password).delete_database(other)


def _shown(server: Server, name: str, **fields: str) -> str:
    """The plan digest the restore page shows for these fields ("Show what this replaces")."""
    answer = post(server, f"/s/{name}/restore", {"action": "plan", "scope": "1", **fields})
    assert answer.status == 200, answer.body
    marker = 'name="plan" value="'
    return answer.body.split(marker, 1)[1].split('"', 1)[0]


def test_restore_refuses_a_plan_it_did_not_show(
    served_files: tuple[Server, Workspace, str],
) -> None:
    """Over plain HTTP: a post without the shown plan, or with the plan of other fields, or
    of a state that has changed since, is refused (409) and restores nothing."""
    server, ws, name = served_files
    before = tree_state(ws.bulk)
    fields = {"scope": "1", "bulk": "on", "action": "restore", "confirm": "yes"}

    assert post(server, f"/s/{name}/restore", fields).status == 409  # no plan at all
    in_place = _shown(server, name, bulk="on")
    elsewhere = ws.root / "elsewhere"
    r = post(server, f"/s/{name}/restore", {**fields, "target": str(elsewhere), "plan": in_place})
    assert r.status == 409 and "nothing was changed" in r.error
    assert not elsewhere.exists()

    # The plan named a new folder; the folder appeared since: another plan.
    shown = _shown(server, name, bulk="on", target=str(elsewhere))
    elsewhere.mkdir()
    (elsewhere / "mine.txt").write_text("keep me")
    r = post(server, f"/s/{name}/restore", {**fields, "target": str(elsewhere), "plan": shown})
    assert r.status == 409
    assert (elsewhere / "mine.txt").read_text() == "keep me"
    assert_same_tree(before, tree_state(ws.bulk), "live files")


def test_fields_that_allow_no_restore_keep_the_form(
    served_files: tuple[Server, Workspace, str],
) -> None:
    """Choices that cannot be restored say why beside the fields (400), keep what was typed,
    and offer no Restore button."""
    server, _, name = served_files
    r = post(server, f"/s/{name}/restore", {"action": "plan", "scope": "1", "target": "/x y"})
    assert r.status == 400
    assert "leave nothing to restore" in r.error
    assert 'value="/x y"' in r.body and 'id="restore-button"' not in r.body
    r = get(server, f"/s/{name}/restore?scope=1&bulk=on&include=no-such-file")
    assert r.status == 400 and "no-such-file" in r.error
    r = post(server, f"/s/{name}/restore", {"action": "restore", "scope": "1", "confirm": "yes"})
    assert r.status == 400 and r.error.startswith("nothing was changed")


@pytest.fixture
def served_files(ws: Workspace) -> Iterator[tuple[Server, Workspace, str]]:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    with start_ui(ws) as server:
        yield server, ws, name
