"""The diff page in chromium (spec/browse.md, "ui"): where the bytes really changed (chunks
the newer snapshot holds and the older does not), and a line diff of a changed text file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Server, browser, needs_browser, start_ui

pytestmark = needs_browser

MODEL = 2 << 20  # a model file of which only the end changes
TAIL = 64 << 10


@dataclass
class Two:
    server: Server
    a: str
    b: str


@pytest.fixture
def two(small_ws: Workspace) -> Iterator[Two]:
    ws = small_ws  # small chunks: a changed tail is a few new chunks
    (ws.bulk / "models").mkdir()
    model = os.urandom(MODEL)
    (ws.bulk / "models" / "net.bin").write_bytes(model)
    (ws.bulk / "models" / "other.bin").write_bytes(os.urandom(300_000))  # unchanged
    (ws.bulk / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    a = created_name(ok(ws.run("create", "before", "--no-db")).stdout)
    (ws.bulk / "models" / "net.bin").write_bytes(model[:-TAIL] + os.urandom(TAIL))
    (ws.bulk / "notes.txt").write_text("alpha\nBETA\ngamma\n")
    b = created_name(ok(ws.run("create", "after", "--no-db")).stdout)
    with start_ui(ws) as server:
        yield Two(server, a, b)


def _kib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"B": 1 / 1024, "KB": 1, "MB": 1024}[unit]


def test_the_bars_count_the_new_chunks_not_the_file_sizes(two: Two) -> None:
    with browser(two.server.url) as page:
        page.goto(f"{two.server.base}/diff?a={two.a}&b={two.b}")
        bars = page.locator(".bar-row")
        assert "models" in bars.nth(0).inner_text()
        changed = _kib(bars.nth(0).locator(".bar-value").inner_text())
        # At least the rewritten tail, and far from the 2.3 MB of the folder's files.
        assert TAIL / 1024 <= changed < MODEL / 1024 / 4, changed


def test_a_changed_text_file_has_a_line_diff(two: Two) -> None:
    with browser(two.server.url) as page:
        page.goto(f"{two.server.base}/diff?a={two.a}&b={two.b}")
        row = page.locator("table.changes tr", has_text="notes.txt")
        row.locator("a.text-diff").click()
        lines = page.inner_text("#udiff").splitlines()
        assert lines[:3] == [f"--- {two.a}/notes.txt", f"+++ {two.b}/notes.txt", "@@ -1,3 +1,3 @@"]
        assert lines[3:] == [" alpha", "-beta", "+BETA", " gamma"]
        assert page.locator("#udiff .del").inner_text() == "-beta"
        # The big binary has no line diff link.
        page.go_back()
        assert page.locator("table.changes tr", has_text="net.bin").locator("a").count() == 0
