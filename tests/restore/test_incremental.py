"""A live restore costs what changed (spec/restore.md, "Incremental restore").

Live files equal to the snapshot's (type, size, mtime, mode, owner) are hard-linked into the
staged tree, not rewritten; the restored tree is still exactly the snapshot; nothing about a
linked inode changes, so a failed restore leaves the old tree exactly as it was; and the
next create reuses the restored files without reading them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import (
    Workspace,
    assert_same_tree,
    file_chunk_location,
    flip_byte,
    ok,
    tree_state,
)
from tests.restore.tools import snapshot_of

FILES = 40


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.make(tmp_path, populate=False)
    w.auto_cleanup = False
    for i in range(FILES):
        d = w.bulk / f"d{i % 4}"
        d.mkdir(exist_ok=True)
        (d / f"f{i:02d}.bin").write_bytes(os.urandom(3000 + i))
    os.symlink("d0/f00.bin", w.bulk / "link")
    return w


def _inodes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_ino for p in root.rglob("*.bin")}


def _change(ws: Workspace) -> list[str]:
    """Change a few files (content, mode, mtime), delete one, add one; return those paths."""
    b = ws.bulk
    (b / "d1" / "f01.bin").write_bytes(b"new content")
    (b / "d2" / "f02.bin").chmod(0o600)
    os.utime(b / "d3" / "f03.bin", ns=(1, 1_500_000_000_000_000_000))
    (b / "d0" / "f04.bin").unlink()
    (b / "d0" / "added.bin").write_bytes(b"added")
    return ["d1/f01.bin", "d2/f02.bin", "d3/f03.bin", "d0/f04.bin"]


def test_live_restore_rewrites_only_what_changed(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    expected = tree_state(ws.bulk)
    changed = _change(ws)
    before = _inodes(ws.bulk)
    r = ok(ws.run("restore", base, "--yes", "--no-db"))
    assert_same_tree(expected, tree_state(ws.bulk), "restored tree")
    after = _inodes(ws.bulk)
    unchanged = [p for p in after if p not in changed]
    assert len(unchanged) == FILES - len(changed)
    assert all(after[p] == before[p] for p in unchanged), "unchanged files were rewritten"
    assert all(after[p] != before.get(p) for p in changed)
    assert f"{len(unchanged)} unchanged (kept), {len(changed)} written" in r.stderr, r.stderr


def test_next_create_after_a_restore_reads_nothing(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    _change(ws)
    ok(ws.run("restore", base, "--yes", "--no-db"))
    result = ws.manager().create("after restore", include_db=False)
    assert result.read_bytes == 0 and result.reused_files == FILES
    # A file changed after the restore is read again (its ctime moved), the others are not.
    (ws.bulk / "d1" / "f05.bin").write_bytes(b"x" * 10)
    again = ws.manager().create("again", include_db=False)
    assert again.read_bytes == 10 and again.reused_files == FILES - 1


def test_a_failed_live_restore_changes_nothing_through_linked_files(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    _change(ws)
    # The changed file must be rewritten, and its stored chunk is damaged: restore fails
    # after the unchanged files were linked into the staged tree.
    pack, offset, length = file_chunk_location(ws, base, b"d1/f01.bin")
    flip_byte(pack, offset + length // 2)
    before = tree_state(ws.bulk)
    r = ws.run("restore", base, "--yes", "--no-db", "--no-safety-snapshot")
    assert r.returncode == 1 and "d1/f01.bin" in r.stderr, r.stderr
    assert_same_tree(before, tree_state(ws.bulk), "live tree after a failed restore")
    assert all(p.stat().st_nlink == 1 for p in ws.bulk.rglob("*.bin")), "staged links left"
    assert [p.name for p in ws.root.iterdir() if ".snapstore-" in p.name] == []


def test_verify_compares_content_that_kept_its_size_and_mtime(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    f = ws.bulk / "d1" / "f09.bin"
    original = f.read_bytes()
    st = f.stat()
    f.write_bytes(bytes(len(original)))  # same size, other bytes, mtime put back
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    ok(ws.run("restore", base, "--yes", "--no-db", "--no-safety-snapshot"))
    assert f.read_bytes() == bytes(len(original)), "the quick check trusts size and mtime"
    ok(ws.run("restore", base, "--yes", "--no-db", "--no-safety-snapshot", "--verify"))
    assert f.read_bytes() == original


def test_the_safety_snapshot_still_holds_the_replaced_tree(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    _change(ws)
    replaced = tree_state(ws.bulk)
    r = ok(ws.run("restore", base, "--yes", "--no-db", "--json"))
    safety = json.loads(r.stdout)["safety_snapshot"]
    out = ws.root / "out"
    ok(ws.run("restore", safety, "--yes", "--no-db", "--target", str(out)))
    assert_same_tree(
        {p: n for p, n in replaced.items() if p},
        {p: n for p, n in tree_state(out).items() if p},
        "safety snapshot restored",
    )
