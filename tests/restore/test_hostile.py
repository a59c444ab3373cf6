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

from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace, assert_same_tree, error_line, tree_state
from tests.restore.tools import edit_snapshot, entry, set_listing, snapshot_of

ROOT = entry(b"", "d")


def _cases(elsewhere: bytes) -> dict[str, list[dict[str, Any]]]:
    return {
        "symlink_then_file": [ROOT, entry(b"a", "l", l=elsewhere), entry(b"a/evil")],
        "symlink_then_dir": [ROOT, entry(b"a", "l", l=elsewhere), entry(b"a/sub", "d")],
        "relative_parent": [ROOT, entry(b"a", "l", l=b"../elsewhere"), entry(b"a/evil")],
        "chain": [
            ROOT,
            entry(b"b", "l", l=elsewhere),
            entry(b"c", "l", l=b"b"),
            entry(b"c/evil"),
        ],
        "dir_then_symlink": [ROOT, entry(b"x", "d"), entry(b"x", "l", l=elsewhere)],
        "symlink_then_same_dir": [
            ROOT,
            entry(b"x", "l", l=elsewhere),
            entry(b"x", "d"),
            entry(b"x/evil"),
        ],
        "duplicate_file": [ROOT, entry(b"x"), entry(b"x")],
        "root_is_a_file": [entry(b"")],
        "no_root_entry": [entry(b"x")],
        "file_below_a_file": [ROOT, entry(b"x"), entry(b"x/y")],
        "missing_parent": [ROOT, entry(b"x/y/z")],
        "out_of_order": [ROOT, entry(b"b"), entry(b"a")],
        "dotdot_name": [ROOT, entry(b"../elsewhere/evil")],
        "absolute_name": [ROOT, entry(elsewhere + b"/evil")],
        "nul_in_name": [ROOT, entry(b"a\x00b")],
        "nul_in_target": [ROOT, entry(b"a", "l", l=b"x\x00y")],
        "huge_uid": [ROOT, entry(b"a", u=2**40, g=0)],
        "negative_mode": [ROOT, entry(b"a", m=-1)],
        "huge_mtime": [ROOT, entry(b"a", mt=2**64 - 1)],
        "unknown_type": [ROOT, entry(b"a", "x")],
        "path_not_bytes": [ROOT, entry("a")],  # type: ignore[arg-type]
    }


CASES = sorted(_cases(b"/").keys())


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
    set_listing(ws, name, _cases(os.fsencode(elsewhere))[case])
    before = tree_state(ws.bulk)
    r = ws.run("restore", name, "--yes", "--no-db", "--no-safety-snapshot")
    _assert_refused(ws, name, elsewhere, r, before)


def _two_roots(store: ChunkStore, m: Manifest, labels: tuple[str, str]) -> None:
    assert m.bulk is not None
    first = m.bulk[0]
    m.bulk = [
        BulkRoot(first.path, labels[0], first.listing, first.files, first.dirs),
        BulkRoot(first.path + "_other", labels[1], first.listing, first.files, first.dirs),
    ]


@pytest.mark.parametrize("label", ["..", "../elsewhere", "ABS", "a/b", "", "."])
def test_root_labels_are_validated_like_paths(
    hostile: tuple[Workspace, str, Path], label: str
) -> None:
    ws, name, elsewhere = hostile
    label = str(elsewhere / "x") if label == "ABS" else label
    edit_snapshot(ws, name, lambda store, m: _two_roots(store, m, (label, "fine")))
    out = ws.root / "out"
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(out))
    assert r.returncode > 0
    error_line(r.stderr, name, "label")
    assert list(elsewhere.iterdir()) == []
    assert not out.exists() or list(out.iterdir()) == []
    assert not (ws.root / "x").exists() and not (ws.root / "elsewhere" / "x").exists()


def test_duplicate_labels_are_refused(hostile: tuple[Workspace, str, Path]) -> None:
    ws, name, _ = hostile
    edit_snapshot(ws, name, lambda store, m: _two_roots(store, m, ("same", "same")))
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(ws.root / "out"))
    assert r.returncode > 0
    error_line(r.stderr, name, "same")


# Every path here stays inside the test's tmp dir even if the check regressed: a run of this
# test against unfixed code once replaced the machine's /etc (never aim a hostile path at a
# real system folder).
@pytest.mark.parametrize("path", ["relative/dir", "{tmp}/a/../../escaped", "{tmp}/bulk/.."])
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
