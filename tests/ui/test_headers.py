"""Every answer of the web view carries its security headers, and each server keeps its own
cookie (spec/browse.md, "ui"): a real ``snapstore ui`` over plain HTTP, two of them side by
side in chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from snapstore.ui.app import build
from snapstore.ui.security import CSP
from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import Answer, Server, browser, get, needs_browser, post, request, start_ui

EXPECTED = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@pytest.fixture
def served(ws: Workspace) -> Iterator[tuple[Server, str, Workspace]]:
    name = created_name(ok(ws.run("create", "files", "--no-db")).stdout)
    with start_ui(ws) as server:
        yield server, name, ws


def _headers_of(answer: Answer) -> dict[str, str]:
    return {k.lower(): v for k, v in answer.headers.items()}


def _routes() -> set[str]:
    """The paths the application routes (so that a new page cannot be forgotten here)."""
    app = build(lambda r: None, "t", {"h"}, 1)  # type: ignore[arg-type, return-value]
    return {route.path for route in app.app.routes}


def _answers(server: Server, name: str, doomed: str) -> dict[str, Answer]:
    """One answer per route (and the guard's refusals), by route; a job deletes ``doomed``."""
    job = post(server, f"/s/{doomed}/delete", {"confirm": "yes", "force": "on"})
    job_path = job.headers["location"]
    s = f"/s/{name}"
    return {
        "/": get(server, "/"),
        "/diff": get(server, f"/diff?a={name}&b={name}"),
        "/diff/file": get(server, f"/diff/file?a={name}&b={name}&path=notes.txt"),
        "/s/{name}": get(server, s),
        "/s/{name}/file": get(server, f"{s}/file?path=link"),
        "/s/{name}/raw": get(server, f"{s}/raw?path=notes.txt"),
        "/s/{name}/versions": get(server, f"{s}/versions?path=notes.txt"),
        "/s/{name}/collection/{collection}": get(server, f"{s}/collection/none"),
        "/s/{name}/restore": post(server, f"{s}/restore", {"action": "plan", "confirm": "Yes"}),
        "/s/{name}/delete": job,
        "/s/{name}/{action:str}": post(server, f"{s}/nonsense", {}),
        "/jobs": get(server, "/jobs"),
        "/jobs/{id}.json": get(server, f"{job_path}.json"),
        "/jobs/{id}": get(server, job_path),
        "/jobs/{id}/cancel": post(server, f"{job_path}/cancel", {}),
        "/static": get(server, "/static/app.css"),
        "(no such page)": get(server, "/no/such/page"),
        "(bad input)": get(server, f"{s}/file?path=../x"),
    }


def test_every_answer_carries_the_security_headers(
    served: tuple[Server, str, Workspace],
) -> None:
    server, name, ws = served
    doomed = created_name(ok(ws.run("create", "to delete", "--no-db")).stdout)
    answers = _answers(server, name, doomed)
    assert _routes() <= set(answers), _routes() - set(answers)
    assert answers["/s/{name}/raw"].body == "experiment notes\n" * 20
    assert answers["(no such page)"].status == 404 and answers["(bad input)"].status == 400
    # The guard's own answers: another host, no token, the token traded for the cookie.
    answers["(foreign host)"] = _raw(server, "/", host="evil.example")
    answers["(no token)"] = _raw(server, "/", host=f"127.0.0.1:{server.port}")
    answers["(token in the URL)"] = _raw(server, f"/?token={server.token}")
    assert answers["(foreign host)"].status == answers["(no token)"].status == 403
    for route, answer in answers.items():
        headers = _headers_of(answer)
        for header, value in EXPECTED.items():
            assert headers.get(header) == value, (route, answer.status, header, headers)


def _raw(server: Server, path: str, host: str | None = None) -> Answer:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{server.port}"})
    r = conn.getresponse()
    answer = Answer(r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace"))
    conn.close()
    return answer


def test_the_cookie_names_the_port_and_is_strict(served: tuple[Server, str, Workspace]) -> None:
    server, _, _ = served
    cookie = _headers_of(_raw(server, f"/?token={server.token}"))["set-cookie"]
    assert cookie.startswith(f"snapstore_token_{server.port}={server.token};")
    assert re.search(r"(?i)httponly", cookie) and re.search(r"(?i)samesite=strict", cookie)
    assert request(server, "GET", "/").status == 200


@needs_browser
def test_two_servers_side_by_side_keep_their_own_cookies(
    served: tuple[Server, str, Workspace],
) -> None:
    """Open the first server, then a second one in the same browser: the first tab still
    works (before, the second's cookie replaced the first's and the first tab got 403)."""
    first, name, ws = served
    with start_ui(ws) as second, browser(first.url) as page:
        page.goto(second.url)
        assert page.locator("h1").inner_text() == "Timeline"
        for server in (first, second):
            r = page.goto(f"{server.base}/s/{name}")
            assert r is not None and r.status == 200, server.base
        cookies = {c["name"] for c in page.context.cookies()}
        assert {f"snapstore_token_{first.port}", f"snapstore_token_{second.port}"} <= cookies
