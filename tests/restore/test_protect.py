"""Restore leaves alone what the snapshot cannot speak for (spec/restore.md, "What restore keeps").

Excluded names (``.git``, ``.tmp``, ``__pycache__``), sockets, FIFOs and devices (never
captured) and, in a partial snapshot, the files it could not read and the contents of the
directories it could not list: a live restore keeps them exactly as they are, and neither
``--dry-run`` nor the confirmation lists them as removals.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import (
    Workspace,
    assert_same_tree,
    created_name,
    error_line,
    ok,
    tree_state,
)
from tests.restore.tools import edit_snapshot, snapshot_of


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.make(tmp_path)
    w.auto_cleanup = False
    return w


def _restore(ws: Workspace, name: str, *extra: str) -> None:
    ok(ws.run("restore", name, "--yes", "--no-db", *extra))


def _dry_run_paths(ws: Workspace, name: str) -> dict[str, str]:
    r = ok(ws.run("restore", name, "--dry-run", "--json", "--no-db"))
    return {c["path"]: c["change"] for c in json.loads(r.stdout)["files"]}


def test_excluded_names_survive_a_live_restore(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    expected = tree_state(ws.bulk)
    # The reproduction: a code repository in bulk storage, created after BASE.
    (ws.bulk / "proj" / ".git").mkdir(parents=True)
    (ws.bulk / "proj" / ".git" / "HEAD").write_text("x")
    (ws.bulk / "proj" / "code.py").write_text("not in BASE")
    # Excluded names inside a directory BASE holds, and at the top.
    (ws.bulk / "data" / ".git").mkdir()
    (ws.bulk / "data" / ".git" / "config").write_text("[core]")
    (ws.bulk / "__pycache__").mkdir()
    (ws.bulk / "__pycache__" / "m.pyc").write_bytes(b"\x00pyc")
    (ws.bulk / "scratch.tmp").mkdir()
    (ws.bulk / ".tmp").write_text("tmp file")
    kept = {
        p: n
        for p, n in tree_state(ws.bulk).items()
        if b".git" in p or b"__pycache__" in p or p == b".tmp"
    }

    changes = _dry_run_paths(ws, base)
    assert changes == {"proj/code.py": "removed", "scratch.tmp": "removed"}, changes
    confirm = ws.run("restore", base, "--no-db", input="no\n")
    assert ".git" not in confirm.stderr and "__pycache__" not in confirm.stderr

    _restore(ws, base)
    after = tree_state(ws.bulk)
    for p, node in kept.items():
        assert after.get(p) == node, f"{p!r} changed or lost"
    # The rest is exactly the snapshot; proj/ stays (as a directory holding only .git).
    rest = {p: n for p, n in after.items() if p not in kept and p != b"proj"}
    assert_same_tree(
        {p: n for p, n in expected.items() if p != b"data" and p != b""},
        {p: n for p, n in rest.items() if p != b"data" and p != b""},
    )
    assert sorted(os.listdir(ws.bulk / "proj")) == [".git"]
    # The safety snapshot did not capture .git either, so this was its only copy: still here.
    assert (ws.bulk / "proj" / ".git" / "HEAD").read_text() == "x"


def test_special_files_survive_a_live_restore(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    os.mkfifo(ws.bulk / "data" / "pipe")
    assert "data/pipe" not in _dry_run_paths(ws, base)
    _restore(ws, base)
    assert (ws.bulk / "data" / "pipe").is_fifo()


def _partial(warnings: list[str]):  # type: ignore[no-untyped-def]
    def change(store: ChunkStore, m: Manifest) -> None:
        m.partial = True
        m.warnings = warnings

    return change


def test_files_a_partial_snapshot_could_not_read_are_kept(ws: Workspace) -> None:
    (ws.bulk / "locked").mkdir()
    base = snapshot_of(ws, "base")
    # As if create had met an unreadable file and an unlistable directory (we run as root,
    # so permissions cannot make it happen): it wrote these warnings and marked it partial.
    edit_snapshot(
        ws,
        base,
        _partial(
            [
                f"cannot read {ws.bulk}/secret: Permission denied",
                f"cannot list {ws.bulk}/locked: Permission denied",
            ]
        ),
    )
    (ws.bulk / "secret").write_text("unreadable at create time")
    (ws.bulk / "locked" / "inner").write_text("unlisted at create time")
    (ws.bulk / "other").write_text("a new file: the snapshot speaks for it")
    assert _dry_run_paths(ws, base) == {"other": "removed"}
    _restore(ws, base)
    assert (ws.bulk / "secret").read_text() == "unreadable at create time"
    assert (ws.bulk / "locked" / "inner").read_text() == "unlisted at create time"
    assert not (ws.bulk / "other").exists()


def test_a_directory_holding_kept_entries_cannot_become_a_file(ws: Workspace) -> None:
    (ws.bulk / "proj").write_text("a file in the snapshot")
    base = snapshot_of(ws, "base")
    (ws.bulk / "proj").unlink()
    (ws.bulk / "proj" / ".git").mkdir(parents=True)
    (ws.bulk / "proj" / ".git" / "HEAD").write_text("x")
    before = tree_state(ws.bulk)
    r = ws.run("restore", base, "--yes", "--no-db")
    assert r.returncode > 0
    error_line(r.stderr, "proj/.git", alone=False)
    assert_same_tree(before, tree_state(ws.bulk))


def test_an_excluded_name_the_snapshot_holds_is_restored(ws: Workspace) -> None:
    (ws.bulk / "repo" / ".git").mkdir(parents=True)
    (ws.bulk / "repo" / ".git" / "HEAD").write_text("snapshot")
    made = ok(ws.run("create", "with git", "--no-db", env=ws.env(SNAPSTORE_EXCLUDE="")))
    base = created_name(made.stdout)
    (ws.bulk / "repo" / ".git" / "HEAD").write_text("changed")
    (ws.bulk / "repo" / ".git" / "extra").write_text("new")
    _restore(ws, base, "--no-safety-snapshot")
    assert (ws.bulk / "repo" / ".git" / "HEAD").read_text() == "snapshot"
    assert not (ws.bulk / "repo" / ".git" / "extra").exists()
