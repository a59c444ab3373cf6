"""The file tree and the viewer in chromium (spec/browse.md, "ui"): folders first, a page
at a time, folder sizes, symbolic modes; a file's versions across snapshots with "restore
this file"; the head of a big text file, other encodings, hex for binaries, symlinks as
links."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Server, browser, get, needs_browser, start_ui, wait_for_job

pytestmark = needs_browser

ENTRIES = 450  # files in one folder: three pages of 200
LATIN1 = "Café, naïve, Ångström: 900 bytes of Latin-1\n".encode("latin-1") * 20


@dataclass
class Tree:
    ws: Workspace
    server: Server
    names: list[str]  # oldest first


@pytest.fixture
def tree(ws: Workspace) -> Iterator[Tree]:
    wide = ws.bulk / "wide"
    wide.mkdir()
    for i in range(ENTRIES):
        (wide / f"f{i:03}.txt").write_text("x" * i)
    (wide / "zz-sub").mkdir()
    (wide / "zz-sub" / "inner.bin").write_bytes(b"\1" * 5000)
    (ws.bulk / "big.log").write_bytes(b"line of a long log\n" * 90_000)  # 1.6 MiB
    (ws.bulk / "latin1.txt").write_bytes(LATIN1)
    (ws.bulk / "data" / "blob.bin").write_bytes(bytes(range(256)) * 40)
    os.chmod(ws.bulk / "notes.txt", 0o640)
    names = [created_name(ok(ws.run("create", "first", "--no-db")).stdout)]
    (ws.bulk / "notes.txt").write_text("second version\n")
    names.append(created_name(ok(ws.run("create", "second", "--no-db")).stdout))
    names.append(created_name(ok(ws.run("create", "third", "--no-db")).stdout))
    (ws.bulk / "notes.txt").write_text("the live one\n")
    with start_ui(ws) as server:
        yield Tree(ws, server, names)


def test_folders_first_sizes_and_pages(tree: Tree) -> None:
    name = tree.names[-1]
    with browser(tree.server.url) as page:
        page.goto(f"{tree.server.base}/s/{name}")
        rows = page.locator("table.files tbody tr")
        kinds = [r.get_attribute("class") for r in rows.all()]
        assert kinds == sorted(kinds, key=lambda k: k != "dir"), kinds  # folders first
        wide = page.locator("table.files tr.dir", has_text="wide/")
        total = sum(range(ENTRIES)) + 5000
        assert wide.locator("td.num").inner_text() == f"{total / 1024:.1f} KB"
        notes = page.locator("table.files tr", has_text="notes.txt")
        assert notes.locator("code").inner_text() == "-rw-r-----"
        assert notes.locator("code").get_attribute("title") == "0640"

        page.click("text=wide/")
        assert page.locator("table.files tbody tr").count() == 200
        first = page.locator("table.files tbody tr").first
        assert "zz-sub/" in first.inner_text()  # the folder before the files
        assert "entries 1-200 of 451" in page.inner_text(".pager >> nth=0")
        page.locator("a[rel=next]").first.click()
        page.locator("a[rel=next]").first.click()
        assert page.locator("table.files tbody tr").count() == 51
        assert page.locator("a[rel=next]").count() == 0
        assert get(tree.server, f"/s/{name}?path=wide&page=3").status == 404


def test_versions_of_a_file_and_restoring_one(tree: Tree) -> None:
    first, second, third = tree.names
    with browser(tree.server.url) as page:
        page.goto(f"{tree.server.base}/s/{third}/file?path=notes.txt")
        page.click("#versions")
        rows = page.locator("table.versions tbody tr")
        assert rows.count() == 3
        listed = [r.locator("td.what a").inner_text().replace("\n", "") for r in rows.all()]
        assert listed == [third, second, first]  # newest first, as find lists them
        assert "same as above" not in rows.nth(0).inner_text()
        assert "same as above" in rows.nth(1).inner_text()  # unchanged from second to third
        rows.nth(2).locator("a.restore-file").click()
        # The restore page, only that path, files only: the same confirmation as ever.
        assert page.input_value("textarea[name=include]") == "notes.txt"
        assert not page.is_checked("input[name=db]")
        assert page.locator("#plan code.part").inner_text() == "notes.txt"
        page.fill("#confirm", "yes")
        page.click("#restore-button")
        wait_for_job(page)
        assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    assert (tree.ws.bulk / "notes.txt").read_text() == "experiment notes\n" * 20
    assert (tree.ws.bulk / "latin1.txt").read_bytes() == LATIN1  # nothing else restored


def test_the_viewer(tree: Tree) -> None:
    name = tree.names[-1]
    base = f"{tree.server.base}/s/{name}/file?path="
    with browser(tree.server.url) as page:
        page.goto(base + "big.log")
        assert "The first 1 MiB of 1.6 MB is shown" in page.inner_text("#truncated")
        shown = page.inner_text("#text")
        assert shown.startswith("line of a long log\n") and len(shown) <= 1 << 20
        assert len(shown) > (1 << 20) - 100
        assert page.locator("#truncated a").get_attribute("href") == f"/s/{name}/raw?path=big.log"

        page.goto(base + "latin1.txt")
        assert "Windows-1252" in page.inner_text("#encoding")
        assert page.inner_text("#text").startswith("Café, naïve, Ångström")

        page.goto(base + "data/blob.bin")
        hexed = page.inner_text("#hex")
        assert hexed.startswith("00000000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ")
        assert "10 KB in hex" not in page.inner_text("#binary")  # the first 4.0 KB only
        assert "download the rest" in page.inner_text("#binary")

        page.goto(base + "link")
        assert page.locator("#download").count() == 0  # no Download that leads to a 400
        assert page.inner_text("#link").startswith("A symbolic link to data/weights.bin")
        page.click("#link a")
        page.wait_for_url("**/file?path=data%2Fweights.bin")
        assert page.locator("#download").count() == 1

        page.goto(base + "dangling")
        assert "does-not-exist (outside this snapshot, or not in it)" in page.inner_text("#link")
        assert page.locator("#link a").count() == 0
