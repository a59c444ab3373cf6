"""The timeline in chromium (spec/browse.md, "ui"): it fits 800 px and up, says what each
snapshot is before its name, dates relative with the exact one on hover, sizes in units
people read, verdicts with their reasons folded, safety snapshots under the snapshot whose
restore they guard, the deduplication ratio, and a chart that follows the window, stays
readable when one snapshot dwarfs the others, and opens a snapshot on click."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Server, browser, needs_browser, start_ui, wait_until

pytestmark = needs_browser

BIG = 4 << 20  # the first snapshot's data: far more than the later ones add


@dataclass
class History:
    ws: Workspace
    server: Server
    names: list[str]  # oldest first, the safety snapshot last
    restored: str  # the snapshot restored (its safety snapshot goes under it)
    safety: str


@pytest.fixture
def history(ws: Workspace) -> Iterator[History]:
    (ws.bulk / "models").mkdir()
    (ws.bulk / "models" / "big.bin").write_bytes(os.urandom(BIG))
    names = [created_name(ok(ws.run("create", "imported the raw data", "--no-db")).stdout)]
    for i in range(3):
        (ws.bulk / f"run{i}.csv").write_text(f"step,loss\n1,0.{i}\n" * 200)
        names.append(created_name(ok(ws.run("create", f"after run {i}", "--no-db")).stdout))
    restored = names[1]
    ok(ws.run("restore", restored, "--yes", "--no-db"))
    listed = json.loads(ok(ws.run("list", "--json")).stdout)
    safety = next(s["snapshot_name"] for s in _snapshots(listed) if s["snapshot_name"] not in names)
    names.append(safety)
    with start_ui(ws) as server:
        yield History(ws, server, names, restored, safety)


def _snapshots(listed: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = listed["snapshots"] if isinstance(listed, dict) else listed
    return out


def _no_horizontal_scroll(page: Any) -> None:
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], f"the page is {sizes[0]} px wide in a {sizes[1]} px window"


def test_the_timeline_fits_800_and_1400_px(history: History) -> None:
    with browser(history.server.url) as page:
        for width in (1400, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.reload()
            page.wait_for_selector("#chart canvas")
            # The chart follows its box: no wider than the window, nor much narrower.
            wait_until(
                lambda: abs(_chart(page, "width") - _box_width(page)) <= 2,
                f"chart as wide as its box at {width} px",
            )
            assert _chart(page, "width") < width
            _no_horizontal_scroll(page)
            # Every column is on screen (the last one's right edge inside the window).
            right = page.evaluate(
                "() => document.querySelector('table.snapshots th:last-child')"
                ".getBoundingClientRect().right"
            )
            assert right <= width


def _chart(page: Any, what: str) -> float:
    value: float = page.evaluate(f"() => document.getElementById('chart').uplot.{what}")
    return value


def _box_width(page: Any) -> float:
    width: float = page.evaluate("() => document.getElementById('chart').clientWidth")
    return width


def test_rows_say_what_when_and_how_much(history: History) -> None:
    with browser(history.server.url) as page:
        rows = page.locator("table.snapshots > tbody > tr")
        assert rows.count() == 4  # the safety snapshot is not a row of its own
        newest = rows.nth(0)
        first_line = newest.locator("td.what").inner_text().splitlines()[0]
        assert first_line == "after run 2"  # the description first, then the name
        when = newest.locator("td.when time")
        assert when.inner_text() == "just now"
        exact = when.get_attribute("title")
        assert exact is not None and exact.startswith(history.names[3][6:10])  # the year
        oldest = rows.nth(3)
        assert oldest.locator("td.num").nth(0).inner_text() == "4.0 MB"  # what it holds
        assert oldest.locator("td.num").nth(1).inner_text().endswith(" MB")
        assert rows.nth(0).locator("td.num").nth(1).inner_text().endswith(" KB")
        # The verdict shows; its reasons open on a click.
        verdict = newest.locator("details.verdict")
        assert verdict.locator("summary").inner_text() == "keep"
        assert not verdict.locator(".reasons").is_visible()
        verdict.locator("summary").click()
        assert verdict.locator(".reasons").is_visible()


def test_a_safety_snapshot_sits_under_the_restore_it_guards(history: History) -> None:
    with browser(history.server.url) as page:
        row = page.locator(f"table.snapshots > tbody > tr[data-name='{history.restored}']")
        under = row.locator("ul.safety > li")
        assert under.count() == 1
        assert "safety snapshot before a restore of this" in under.inner_text()
        assert under.locator("a").first.get_attribute("href") == f"/s/{history.safety}"


def test_the_summary_gives_the_deduplication_ratio(history: History) -> None:
    listed = _snapshots(json.loads(ok(history.ws.run("list", "--json")).stdout))
    infos = [history.ws.manager().get_snapshot(s["snapshot_name"]) for s in listed]
    holds = sum(round(i.total_mb * 1024 * 1024) for i in infos)
    stored = sum(i.added_bytes for i in infos)
    with browser(history.server.url) as page:
        assert page.inner_text("#dedup") == f"{holds / stored:.1f}×"
    assert holds / stored > 2  # five snapshots of mostly the same 4 MB


def test_the_chart_stays_readable_and_opens_a_snapshot(history: History) -> None:
    """The newest snapshot added a few KB after one of 4 MB: on the chart its point stands
    at more than a tenth of the big one's height (a linear scale would put it a
    thousandth of the way up: on the axis). Clicking it opens that snapshot."""
    with browser(history.server.url) as page:
        page.wait_for_selector("#chart canvas")
        s = json.loads(page.get_attribute("#chart", "data-series") or "{}")
        i = s["name"].index(history.names[3])
        assert s["new"][i] * 100 < s["new"][0]  # it is dwarfed
        x, y, top, height = page.evaluate(
            f"""() => {{ const u = document.getElementById('chart').uplot;
                return [u.valToPos(u.data[0][{i}], 'x'), u.valToPos(u.data[2][{i}], 'y'),
                        u.valToPos(u.data[2][0], 'y'), u.over.clientHeight]; }}"""
        )
        assert height - y > 0.1 * (height - top), (y, top, height)
        box = page.locator("#chart .u-over").bounding_box()
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_url(f"**/s/{history.names[3]}")
        assert "after run 2" in page.inner_text("h1")
