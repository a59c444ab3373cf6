"""A corrupted or hostile repository never makes restore write outside its target.

Each case is a real snapshot whose listing (or root labels) was then replaced in the repository
by hand; restore runs as a real process into the live bulk tree. Afterwards a sentinel
directory outside the target is still empty, the live tree is exactly as it was, no staging
folder is left beside it, and stderr holds one ``error:`` line naming the snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace, assert_same_tree, error_line, tree_state
from tests.restore.tools import (
    HOSTILE_LABELS,
    HOSTILE_ROOT_PATHS,
    edit_snapshot,
    hostile_listings,
    set_listing,
    snapshot_of,
    two_roots,
)

CASES = sorted(hostile_listings(b"/").keys())


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Workspace, str, Path]:
    ws = Workspace.make(tmp_path)
    ws.auto_cleanup = False
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name = snapshot_of(ws, "base")
    return ws, name, elsewhere


def _assert_refused(
    ws: Workspace, name: str, elsewhere: Path, r: Any, before: dict[bytes, Any]
) -> None:
    assert r.returncode > 0, (r.returncode, r.stdout, r.stderr)
    error_line(r.stderr, name)
    assert list(elsewhere.iterdir()) == [], "restore wrote outside its target"
    assert_same_tree(before, tree_state(ws.bulk), "live tree after a refused restore")
    leftovers = [p.name for p in ws.bulk.parent.iterdir() if ".snapstore-" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("case", CASES)
def test_hostile_listing_is_refused_and_nothing_is_written_outside(
    hostile: tuple[Workspace, str, Path], case: str
) -> None:
    ws, name, elsewhere = hostile
    set_listing(ws, name, hostile_listings(os.fsencode(elsewhere))[case])
    before = tree_state(ws.bulk)
    r = ws.run("restore", name, "--yes", "--no-db", "--no-safety-snapshot")
    _assert_refused(ws, name, elsewhere, r, before)


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_root_labels_are_validated_like_paths(
    hostile: tuple[Workspace, str, Path], label: str
) -> None:
    ws, name, elsewhere = hostile
    label = str(elsewhere / "x") if label == "ABS" else label
    edit_snapshot(ws, name, lambda store, m: two_roots(store, m, (label, "fine")))
    out = ws.root / "out"
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(out))
    assert r.returncode > 0
    error_line(r.stderr, name, "label")
    assert list(elsewhere.iterdir()) == []
    assert not out.exists() or list(out.iterdir()) == []
    assert not (ws.root / "x").exists() and not (ws.root / "elsewhere" / "x").exists()


def test_duplicate_labels_are_refused(hostile: tuple[Workspace, str, Path]) -> None:
    ws, name, _ = hostile
    edit_snapshot(ws, name, lambda store, m: two_roots(store, m, ("same", "same")))
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(ws.root / "out"))
    assert r.returncode > 0
    error_line(r.stderr, name, "same")


# Every path here stays inside the test's tmp dir even if the check regressed: a run of this
# test against unfixed code once replaced the machine's /etc (never aim a hostile path at a
# real system folder).
@pytest.mark.parametrize("path", HOSTILE_ROOT_PATHS)
def test_unsafe_root_paths_are_refused(hostile: tuple[Workspace, str, Path], path: str) -> None:
    ws, name, _ = hostile
    path = path.format(tmp=ws.root)

    def change(store: ChunkStore, m: Manifest) -> None:
        assert m.bulk is not None
        m.bulk[0].path = path

    edit_snapshot(ws, name, change)
    before = tree_state(ws.root / "bulk")
    r = ws.run("restore", name, "--yes", "--no-db", "--no-safety-snapshot")
    assert r.returncode > 0
    error_line(r.stderr, name)
    assert not (ws.root / "relative").exists()
    assert_same_tree(before, tree_state(ws.root / "bulk"))


def test_empty_target_is_bad_input_and_the_current_directory_is_untouched(
    hostile: tuple[Workspace, str, Path],
) -> None:
    ws, name, _ = hostile
    cwd = ws.root / "cwd"
    cwd.mkdir()
    (cwd / "precious").write_text("keep me")
    for target in ("", "  "):
        r = ws.run("restore", name, "--yes", "--no-db", "--target", target, cwd=cwd)
        assert r.returncode == 2, r.stderr
        error_line(r.stderr, "--target")
    assert (cwd / "precious").read_text() == "keep me"
    assert sorted(p.name for p in cwd.iterdir()) == ["precious"]


def test_target_that_is_a_file_is_bad_input(hostile: tuple[Workspace, str, Path]) -> None:
    ws, name, _ = hostile
    f = ws.root / "a-file"
    f.write_text("not a directory")
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(f))
    assert r.returncode == 2, r.stderr
    error_line(r.stderr, str(f))
    assert f.read_text() == "not a directory"


def test_target_holding_the_repository_is_bad_input(hostile: tuple[Workspace, str, Path]) -> None:
    ws, name, _ = hostile
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(ws.root))
    assert r.returncode == 2, r.stderr
    error_line(r.stderr, "repository")
    assert (ws.repo / "config").exists()
