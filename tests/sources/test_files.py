"""The files source on its own: what a listing records, staged restore, refusing listings that
would write outside the target, and recovering from a crash between the two renames."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snapstore.base.errors import CorruptData
from snapstore.base.reporting import Reporter
from snapstore.manifest.listing import DIR, FILE, SYMLINK, FileEntry, store_listing
from snapstore.manifest.schema import BulkRoot
from snapstore.sources.files.capture import FilesBackup
from snapstore.sources.files.restore import OLD_TAG, STAGING_TAG, restore_root
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import assert_same_tree, tree_state


def capture(store: ChunkStore, root: Path, parent: dict[bytes, FileEntry] | None = None):
    files = FilesBackup(store, (), Reporter())
    res = files.backup_root(root, root.name, parent)
    store.flush()
    return res


def test_listing_records_types_targets_and_reuses_unchanged_files(
    store: ChunkStore, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "f.bin").write_bytes(os.urandom(5000))
    (root / "small").write_bytes(b"x")
    os.symlink("d/f.bin", root / "ln")
    res = capture(store, root)
    assert (res.root.files, res.root.dirs, res.root.symlinks) == (2, 3, 1)
    assert res.read_bytes == 5001 and res.reused_files == 0
    from snapstore.sources.files.capture import load_entries

    entries = {e.path: e for e in load_entries(store, res.root, "t")}
    assert [e.path for e in load_entries(store, res.root, "t")] == [
        b"",
        b"d",
        b"d/e",
        b"d/f.bin",
        b"ln",
        b"small",
    ], "depth-first, sorted by name bytes"
    assert entries[b"ln"].type == SYMLINK and entries[b"ln"].target == b"d/f.bin"
    assert entries[b"d"].type == DIR and entries[b"d/f.bin"].type == FILE
    assert sum(len(store.read(c)) for c in entries[b"d/f.bin"].chunks) == 5000

    (root / "small").write_bytes(b"y")  # same size, new content: must be read again
    again = capture(store, root, entries)
    assert again.reused_files == 1
    assert again.read_bytes == 1
    new = {e.path: e for e in load_entries(store, again.root, "t")}
    assert b"".join(store.read(c) for c in new[b"small"].chunks) == b"y"


def listing_root(store: ChunkStore, entries: list[FileEntry]) -> BulkRoot:
    root = BulkRoot("/somewhere", "somewhere", store_listing(store, entries))
    store.flush()
    return root


# Stands for an absolute path inside this test's tmp folder: a hostile path never names a
# real host path, so a refusal that failed would write into tmp, not onto the machine.
ABSOLUTE = b"<absolute>"


@pytest.mark.parametrize("evil", [b"../escaped", ABSOLUTE, b"a/../../escaped", b"a//b"])
def test_listing_with_unsafe_path_is_refused(
    store: ChunkStore, tmp_path: Path, evil: bytes
) -> None:
    absolute = tmp_path / "escaped-absolute"
    if evil == ABSOLUTE:
        evil = os.fsencode(absolute)
    cid = store.add(b"payload")[0]
    root = listing_root(
        store,
        [
            FileEntry(path=b"", type=DIR, mode=0o755, mtime_ns=0),
            FileEntry(path=evil, type=FILE, mode=0o644, mtime_ns=0, size=7, chunks=(cid,)),
        ],
    )
    work = tmp_path / "work"
    (work / "target").mkdir(parents=True)
    (work / "target" / "keep").write_text("mine")
    with pytest.raises(CorruptData, match=r"evil-snapshot: .*file listing is damaged"):
        restore_root(store, root, work / "target", Reporter(), "evil-snapshot")
    assert sorted(p.name for p in work.iterdir()) == ["target"]
    assert (work / "target" / "keep").read_text() == "mine"
    assert not (tmp_path / "escaped").exists()
    assert not absolute.exists()


def test_interrupted_swap_is_recovered_before_the_next_restore(
    store: ChunkStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("snapshot content")
    res = capture(store, src)
    work = tmp_path / "work"
    work.mkdir()
    # A crash after "target -> old" and before "staging -> target" leaves only the old tree.
    old = work / f".target{OLD_TAG}deadbeef"
    old.mkdir()
    (old / "previous").write_text("the user's data")
    restore_root(store, res.root, work / "target", Reporter(), "snap")
    assert_same_tree(tree_state(src), tree_state(work / "target"))
    assert not old.exists(), "the recovered old tree was swapped out and removed"
    leftovers = [p.name for p in work.iterdir() if STAGING_TAG in p.name or OLD_TAG in p.name]
    assert leftovers == []


def test_listing_order_is_the_sort_key_order(store: ChunkStore, tmp_path: Path) -> None:
    from snapstore.manifest.listing import sort_key
    from snapstore.sources.files.capture import load_entries

    root = tmp_path / "tree"
    for rel in ("a/x/deep", "a-b/y", "a.c", "b", "\xe9/z", "A/q"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    (root / "empty").mkdir()
    paths = [e.path for e in load_entries(store, capture(store, root).root, "t")]
    assert paths == sorted(paths, key=sort_key)
    assert len(paths) == 13
