"""``/jobs`` and honest cancelling (spec/browse.md, "ui"): every job since the server
started with its phase, elapsed time, result and safety snapshot; a cancel is accepted only
when it will be acted on, and refused (409, said on the page) once a restore has written
its files and is syncing them and swapping them in."""

from __future__ import annotations

import threading
from pathlib import Path

from snapstore.ui.jobs import NO_RETURN, JobReporter, JobRunner, writes_into
from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import browser, get, needs_browser, post, start_ui, wait_for_job, wait_until


def _ended(runner: JobRunner, job_id: str) -> bool:
    job = runner.get(job_id)
    return job is not None and job.as_dict()["state"] != "running"


def test_a_cancel_after_the_last_write_is_refused_and_the_restore_completes(
    tmp_path: Path,
) -> None:
    """The reporter calls a bulk restore makes, in its order: "Restoring TARGET" starts,
    advances, finishes; then the restore syncs and swaps in without reporting. A cancel in
    that gap is refused, the phase says why, and the job ends done."""
    target = str(tmp_path / "out")
    syncing, release = threading.Event(), threading.Event()

    def restore_like(reporter: JobReporter) -> str:
        reporter.start(f"Restoring {target}", 10)
        reporter.advance(10)
        reporter.finish()
        syncing.set()
        release.wait(30)
        return "restored"

    runner = JobRunner()
    job = runner.start("Restore x", restore_like, commits=writes_into([target]))
    assert syncing.wait(30)
    state = job.as_dict()
    assert state["step"].endswith(NO_RETURN) and state["can_cancel"] is False
    refused = job.cancel()
    assert refused is not None and refused.startswith("too late to cancel")
    release.set()
    wait_until(lambda: _ended(runner, job.id), "ended")
    state = job.as_dict()
    assert (state["state"], state["result"]) == ("done", "restored")
    assert any(m.startswith("cancel refused: too late") for m in state["messages"])


def test_a_cancel_during_the_writes_stops_before_the_commit(tmp_path: Path) -> None:
    """A cancel after the phase's last progress report is still delivered, by ``finish``:
    the restore stops before it syncs (it used to be ignored)."""
    target = str(tmp_path / "out")
    written, go_on = threading.Event(), threading.Event()
    after: list[str] = []

    def restore_like(reporter: JobReporter) -> str:
        reporter.start(f"Restoring {target}/data", 10)
        reporter.advance(10)
        written.set()
        go_on.wait(30)
        reporter.finish()
        after.append("synced")
        return "restored"

    runner = JobRunner()
    job = runner.start("Restore x", restore_like, commits=writes_into([target]))
    assert written.wait(30)
    assert job.cancel() is None  # accepted: it will be acted on
    go_on.set()
    wait_until(lambda: _ended(runner, job.id), "ended")
    assert job.as_dict()["state"] == "cancelled" and after == []


def test_jobs_are_all_kept() -> None:
    runner = JobRunner()
    ids = [runner.start(f"job {i}", lambda r: "ok").id for i in range(25) if _wait_idle(runner)]
    wait_until(lambda: all(_ended(runner, i) for i in ids), "all ended")
    assert [j.id for j in runner.all()] == list(reversed(ids))  # newest first, none dropped


def _wait_idle(runner: JobRunner) -> bool:
    wait_until(lambda: runner.busy() is None, "idle")
    return True


@needs_browser
def test_the_jobs_page_lists_the_restore_and_its_safety_snapshot(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    (ws.bulk / "notes.txt").write_text("changed after the snapshot\n")
    with start_ui(ws) as server, browser(server.url) as page:
        page.goto(f"{server.base}/s/{name}/restore")
        page.fill("#confirm", "yes")
        page.click("#restore-button")
        wait_for_job(page)
        assert page.inner_text("#job-state") == "done", page.inner_text("#job")
        safety = page.inner_text("#job-safety-link")
        assert safety.startswith("metis_") and "safety" in safety
        job_url = page.url
        # Cancel after the end: refused, not "stopping at the next step".
        refused = post(server, job_url.split(server.base, 1)[1] + "/cancel", {})
        assert refused.status == 409 and "already ended (done)" in refused.error

        page.goto(f"{server.base}/jobs")
        row = page.locator("table.jobs tbody tr")
        assert row.count() == 1
        text = row.inner_text()
        assert f"Restore {name}" in text and "done" in text and " s" in text
        assert f"restored {name}" in text
        assert row.locator("a.safety-link").get_attribute("href") == f"/s/{safety}"
        page.click("a.safety-link")
        page.wait_for_url(f"**/s/{safety}")
        assert get(server, f"/s/{safety}").status == 200


@needs_browser
def test_a_delete_cannot_be_cancelled_and_says_so(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    with start_ui(ws) as server:
        started = post(server, f"/s/{name}/delete", {"confirm": "yes"})
        assert started.status == 303
        r = post(server, started.headers["location"] + "/cancel", {})
        assert r.status == 409
        assert "cannot be cancelled once started" in r.error
