"""Odd addresses get the page they ask for, or an error page with a status and a one-line
reason, never "internal error" (spec/browse.md, "ui"). Plain HTTP against a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.arango.conftest import ArangoDatabase
from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Server, get, start_ui

ODD_NAME = b"caf\xe9-latin1.txt"  # not UTF-8: a name only surrogate escapes can carry


@pytest.fixture
def files(ws: Workspace) -> Iterator[tuple[Server, str]]:
    (ws.bulk / "empty").mkdir()
    (ws.bulk / "one").mkdir()
    (ws.bulk / "one" / "only.txt").write_text("only\n")
    with open(os.path.join(os.fsencode(ws.bulk), ODD_NAME), "wb") as f:
        f.write(b"bytes of a file whose name is not UTF-8\n")
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    with start_ui(ws) as server:
        yield server, name
        assert "Traceback" not in server.errors()


FOLDERS = ["data", "empty", "one", "", "one/", "./data"]  # many entries, none, one; the root


def test_the_file_page_of_a_folder_shows_the_folder(files: tuple[Server, str]) -> None:
    server, name = files
    for folder in FOLDERS:
        r = get(server, f"/s/{name}/file?path={quote(folder)}")
        assert r.status == 303, (folder, r.status, r.error)
        assert r.headers["location"] == f"/s/{name}?path={quote(folder, safe='')}"
        listing = get(server, r.headers["location"])
        assert listing.status == 200 and 'class="files"' in listing.body, folder


def test_the_folder_page_of_a_file_shows_the_file(files: tuple[Server, str]) -> None:
    server, name = files
    r = get(server, f"/s/{name}?path=one/only.txt")
    assert r.status == 303
    shown = get(server, r.headers["location"])
    assert shown.status == 200 and "only" in shown.body


def test_a_folder_cannot_be_downloaded(files: tuple[Server, str]) -> None:
    server, name = files
    r = get(server, f"/s/{name}/raw?path=data")
    assert r.status == 400 and "'data' is a folder" in r.error


def test_a_file_name_that_is_not_utf8_is_listed_shown_and_downloaded(
    files: tuple[Server, str],
) -> None:
    server, name = files
    listing = get(server, f"/s/{name}")
    assert listing.status == 200, listing.error
    link = f"/s/{name}/file?path={quote(ODD_NAME, safe='')}"
    assert link.replace("&", "&amp;") in listing.body
    page = get(server, link)
    assert page.status == 200 and "whose name is not UTF-8" in page.body
    raw = get(server, link.replace("/file?", "/raw?"))
    assert raw.status == 200 and raw.body == "bytes of a file whose name is not UTF-8\n"


@pytest.fixture
def documents(ws: Workspace, arango_db: ArangoDatabase) -> Iterator[tuple[Server, str]]:
    env = ws.env(
        SNAPSTORE_ARANGO_URL=arango_db.url,
        SNAPSTORE_ARANGO_DB=arango_db.db_name,
        SNAPSTORE_ARANGO_USER=arango_db.user,
        SNAPSTORE_ARANGO_PASSWORD=arango_db.password,
    )
    papers = arango_db.db().create_collection("papers")
    papers.insert_many([{"_key": f"{i:03}"} for i in range(120)])  # 3 pages of 50
    name = created_name(ok(ws.run("create", "docs", "--no-bulk", env=env)).stdout)
    with start_ui(ws, env) as server:
        yield server, name
        assert "Traceback" not in server.errors()


PAGES = [  # ?page=, status, reason; the collection has 3 pages
    ("100000000000000000000", 404, "there is no page 100000000000000000000"),
    ("3", 404, "the collection has 3 page(s), 0 to 2"),
    ("-1", 400, "page must be a whole number from 0 to 2, not '-1'"),
    ("abc", 400, "not 'abc'"),
    ("1e3", 400, "not '1e3'"),
    ("", 400, "not ''"),
    ("%EF%BC%91", 400, "page must be a whole number"),  # a fullwidth digit one
]


def test_collection_pages_out_of_range_or_not_numbers(documents: tuple[Server, str]) -> None:
    server, name = documents
    for page, status, reason in PAGES:
        r = get(server, f"/s/{name}/collection/papers?page={page}")
        assert (r.status, reason in r.error) == (status, True), (page, r.status, r.error)


def test_collection_pages_in_range(documents: tuple[Server, str]) -> None:
    server, name = documents
    last = get(server, f"/s/{name}/collection/papers?page=2")
    assert last.status == 200 and "page 3 of 3" in last.body and "119" in last.body
    assert get(server, f"/s/{name}/collection/papers").status == 200  # page 0
    r = get(server, f"/s/{name}/collection/nope?page=0")
    assert r.status == 404 and "has no collection 'nope'" in r.error
