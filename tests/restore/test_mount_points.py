"""A file system mounted inside a bulk root is never emptied by a restore (spec/restore.md,
"What restore keeps"): the restore refuses before it writes, and the removal of a replaced
tree never crosses into another file system. Real tmpfs mounts (root needed; skipped with
the reason otherwise)."""

from __future__ import annotations

from pathlib import Path

from snapstore.tree.remove import remove_directory
from tests.faults.test_full_disk import tmpfs
from tests.helpers import Workspace, created_name, error_line, ok, tree_state


def test_an_in_place_restore_over_a_mount_point_is_refused_before_it_writes(
    ws: Workspace,
) -> None:
    with tmpfs(ws.bulk / "scratch", "4m") as mounted:
        (mounted / "results.csv").write_text("kept on the mounted disk\n")
        name = created_name(ok(ws.run("create", "with a mount inside")).stdout)
        (ws.bulk / "notes.txt").write_text("changed after the snapshot\n")
        before = tree_state(ws.bulk)

        for args in (("--yes",), ("--dry-run",)):
            r = ws.run("restore", name, *args)
            assert r.returncode == 2, r.stderr
            line = error_line(r.stderr, "mount point", str(mounted))
            assert "--target" in line
        assert tree_state(ws.bulk) == before
        assert (mounted / "results.csv").read_text() == "kept on the mounted disk\n"

        # Into another folder the same snapshot restores, the mounted file included.
        out = ws.root / "elsewhere"
        ok(ws.run("restore", name, "--yes", "--target", str(out)))
        assert (out / "scratch" / "results.csv").read_text() == "kept on the mounted disk\n"


def test_removing_a_tree_leaves_what_is_mounted_inside_it(tmp_path: Path) -> None:
    tree = tmp_path / "old-tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "file").write_text("removed\n")
    with tmpfs(tree / "a" / "b" / "mnt", "1m") as mounted:
        (mounted / "data").write_text("on another file system\n")
        remove_directory(tree)
        assert (mounted / "data").read_text() == "on another file system\n"
        assert not (tree / "a" / "file").exists()
