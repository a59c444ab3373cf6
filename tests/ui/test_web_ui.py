"""The web view in a real browser (Debian's chromium driven by Playwright), on a real repository.

``snapstore ui`` runs as its own process; the tests open the address it prints, click through
the pages, a diff, a restore and a delete with their typed confirmations, and check the result
on disk. The README's screenshots are taken by test_screenshots.py.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Workspace, assert_same_tree, created_name, ok, tree_state
from tests.ui.conftest import browser, needs_browser, start_ui, wait_for_job

pytestmark = needs_browser


@dataclass
class Served:
    ws: Workspace
    url: str  # with the token
    base: str  # http://127.0.0.1:PORT
    port: int
    names: list[str]  # snapshots, oldest first
    trees: dict[str, dict]


@pytest.fixture
def served(small_ws: Workspace) -> Iterator[Served]:
    ws = small_ws
    names, trees = [], {}
    (ws.bulk / "results").mkdir()
    (ws.bulk / "results" / "run1.csv").write_text("step,loss\n1,0.9\n2,0.7\n")
    for i, description in enumerate(["baseline", "after run 2", "after cleanup"]):
        if i == 1:
            (ws.bulk / "results" / "run2.csv").write_text("step,loss\n1,0.8\n")
            (ws.bulk / "data" / "weights.bin").write_bytes(os.urandom(30_000))
        if i == 2:
            (ws.bulk / "notes.txt").unlink()
        names.append(created_name(ok(ws.run("create", description, "--no-db")).stdout))
        trees[names[-1]] = tree_state(ws.bulk)
    with start_ui(ws) as server:
        yield Served(ws, server.url, server.base, server.port, names, trees)


@pytest.fixture
def page(served: Served) -> Iterator[object]:
    with browser(served.url) as pg:
        yield pg


def _status(served: Served, path: str, host: str | None = None, cookie: str | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{served.port}"}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("GET", path, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_requests_without_the_token_or_from_another_host_are_refused(served: Served) -> None:
    token = served.url.split("token=", 1)[1]
    cookie = f"snapstore_token_{served.port}"
    assert _status(served, "/") == 403
    assert _status(served, "/s/" + served.names[0]) == 403
    assert _status(served, "/static/app.css") == 403
    assert _status(served, "/", cookie=f"{cookie}=wrong") == 403
    assert _status(served, f"/?token={token}", host="evil.example:80") == 403
    assert _status(served, "/", host="evil.example", cookie=f"{cookie}={token}") == 403
    assert _status(served, f"/?token={token}") == 303  # trades the token for a cookie
    assert _status(served, "/", cookie=f"{cookie}={token}") == 200
    assert _status(served, "/", cookie=f"snapstore_token_1={token}") == 403  # another port's


def test_timeline_snapshot_and_file_pages(served: Served, page) -> None:
    page.wait_for_selector("#chart canvas")  # the chart was drawn
    rows = page.locator("table.snapshots tbody tr")
    assert rows.count() == 3
    assert "after cleanup" in rows.nth(0).inner_text()  # newest first
    assert "keep" in rows.nth(0).inner_text()

    page.click("table.snapshots >> text=after run 2")
    page.wait_for_selector("table.files")
    assert "results/" in page.inner_text("table.files")
    page.click("table.files >> text=results/")
    page.click("text=run2.csv")
    assert "step,loss" in page.inner_text("pre.viewer")

    page.go_back()
    page.go_back()


def test_diff_of_two_snapshots(served: Served, page) -> None:
    page.goto(f"{served.base}/diff")
    page.select_option("select[name=a]", served.names[0])
    page.select_option("select[name=b]", served.names[1])
    page.click("text=Compare")
    summary = page.inner_text("#diff-summary")
    assert summary.startswith("1 added")  # results/run2.csv
    assert "1 modified" in summary  # data/weights.bin
    bars = page.locator(".bar-row")
    assert bars.count() == 2 and "data" in bars.nth(0).inner_text()  # most bytes first


def test_restore_into_a_folder_with_typed_confirmation(
    served: Served, page, tmp_path: Path
) -> None:
    oldest = served.names[0]
    out = tmp_path / "restored"
    page.goto(f"{served.base}/s/{oldest}/restore")
    page.fill("input[name=target]", str(out))
    page.uncheck("input[name=db]")
    page.click("text=Show what this replaces")
    assert str(out) in page.inner_text("#plan")
    assert "no safety snapshot is needed" in page.inner_text("#plan")  # a new folder

    page.fill("#confirm", "no")
    page.click("#restore-button")
    assert page.locator("#confirm-error").inner_text().startswith("type yes")
    assert not out.exists()

    # The refused page keeps the choices and shows the same plan: confirm there.
    assert page.input_value("input[name=target]") == str(out)
    assert str(out) in page.inner_text("#plan")
    page.fill("#confirm", "yes")
    page.click("#restore-button")
    wait_for_job(page)
    assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    assert "restored" in page.inner_text("#job-result")

    assert_same_tree(served.trees[oldest], tree_state(out))


def test_delete_and_pin_from_the_snapshot_page(served: Served, page) -> None:
    from playwright.sync_api import expect

    name = served.names[1]
    page.goto(f"{served.base}/s/{name}")
    page.click("text=Pin")
    # The click posts the form; the Unpin button exists once the page has come back.
    expect(page.locator("button", has_text="Unpin")).to_have_count(1)
    page.click("text=Delete…")
    expect(page.locator("main")).to_contain_text("pinned")
    page.fill("#confirm", "yes")
    page.click("button.danger")
    wait_for_job(page)
    assert page.inner_text("#job-state") == "failed"  # pinned: needs the tick
    assert "permanent" in page.inner_text("#job-result")
    page.goto(f"{served.base}/s/{name}/delete")
    page.check("input[name=force]")
    page.fill("#confirm", "yes")
    page.click("button.danger")
    wait_for_job(page)
    assert page.inner_text("#job-state") == "done"
    listed = ok(served.ws.run("list", "--json")).stdout
    assert name not in listed and served.names[0] in listed


def test_bad_input_gets_a_clear_page_and_status(served: Served, page) -> None:
    r = page.goto(f"{served.base}/s/metis_19990101_000000_nope")
    assert r is not None and r.status == 404
    assert "no snapshot" in page.inner_text(".error")
    r = page.goto(f"{served.base}/s/{served.names[0]}/file?path=../../etc/passwd")
    assert r is not None and r.status == 400
    assert "leaves the snapshot" in page.inner_text(".error")
    r = page.goto(f"{served.base}/s/{served.names[0]}/file?path=nope.txt")
    assert r is not None and r.status == 404
    r = page.goto(f"{served.base}/no/such/page")
    assert r is not None and r.status == 404


def test_restore_of_chosen_paths_in_place_changes_nothing_else(served: Served, page) -> None:
    """The restore page's "only these paths" is restore --include: notes.txt (deleted after
    the first snapshot) comes back, and nothing else in the live tree changes."""
    oldest = served.names[0]
    bulk = served.ws.bulk
    before = tree_state(bulk)
    page.goto(f"{served.base}/s/{oldest}/restore")
    page.uncheck("input[name=db]")
    page.fill("textarea[name=include]", "notes.txt")
    page.click("text=Show what this replaces")
    assert "only these paths" in page.inner_text("#plan")
    assert page.locator("#plan code.part").inner_text() == "notes.txt"
    page.fill("#confirm", "yes")
    page.click("#restore-button")
    wait_for_job(page)
    assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    after = tree_state(bulk)
    assert after[b"notes.txt"] == served.trees[oldest][b"notes.txt"]
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert changed == {b"notes.txt", b""}  # the file, and the mtime of its folder
