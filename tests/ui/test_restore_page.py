"""The restore page's plan in numbers, long path lists folded, and paths one per line
(spec/browse.md, "The restore page"), in chromium against a real ``snapstore ui``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Server, browser, needs_browser, start_ui, wait_for_job
from tests.ui.test_restore_form import WithDatabase, with_db  # noqa: F401

pytestmark = needs_browser

MANY = 30


@dataclass
class Changed:
    ws: Workspace
    server: Server
    name: str


@pytest.fixture
def changed(ws: Workspace) -> Iterator[Changed]:
    (ws.bulk / "many").mkdir()
    for i in range(MANY):
        (ws.bulk / "many" / f"f{i:02}.txt").write_text(f"file {i}\n")
    (ws.bulk / "a,b.txt").write_text("a name with a comma\n")
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    # After the snapshot: one file changed, one gone, one new (the restore removes it).
    (ws.bulk / "notes.txt").write_text("rewritten\n")
    (ws.bulk / "data" / "weights.bin").unlink()
    (ws.bulk / "extra.txt").write_text("not in the snapshot\n")
    (ws.bulk / "a,b.txt").unlink()
    with start_ui(ws) as server:
        yield Changed(ws, server, name)


def test_the_plan_counts_files_and_bytes(changed: Changed) -> None:
    written = 20 * len("experiment notes\n") + 40_000 + len("a name with a comma\n")
    with browser(changed.server.url) as page:
        page.goto(f"{changed.server.base}/s/{changed.name}/restore")
        page.uncheck("input[name=db]")
        page.click("#show-plan")
        counts = page.inner_text("#counts")
        assert counts.startswith(f"Files: 3 written ({written / 1024:.1f} KB), 1 removed"), counts


def test_a_long_path_list_is_folded(changed: Changed) -> None:
    with browser(changed.server.url) as page:
        page.goto(f"{changed.server.base}/s/{changed.name}/restore")
        page.uncheck("input[name=db]")
        page.fill("textarea[name=include]", "many/*.txt")
        page.click("#show-plan")
        folded = page.locator("#paths")
        assert folded.locator("summary").inner_text() == f"{MANY} paths"
        assert not folded.locator("code.part").first.is_visible()
        folded.locator("summary").click()
        assert folded.locator("code.part").count() == MANY
        assert folded.locator("code.part").nth(MANY - 1).is_visible()


def test_a_path_with_a_comma_is_one_path(changed: Changed) -> None:
    with browser(changed.server.url) as page:
        page.goto(f"{changed.server.base}/s/{changed.name}/restore")
        page.uncheck("input[name=db]")
        page.fill("textarea[name=include]", "a,b.txt\nnotes.txt")
        page.click("#show-plan")
        assert [c.inner_text() for c in page.locator("#plan code.part").all()] == [
            "a,b.txt",
            "notes.txt",
        ]
        page.fill("#confirm", "yes")
        page.click("#restore-button")
        wait_for_job(page)
        assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    assert (changed.ws.bulk / "a,b.txt").read_text() == "a name with a comma\n"
    assert (changed.ws.bulk / "extra.txt").exists()  # not among the paths: left alone


def test_the_plan_counts_documents(with_db: WithDatabase) -> None:  # noqa: F811
    """The live collection has one document the snapshot lacks: restoring removes it."""
    w = with_db
    with browser(w.server.url) as page:
        page.goto(f"{w.server.base}/s/{w.name}/restore")
        counts = page.inner_text("#counts")
        assert "Documents: 1 removed, 0 inserted, 0 replaced." in counts, counts
