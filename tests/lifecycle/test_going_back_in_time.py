"""A repository that goes back in time is noticed (spec/manifest.md, "Going back in time").

Each scenario changes the repository on disk the way an attacker or a restored backup would:
an older manifest copied back over the current one (from before a pin, from before an
archive), the newest manifest removed, the whole repository replaced by an earlier copy.
The client that saw the newer state says so: one warning line from ``list`` and ``create``,
errors and exit 1 from ``check``. Changes made through snapstore by another client (another
cache folder: another machine) raise no alarm.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import Workspace, ok
from tests.restore.tools import snapshot_of

WARNING = "gone back in time"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.make(tmp_path)
    w.auto_cleanup = False
    return w


def _other(ws: Workspace) -> dict[str, str]:
    """The environment of a second client: same repository, its own cache folder."""
    return ws.env(SNAPSTORE_CACHE_DIR=str(ws.root / "other-cache"))


def _manifest(ws: Workspace, name: str) -> Path:
    return ws.repo / "snapshots" / name


def _warning_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if WARNING in ln]


def _assert_noticed(ws: Workspace, names: list[str], *words: str) -> None:
    """``list`` says it in one line naming the snapshots; ``check`` fails with errors that
    name them and say what happened (``words``); ``create`` warns and still works."""
    needles = [*names, *words]
    r = ws.run("list")
    lines = _warning_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("warning: "), lines
    for name in names:
        assert name in lines[0], (name, lines[0])
    c = ws.run("check")
    assert c.returncode == 1, (c.stdout, c.stderr)
    errors = [ln for ln in c.stderr.splitlines() if ln.startswith("error: ")]
    for needle in needles:
        assert any(needle in ln for ln in errors), (needle, c.stderr)
    assert "catalog-seen.json" in c.stderr  # the way to accept a deliberate rollback
    j = ws.run("check", "--json")
    doc = json.loads(j.stdout)
    assert j.returncode == 1 and not doc["ok"]
    assert any(needle in e for e in doc["errors"] for needle in needles), doc
    created = ws.run("create", "after", "--no-db")
    assert created.returncode == 0, created.stderr
    assert len(_warning_lines(created.stderr)) == 1, created.stderr
    # It keeps saying so until the user accepts the state.
    assert len(_warning_lines(ws.run("list").stderr)) == 1


def _assert_quiet(ws: Workspace, env: dict[str, str] | None = None) -> None:
    r = ok(ws.run("list", env=env))
    assert _warning_lines(r.stderr) == [], r.stderr
    c = ok(ws.run("check", env=env))
    assert "healthy" in c.stdout, c.stdout


def test_an_older_manifest_put_back_over_a_pin_is_noticed(ws: Workspace) -> None:
    name = snapshot_of(ws, "precious")
    before_pin = _manifest(ws, name).read_bytes()
    ok(ws.run("pin", name))
    ok(ws.run("list"))
    _manifest(ws, name).write_bytes(before_pin)  # the snapshot is now silently unpinned
    _assert_noticed(ws, [name], "older copy", "permanent=False")


def test_an_older_manifest_put_back_over_an_archive_is_noticed(ws: Workspace) -> None:
    name = snapshot_of(ws, "old")
    snapshot_of(ws, "newer")
    before = _manifest(ws, name).read_bytes()
    ok(ws.run("archive", name))
    _manifest(ws, name).write_bytes(before)
    _assert_noticed(ws, [name], "older copy", "compression=None")


def test_the_newest_manifest_removed_is_noticed(ws: Workspace) -> None:
    snapshot_of(ws, "one")
    newest = snapshot_of(ws, "two")
    ok(ws.run("list"))
    _manifest(ws, newest).unlink()
    _assert_noticed(ws, [newest], "no snapstore delete recorded it")


def test_the_whole_repository_put_back_to_an_earlier_copy_is_noticed(ws: Workspace) -> None:
    first = snapshot_of(ws, "one")
    copy = ws.root / "repo-copy"
    shutil.copytree(ws.repo, copy)
    later = snapshot_of(ws, "two")
    ok(ws.run("pin", first))
    ok(ws.run("list"))
    shutil.rmtree(ws.repo)
    shutil.copytree(copy, ws.repo)
    _assert_noticed(ws, [later, first], "earlier copy", "older copy")


def test_a_rollback_that_only_undoes_deletes_is_noticed(ws: Workspace) -> None:
    snapshot_of(ws, "one")
    doomed = snapshot_of(ws, "two")
    copy = ws.root / "repo-copy"
    shutil.copytree(ws.repo, copy)
    ok(ws.run("delete", doomed, "--yes"))
    ok(ws.run("list"))
    shutil.rmtree(ws.repo)
    shutil.copytree(copy, ws.repo)  # the deleted snapshot is back
    _assert_noticed(ws, [], "earlier copy")


def test_pins_and_deletes_by_another_client_raise_no_alarm(ws: Workspace) -> None:
    first = snapshot_of(ws, "one")
    middle = snapshot_of(ws, "two")
    newest = snapshot_of(ws, "three")
    _assert_quiet(ws)  # this client remembers all three
    other = _other(ws)
    ok(ws.run("pin", first, env=other))
    ok(ws.run("delete", newest, "--yes", env=other))
    ok(ws.run("delete", middle, "--yes", env=other))
    ok(ws.run("unpin", first, env=other))
    ok(ws.run("pin", first, env=other))
    _assert_quiet(ws)
    _assert_quiet(ws, other)
    r = ok(ws.run("create", "four", "--no-db"))
    assert _warning_lines(r.stderr) == [], r.stderr


def test_a_cleanup_by_another_client_raises_no_alarm(ws: Workspace) -> None:
    for i in range(4):
        snapshot_of(ws, f"s{i}")
    _assert_quiet(ws)
    config = ws.root / "snapstore.toml"
    config.write_text("auto_cleanup = false\n[retention]\nkeep_last = 1\nkeep_weekly_weeks = 0\n")
    other = _other(ws)
    other["SNAPSTORE_CONFIG"] = str(config)
    r = ok(ws.run("cleanup", "--yes", env=other))
    assert "s0" in r.stdout + r.stderr  # it did delete
    _assert_quiet(ws)


def test_this_client_deleting_the_last_snapshot_raises_no_alarm(ws: Workspace) -> None:
    only = snapshot_of(ws, "only")
    _assert_quiet(ws)
    ok(ws.run("delete", only, "--yes"))
    r = ok(ws.run("list"))
    assert _warning_lines(r.stderr) == [], r.stderr


def test_deleting_the_memory_accepts_the_state(ws: Workspace) -> None:
    snapshot_of(ws, "one")
    newest = snapshot_of(ws, "two")
    ok(ws.run("list"))
    _manifest(ws, newest).unlink()
    r = ws.run("list")
    assert len(_warning_lines(r.stderr)) == 1
    memory = next(ws.cache.glob("*/catalog-seen.json"))
    assert str(memory) in r.stderr
    assert memory.stat().st_mode & 0o077 == 0  # it lists snapshot names: owner only
    memory.unlink()
    _assert_quiet(ws)


def test_a_removed_middle_manifest_is_reported_once(ws: Workspace) -> None:
    # The predecessor rule already names it (spec/manifest.md): no second line about it.
    snapshot_of(ws, "one")
    middle = snapshot_of(ws, "two")
    snapshot_of(ws, "three")
    ok(ws.run("list"))
    _manifest(ws, middle).unlink()
    r = ws.run("list")
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warnings) == 1 and middle in warnings[0] and "predecessor" in warnings[0], r.stderr
    assert _warning_lines(r.stderr) == []
