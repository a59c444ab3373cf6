"""Property tests over whole trees: create then restore gives back exactly the tree (bytes,
modes, mtimes, owners, symlinks, empty dirs, odd names), and re-snapshotting an unchanged tree
adds nothing and reads nothing (spec/README.md, promise 6)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings

from tests.helpers import (
    SMALL_CHUNKER,
    DirSpec,
    FileSpec,
    Workspace,
    assert_same_tree,
    object_names,
    tree_state,
    trees,
    write_tree,
)


@contextmanager
def workspace() -> Iterator[Workspace]:
    """A fresh workspace per hypothesis example (function fixtures are shared by examples)."""
    tmp = Path(tempfile.mkdtemp(prefix="snapstore-prop-"))
    try:
        w = Workspace.make(tmp, populate=False)
        w.exclude = ()
        w.auto_cleanup = False
        w.bulk.rmdir()
        w.manager().init_repository(SMALL_CHUNKER)
        yield w
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def round_trip(tree: DirSpec) -> None:
    with workspace() as w:
        write_tree(w.bulk, tree)
        before = tree_state(w.bulk)
        manager = w.manager()
        first = manager.create("property round trip")
        assert not first.skipped
        assert tree_state(w.bulk) == before, "create must not change the source tree"

        target = w.root / "restored"
        manager.restore_snapshot(
            first.snapshot.snapshot_name, confirm=True, target=str(target), safety_snapshot=False
        )
        assert_same_tree(before, tree_state(target), "restore --target")
        assert not [p for p in w.root.iterdir() if ".snapstore-" in p.name], "staging left"

        # Promise 6: an unchanged tree costs only a manifest and is not read again.
        objects = object_names(w.repo)
        second = manager.create("unchanged")
        assert second.new_chunks == 0
        assert second.read_bytes == 0
        assert second.reused_files == tree.count(FileSpec)
        assert second.snapshot.added_bytes == 0
        after = object_names(w.repo)
        assert after["packs"] == objects["packs"] and after["index"] == objects["index"]
        assert after["snapshots"] - objects["snapshots"] == {second.snapshot.snapshot_name}

        # Restoring over the live tree (after damaging it) brings it back too.
        for child in w.bulk.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        (w.bulk / "stray file").write_bytes(b"not in the snapshot")
        result = manager.restore_snapshot(second.snapshot.snapshot_name, confirm=True)
        assert result.safety_snapshot is not None
        assert_same_tree(before, tree_state(w.bulk), "restore in place")


@given(trees)
def test_create_restore_round_trip(tree: DirSpec) -> None:
    round_trip(tree)


@pytest.mark.slow
@settings(max_examples=500)
@given(trees)
def test_create_restore_round_trip_long(tree: DirSpec) -> None:
    round_trip(tree)
