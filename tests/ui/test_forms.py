"""Refused forms keep what the user typed and say why beside the field (spec/browse.md,
"ui"): "Yes" instead of "yes" on the restore and the delete page, in chromium."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import browser, needs_browser, start_ui, wait_for_job

pytestmark = needs_browser


def _beside_the_field(page: object) -> str:
    """The reason shown next to the confirmation field (same form row), and that the field
    points at it for screen readers."""
    confirm = page.locator("#confirm")  # type: ignore[attr-defined]
    assert confirm.get_attribute("aria-describedby") == "confirm-error"
    row = page.locator(".confirm", has=confirm)  # type: ignore[attr-defined]
    text: str = row.locator("#confirm-error").inner_text()
    return text


def test_restore_with_yes_capitalised_keeps_the_form(ws: Workspace, tmp_path: Path) -> None:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    out = tmp_path / "out"
    with start_ui(ws) as server, browser(server.url) as page:
        page.goto(f"{server.base}/s/{name}/restore")
        page.fill("input[name=target]", str(out))
        page.fill("textarea[name=include]", "notes.txt\ndata/")
        page.uncheck("input[name=db]")
        page.click("#show-plan")
        page.fill("#confirm", "Yes")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("#restore-button")
        assert answer.value.status == 400
        assert _beside_the_field(page) == "type yes in lower case, not 'Yes': nothing was changed"
        assert page.input_value("input[name=target]") == str(out)
        assert page.input_value("textarea[name=include]") == "notes.txt\ndata/"
        assert not page.is_checked("input[name=db]")
        assert not out.exists()
        page.fill("#confirm", "yes")  # the same form, now confirmed
        page.click("#restore-button")
        wait_for_job(page)
        assert page.inner_text("#job-state") == "done", page.inner_text("#job")
    assert (out / "notes.txt").read_text() == (ws.bulk / "notes.txt").read_text()
    assert (out / "data" / "weights.bin").exists()


def test_delete_with_yes_capitalised_keeps_the_tick(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    ok(ws.run("pin", name))
    with start_ui(ws) as server, browser(server.url) as page:
        page.goto(f"{server.base}/s/{name}/delete")
        page.check("input[name=force]")
        page.fill("#confirm", "Yes")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button.danger")
        assert answer.value.status == 400
        assert _beside_the_field(page).startswith("type yes in lower case")
        assert page.is_checked("input[name=force]")
        assert page.url.endswith(f"/s/{name}/delete")
    assert name in ok(ws.run("list", "--json")).stdout  # not deleted


def test_a_path_the_snapshot_lacks_is_named_beside_the_paths(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    with start_ui(ws) as server, browser(server.url) as page:
        page.goto(f"{server.base}/s/{name}/restore")
        page.uncheck("input[name=db]")
        page.fill("textarea[name=include]", "notes.txt\nno/such/file.csv")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("#show-plan")
        assert answer.value.status == 400
        beside = page.locator("fieldset label.wide + #include-error")
        assert "no/such/file.csv" in beside.inner_text()
        assert page.input_value("textarea[name=include]") == "notes.txt\nno/such/file.csv"
        assert page.locator("#restore-button").count() == 0
