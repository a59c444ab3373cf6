"""``check`` refuses every snapshot that restore refuses (spec/restore.md, "Hostile listings").

Each case is a real snapshot whose listing, root labels or root path were then replaced in the
repository by hand (the builders of tests/restore/test_hostile.py). ``check`` only reads: it
runs as a real process on the test's tmp repository and must exit 1 with an ``error:`` line
that names the snapshot and the problem, while a healthy repository (a very deep tree too)
still passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace, ok
from tests.restore.tools import (
    HOSTILE_LABELS,
    HOSTILE_ROOT_PATHS,
    edit_snapshot,
    entry,
    hostile_listings,
    raw_listing,
    set_listing,
    snapshot_of,
    two_roots,
)

LISTING_CASES = sorted(hostile_listings(b"/").keys())


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.make(tmp_path)
    w.auto_cleanup = False
    (tmp_path / "elsewhere").mkdir()
    return w


def _check_fails(ws: Workspace, name: str, *needles: str) -> str:
    r = ws.run("check", "--read-data")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    mine = [ln for ln in errors if f"snapshot {name}" in ln]
    assert mine, f"no error line names snapshot {name}:\n{r.stderr}"
    for needle in needles:
        assert any(needle in ln for ln in mine), f"{needle!r} not in {mine}"
    assert "problem(s) found" in r.stdout
    return mine[0]


@pytest.mark.parametrize("case", LISTING_CASES)
def test_check_refuses_each_hostile_listing(ws: Workspace, case: str) -> None:
    name = snapshot_of(ws, "base")
    set_listing(ws, name, hostile_listings(os.fsencode(ws.root / "elsewhere"))[case])
    _check_fails(ws, name, "file listing is damaged")


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_check_refuses_each_hostile_root_label(ws: Workspace, label: str) -> None:
    name = snapshot_of(ws, "base")
    label = str(ws.root / "elsewhere" / "x") if label == "ABS" else label
    edit_snapshot(ws, name, lambda store, m: two_roots(store, m, (label, "fine")))
    _check_fails(ws, name, "label")


def test_check_refuses_duplicate_root_labels(ws: Workspace) -> None:
    name = snapshot_of(ws, "base")
    edit_snapshot(ws, name, lambda store, m: two_roots(store, m, ("same", "same")))
    _check_fails(ws, name, "'same' is used twice")


@pytest.mark.parametrize("path", HOSTILE_ROOT_PATHS)
def test_check_refuses_each_unsafe_root_path(ws: Workspace, path: str) -> None:
    name = snapshot_of(ws, "base")
    path = path.format(tmp=ws.root)

    def change(store: ChunkStore, m: Manifest) -> None:
        assert m.bulk is not None
        m.bulk[0].path = path

    edit_snapshot(ws, name, change)
    _check_fails(ws, name, "is not a safe target")


def test_check_refuses_a_file_whose_chunks_do_not_add_up_to_its_size(ws: Workspace) -> None:
    name = snapshot_of(ws, "base")

    def change(store: ChunkStore, m: Manifest) -> None:
        assert m.bulk is not None
        cid = store.add(b"twelve bytes")[0]
        m.bulk[0].listing = raw_listing(store, [entry(b"", "d"), entry(b"a.txt", s=999, c=[cid])])

    edit_snapshot(ws, name, change)
    line = _check_fails(ws, name, "a.txt", "hold 12 bytes", "listing says 999")
    # Restore refuses the same file (restore/write_files.py says "listing says").
    assert "file listing" not in line


def test_check_passes_a_healthy_repository_with_several_roots(ws: Workspace) -> None:
    other = ws.root / "other"
    other.mkdir()
    (other / "b.txt").write_text("b")
    snapshot_of(ws, "one")
    r = ws.run("create", "two", "--no-db", "--bulk", str(ws.bulk), "--bulk", str(other))
    ok(r)
    r = ok(ws.run("check", "--read-data"))
    assert "Repository is healthy (2 snapshots" in r.stdout, r.stdout
    assert "error" not in r.stderr


def test_check_passes_a_very_deep_tree(ws: Workspace) -> None:
    # 5,000 levels: the listing checker keeps the directories above an entry in a list, never
    # on the call stack.
    name = snapshot_of(ws, "base")
    maps = [entry(b"", "d")]
    path = b""
    for _ in range(5000):
        path = path + b"/d" if path else b"d"
        maps.append(entry(path, "d"))
    maps.append(entry(path + b"/leaf"))
    set_listing(ws, name, maps)
    r = ok(ws.run("check", "--read-data"))
    assert "Repository is healthy (1 snapshots" in r.stdout, r.stdout
