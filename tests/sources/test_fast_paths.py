"""The files source's fast paths give the same results as the plain ones: restored files get
their exact modes (set-id bits, modes the umask would strip) and owners even when the system
calls that would change nothing are skipped; big files are streamed to their writer thread; a
re-snapshot reuses the parent's entries as they are, and reads a file again when one of its
chunks is gone from the store."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from snapstore.base.reporting import Reporter
from snapstore.manifest.listing import FILE, FileEntry
from snapstore.sources.files.capture import FilesBackup, load_entries, load_entry_maps
from snapstore.sources.files.restore import restore_root
from snapstore.sources.files.restore import write_files as writer_mod
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import IS_ROOT, assert_same_tree, tree_state


def capture(store: ChunkStore, root: Path, parent: object = None):  # type: ignore[no-untyped-def]
    res = FilesBackup(store, (), Reporter()).backup_root(root, root.name, parent)  # type: ignore[arg-type]
    store.flush()
    return res


def test_modes_and_owners_survive_the_skipped_calls(
    store: ChunkStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "SMALL_RESTORE", 3000)  # some files streamed, some batched
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(3)
    modes = [0o644, 0o600, 0o777, 0o4755, 0o2750, 0o444, 0o000, 0o1755]
    owners = [(0, 0), (1234, 0), (0, 1234), (65534, 65534)] if IS_ROOT else [(-1, -1)]
    for i, mode in enumerate(modes):
        for j, (uid, gid) in enumerate(owners):
            p = src / f"f{i}-{j}"
            p.write_bytes(rng.randbytes(rng.choice([10, 2000, 9000])))
            if IS_ROOT:
                os.chown(p, uid, gid)
            os.chmod(p, mode)
            os.utime(p, ns=(1, 1_600_000_000_123_456_789 + i))
    res = capture(store, src)
    before = tree_state(src)
    restore_root(store, res.root, tmp_path / "out", Reporter(), "t")
    assert_same_tree(before, tree_state(tmp_path / "out"), "restore")


@pytest.mark.skipif(not IS_ROOT, reason="a set-group-id parent only matters for root's chowns")
def test_restore_under_a_set_group_id_directory_keeps_each_files_group(
    store: ChunkStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "mine").write_bytes(b"x" * 100)
    os.chown(src / "mine", 0, 0)
    res = capture(store, src)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 0, 1234)
    os.chmod(shared, 0o2775)
    restore_root(store, res.root, shared / "out", Reporter(), "t")
    st = os.stat(shared / "out" / "mine")
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(st.st_mode) == stat.S_IMODE(os.stat(src / "mine").st_mode)


def test_reuse_copies_the_parent_entry_and_rereads_a_file_whose_chunk_is_gone(
    store: ChunkStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        (src / f"f{i:02d}").write_bytes(random.Random(i).randbytes(700))
    first = capture(store, src)
    maps = list(load_entry_maps(store, first.root, "t"))
    # The parent claims f07 is made of a chunk the store never had (as after archiving).
    victim = next(m for m in maps if m["p"] == b"f07")
    victim["c"] = [b"\x01" * 32]
    second = capture(store, src, iter(maps))
    assert second.reused_files == 29 and second.read_bytes == 700
    assert [e.path for e in load_entries(store, second.root, "t")] == [
        e.path for e in load_entries(store, first.root, "t")
    ]
    old = {e.path: e for e in load_entries(store, first.root, "t")}
    new = {e.path: e for e in load_entries(store, second.root, "t")}
    assert new == old  # f07 read again: the same chunks as the first time
    # A parent given as FileEntry objects (a mapping, as older callers pass) works the same.
    third = capture(store, src, old)
    assert third.reused_files == 30 and third.read_bytes == 0
    assert third.root.listing == first.root.listing  # byte-identical listing: shared chunks


def test_a_damaged_parent_stream_is_reported_and_files_are_read(
    store: ChunkStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_bytes(b"%d" % i * 100)
    first = capture(store, src)
    maps = list(load_entry_maps(store, first.root, "t"))
    del maps[3]["p"]  # an entry without a path
    reporter = Reporter()
    res = FilesBackup(store, (), reporter).backup_root(src, "src", iter(maps))
    store.flush()
    assert any("reading every file instead of reusing it" in w for w in reporter.warnings)
    assert res.reused_files < 5 and res.root.files == 5
    entries = [e for e in load_entries(store, res.root, "t") if e.type == FILE]
    assert [e.path for e in entries] == [b"f0", b"f1", b"f2", b"f3", b"f4"]
    assert all(isinstance(e, FileEntry) for e in entries)
