"""A job started from the web view always ends (spec/browse.md, "ui"): done, cancelled, or
failed with a one-line reason, whatever the operation raised. A job left "running" would also
refuse every later operation until the server restarts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from snapstore.base.errors import SnapstoreError
from snapstore.ui.jobs import Job, JobReporter, JobRunner
from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Server, get, post, start_ui, wait_until


def damage_index_cache(ws: Workspace) -> None:
    """Zero the pages of the local index cache's ``chunks`` table (spec/packs.md, the local
    index cache), as a disk error would: the cache still opens and looks in step with the
    repository, and the first chunk lookup fails with "database disk image is malformed"."""
    [path] = ws.cache.rglob("index.sqlite")
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in db.execute("SELECT pageno FROM dbstat WHERE name = 'chunks'")]
    db.close()
    assert pages
    with path.open("r+b") as f:
        for number in pages:
            f.seek((number - 1) * page_size)
            f.write(bytes(page_size))


def _job(server: Server, location: str) -> dict[str, object]:
    answer = get(server, f"{location}.json")
    assert answer.status == 200
    state: dict[str, object] = json.loads(answer.body)
    return state


def _start_restore(server: Server, name: str, target: Path) -> str:
    fields = {"scope": "1", "bulk": "on", "target": str(target)}
    shown = post(server, f"/s/{name}/restore", {"action": "plan", **fields})
    assert shown.status == 200, shown.error
    digest = shown.body.split('name="plan" value="', 1)[1].split('"', 1)[0]
    started = post(
        server,
        f"/s/{name}/restore",
        {"action": "restore", "confirm": "yes", "plan": digest, **fields},
    )
    assert started.status == 303, started.error
    return started.headers["location"]


def test_a_restore_that_crashes_ends_failed_and_frees_the_server(ws: Workspace) -> None:
    """A damaged index cache makes the restore raise an error snapstore does not know
    (sqlite3.DatabaseError): the job ends "failed" with that error on one line, the
    traceback goes to the server's stderr, and the next operation can start."""
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    damage_index_cache(ws)
    with start_ui(ws) as server:
        job = _start_restore(server, name, ws.root / "out")
        wait_until(lambda: _job(server, job)["state"] != "running", "ended")
        state = _job(server, job)
        assert state["state"] == "failed"
        result = str(state["result"])
        assert result.startswith("error: internal error (DatabaseError: ")
        assert "malformed" in result and "\n" not in result
        page = get(server, job)
        assert result in page.body.replace("&#39;", "'")
        assert "sqlite3.DatabaseError" in server.errors()  # the traceback, for a bug report
        # Not busy any more: the restore page offers the next operation.
        assert "Another operation is running" not in get(server, f"/s/{name}/restore").body
        again = _start_restore(server, name, ws.root / "out2")
        assert again != job


def _ended(runner: JobRunner, work: object) -> Job:
    job = runner.start("test", work)  # type: ignore[arg-type]
    wait_until(lambda: job.as_dict()["state"] != "running", "ended")
    return job


def test_whatever_the_work_raises_the_job_ends_with_one_line() -> None:
    runner = JobRunner()

    def bug(reporter: JobReporter) -> str:
        return {"a": 1}["b" * 3]  # type: ignore[return-value]

    def refused(reporter: JobReporter) -> str:
        raise SnapstoreError("snapshot x is permanent\n(use force)")

    def disk(reporter: JobReporter) -> str:
        open("/nonexistent-folder-of-a-test/x")  # noqa: SIM115
        return ""

    def interrupted(reporter: JobReporter) -> str:
        raise KeyboardInterrupt()

    cases = [
        (bug, "failed", "error: internal error (KeyError: 'bbb'); the traceback is in"),
        (refused, "failed", "error: snapshot x is permanent (use force)"),
        (disk, "failed", "error: No such file or directory: /nonexistent-folder-of-a-test/x"),
        (interrupted, "cancelled", "cancelled during: starting"),
        (lambda r: "all done", "done", "all done"),
    ]
    for work, state, result in cases:
        job = _ended(runner, work).as_dict()
        assert job["state"] == state
        assert str(job["result"]).startswith(result), job["result"]
    assert runner.busy() is None
