"""Every page at 1,400 and 800 px wide, in chromium: none scrolls sideways, and each is
photographed for the README (into this run's tmp folder, or ``$SNAPSTORE_SCREENSHOTS``:
``SNAPSTORE_SCREENSHOTS=docs/screenshots`` renews the README's; tests/ui/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT, Workspace, created_name, ok
from tests.ui.conftest import Server, browser, needs_browser, start_ui, wait_for_job

SHOTS = REPO_ROOT / "build" / "ui-screenshots"  # replaced by the chosen folder (conftest)
WIDTHS = (1400, 800)

pytestmark = needs_browser


@dataclass
class Project:
    ws: Workspace
    server: Server
    names: list[str]  # oldest first


def _history(ws: Workspace) -> list[str]:
    """A few weeks of an experiment: raw data, runs, a cleanup, a pinned result."""
    (ws.bulk / "models").mkdir()
    (ws.bulk / "models" / "encoder.bin").write_bytes(os.urandom(3 << 20))
    (ws.bulk / "results").mkdir()
    steps = [
        ("Imported the raw survey data", None),
        ("Baseline model, learning rate 3e-4", "results/run1.csv"),
        ("Second run with the cleaned labels", "results/run2.csv"),
        ("Fine-tuned encoder on the new split", "models/encoder-ft.bin"),
        ("Results for the paper draft", "results/summary.md"),
    ]
    names = []
    for description, added in steps:
        if added and added.endswith(".bin"):
            (ws.bulk / added).write_bytes(os.urandom(600_000))
        elif added:
            (ws.bulk / added).write_text("step,loss,accuracy\n" + "1,0.61,0.72\n" * 300)
        (ws.bulk / "notes.txt").write_text(f"{description}\n" * 10)
        names.append(created_name(ok(ws.run("create", description, "--no-db")).stdout))
    ok(ws.run("pin", names[-1]))
    return names


@pytest.fixture
def project(ws: Workspace) -> Iterator[Project]:
    names = _history(ws)
    with start_ui(ws) as server:
        yield Project(ws, server, names)


def _fits(page: Any, width: int, what: str) -> None:
    page.wait_for_load_state("load")
    scroll, client = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    wide = page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth)"
        ".slice(0, 3).map((e) => e.outerHTML.slice(0, 120))"
    )
    assert scroll <= client, f"{what} is {scroll} px wide at {width} px: {wide}"


def _shoot(page: Any, what: str, width: int) -> None:
    _fits(page, width, what)
    page.screenshot(path=Path(SHOTS) / f"{what}-{width}.png", full_page=True)


def _restore_and_list_jobs(page: Any, project: Project, width: int) -> None:
    base, name = project.server.base, project.names[1]
    page.goto(f"{base}/s/{name}/restore")
    page.uncheck("input[name=db]")
    page.fill("textarea[name=include]", "results/run1.csv\nnotes.txt")
    with page.expect_navigation():  # the plan's page, loaded (not the form still unloading)
        page.click("#show-plan")
    _shoot(page, "restore", width)
    page.fill("#confirm", "yes")
    page.click("#restore-button")
    wait_for_job(page)
    assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    _shoot(page, "job", width)
    page.goto(f"{base}/jobs")
    _shoot(page, "jobs", width)


def test_every_page_fits_and_is_photographed(project: Project) -> None:
    base, names = project.server.base, project.names
    with browser(project.server.url) as page:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            _restore_and_list_jobs(page, project, width)
            page.goto(f"{base}/")
            page.wait_for_selector("#chart canvas")
            page.locator("details.verdict summary").first.click()
            _shoot(page, "timeline", width)
            page.goto(f"{base}/s/{names[-1]}")
            _shoot(page, "snapshot", width)
            page.goto(f"{base}/s/{names[-1]}/file?path=results/run2.csv")
            _shoot(page, "file", width)
            page.goto(f"{base}/diff?a={names[2]}&b={names[3]}")
            _shoot(page, "diff", width)
            page.goto(f"{base}/diff/file?a={names[0]}&b={names[1]}&path=notes.txt")
            _shoot(page, "line-diff", width)
