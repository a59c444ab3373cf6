"""The web view under test: ``snapstore ui`` as its own process, a real browser, plain HTTP.

``start_ui`` runs the server on a free port (its stderr in a file, so that tracebacks can
neither fill a pipe nor get lost) and stops it afterwards. ``browser`` opens Debian's chromium
through Playwright. ``get``/``post`` speak HTTP with the server's token cookie, for checks that
need no browser (status codes, error lines).

Screenshots go into this test session's tmp folder, so a test run never writes into the
checkout; ``SNAPSTORE_SCREENSHOTS=docs/screenshots`` (a folder, relative to the checkout or
absolute) saves them where the README shows them from.
"""

from __future__ import annotations

import html
import http.client
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

# The ArangoDB test server, for pages of snapshots that hold a database.
from tests.arango.conftest import arango_db, arango_server  # noqa: F401
from tests.helpers import REPO_ROOT, Workspace

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))


@dataclass
class Server:
    """A running ``snapstore ui``."""

    url: str  # with the token
    base: str  # http://127.0.0.1:PORT
    port: int
    token: str
    stderr: Path

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def error(self) -> str:
        """The one-line message of an error page (or of a refused form), unescaped."""
        m = re.search(r'class="(?:field-)?error"[^>]*>(.*?)</(?:p|span)>', self.body, re.S)
        return html.unescape(m.group(1)).strip() if m else ""


@contextmanager
def start_ui(ws: Workspace, env: dict[str, str] | None = None) -> Iterator[Server]:
    stderr = ws.root / f"ui-stderr-{os.getpid()}-{id(ws)}.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            ws.cli_command("ui", "--port", "0"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ws.root,
            env=env or ws.env(),
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+))/\?token=(\S+)", line)
        assert m, line + stderr.read_text()
        yield Server(m.group(0), m.group(1), int(m.group(2)), m.group(3), stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def request(server: Server, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {
        "Host": f"127.0.0.1:{server.port}",
        "Cookie": f"snapstore_token_{server.port}={server.token}",
    }
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return Answer(r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def get(server: Server, path: str) -> Answer:
    return request(server, "GET", path)


def post(server: Server, path: str, form: dict[str, str]) -> Answer:
    return request(server, "POST", path, {"token": server.token, **form})


@contextmanager
def browser(url: str) -> Iterator[Any]:
    """A chromium page that has opened ``url`` (the address with the token)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            pg = b.new_page(viewport={"width": 1280, "height": 900})
            # Whatever the page's Content-Security-Policy blocked (an inline style, a
            # script) is a page that does not work as written: every browser test fails on it.
            blocked: list[str] = []
            pg.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            pg.goto(url)
            yield pg
            assert not blocked, blocked
        finally:
            b.close()


def wait_for_job(page: Any) -> None:
    """Wait for the job page the form posted to, then for its job to end.

    The click only starts the navigation: until the job page has loaded, the
    page is still the form, which has no job state to read.
    """
    from playwright.sync_api import expect

    page.wait_for_url(re.compile(r".*/jobs/[^/]+$"))
    # A selector, not a script: the page's Content-Security-Policy forbids eval, which
    # Playwright's wait_for_function uses.
    expect(page.locator("#job-state")).not_to_have_text("running", timeout=60_000)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still not {what} after {timeout:.0f} s")
        time.sleep(0.05)


def repository_locks(ws: Workspace) -> list[str]:
    """The lock objects in a local repository (spec/backends.md: ``<root>/locks/<name>``)."""
    where = ws.repo / "locks"
    return sorted(os.listdir(where)) if where.exists() else []


ENV = "SNAPSTORE_SCREENSHOTS"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The screenshot folder ($SNAPSTORE_SCREENSHOTS, else a tmp folder), created."""
    explicit = os.environ.get(ENV)
    folder = REPO_ROOT / explicit if explicit else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _screenshots_go_to_the_chosen_folder(
    request: pytest.FixtureRequest, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The browser tests name their folder in a module constant SHOTS; point it at the
    # chosen folder for the duration of each test.
    if hasattr(request.module, "SHOTS"):
        monkeypatch.setattr(request.module, "SHOTS", screenshots)
