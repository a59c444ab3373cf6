"""Cold archives: standard tar.gz, smaller than lz4 packs, read transparently and verified,
bounded inflation per lookup, damage named by snapshot and path."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.errors import CorruptData
from snapstore.manager import SnapshotManager
from snapstore.store import archives as arch
from snapstore.store.ids import chunk_id
from tests.helpers import Workspace, assert_same_tree, error_line, flip_byte, tree_state
from tests.lifecycle.conftest import text, write


def _archive_files(ws: Workspace) -> list[Path]:
    return sorted((ws.repo / "archives").glob("*" + arch.ARCHIVE_SUFFIX))


@pytest.fixture
def compressed(lws: Workspace, lm: SnapshotManager) -> tuple[str, str, dict]:
    """An old snapshot whose files only it has (archived), and a newer one."""
    for i in range(6):
        write(lws.bulk, f"old/f{i}.txt", text(i, 12_000))
    write(lws.bulk, "shared.txt", text(99, 5_000))
    old = lm.create("old").snapshot.snapshot_name
    expected = tree_state(lws.bulk)
    for i in range(6):
        (lws.bulk / f"old/f{i}.txt").unlink()
    new = lm.create("new").snapshot.snapshot_name
    result = lm.archive([old])
    assert result.snapshots == [old]
    assert result.chunks > 0
    return old, new, expected


def test_archive_is_a_standard_tar_gz_of_chunks(
    lws: Workspace, compressed: tuple[str, str, dict]
) -> None:
    [path] = _archive_files(lws)
    listing = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    members = dict(arch.iter_tar_members(path.read_bytes()))
    assert set(listing.stdout.split()) == set(members)
    for name, data in members.items():
        assert chunk_id(data).hex() == name  # every member is a chunk named by its id
    # The index can be rebuilt from the archive alone, and agrees with the stored one.
    stored = arch.ArchiveIndex.decode(
        (lws.repo / "archives" / arch.index_name(path.name)).read_bytes(), "idx"
    )
    assert arch.rebuild_index(path.read_bytes(), path.name).chunks == stored.chunks


def test_list_shows_compressed_and_restore_reads_archives(
    lws: Workspace, lm: SnapshotManager, compressed: tuple[str, str, dict], tmp_path: Path
) -> None:
    old, new, expected = compressed
    listed = lws.run("list")
    assert f"{old} [compressed]" in listed.stdout
    assert f"{new} [compressed]" not in listed.stdout
    # The moved chunks are gone from the packs: only the archive has them now.
    assert lm.usage()[old]["archived_bytes"] > 0
    lm.restore_snapshot(old, confirm=True, target=str(tmp_path / "out"), safety_snapshot=False)
    assert_same_tree(expected, tree_state(tmp_path / "out"))
    report = lm.check(read_data=True)
    assert report.ok, report.errors


def test_archive_is_smaller_than_the_lz4_packs(lws: Workspace, lm: SnapshotManager) -> None:
    for i in range(8):
        write(lws.bulk, f"t{i}.txt", text(i, 40_000))
    old = lm.create("text").snapshot.snapshot_name
    for i in range(8):
        (lws.bulk / f"t{i}.txt").unlink()
    lm.create("empty")
    r = lm.archive([old])
    # Even with this repository's 256-byte chunks (a 512-byte tar header each), gzip beats
    # lz4 clearly; bench/lifecycle_bench.py measures real chunk sizes.
    assert r.archive_bytes < 0.8 * r.lz4_bytes, r


class CountingBackend(LocalBackend):
    """The real local backend, recording the byte ranges read from archives."""

    reads: list[tuple[str, int, int]]

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = super().get(kind, name, offset, length)
        if kind is Kind.ARCHIVES and name.endswith(arch.ARCHIVE_SUFFIX):
            self.reads.append((name, offset, len(data)))
        return data


def test_one_lookup_inflates_at_most_one_member(lws: Workspace) -> None:
    backend = CountingBackend(lws.repo)
    backend.create()
    builder = arch.ArchiveBuilder(member_target=64 * 1024)
    chunks = {}
    for i in range(200):
        data = text(i, 4000 + i)
        chunks[chunk_id(data)] = data
        builder.add(chunk_id(data), data)
    idx = arch.write_archive(backend, builder)
    assert len(idx.members) > 5
    for cid in list(chunks)[::37]:
        backend.reads = []
        got = arch.ArchiveSet(backend).read(cid)
        assert got == chunks[cid]
        [(_, offset, length)] = backend.reads  # one ranged read: the chunk's member
        member = idx.members[idx.chunks[cid][0]]
        assert (offset, length) == (member.offset, member.length)
        assert member.raw_length <= 64 * 1024 + 4000 + 200 + 1024


def test_corrupted_archive_is_named_with_snapshot_and_path(
    lws: Workspace, lm: SnapshotManager, compressed: tuple[str, str, dict], tmp_path: Path
) -> None:
    old, _, _ = compressed
    [path] = _archive_files(lws)
    idx = arch.ArchiveIndex.decode(
        (lws.repo / "archives" / arch.index_name(path.name)).read_bytes(), "idx"
    )
    member = idx.members[0]
    flip_byte(path, member.offset + member.length // 2)
    report = lm.check(read_data=True)
    assert not report.ok
    assert any(old in e and "old/f" in e for e in report.errors), report.errors
    with pytest.raises(CorruptData, match=rf"{old}.*old/f"):
        lm.restore_snapshot(old, confirm=True, target=str(tmp_path / "o"), safety_snapshot=False)
    assert not (tmp_path / "o").exists()  # staged restore: nothing half-written visible
    cli = lws.run("restore", old, "--yes", "--target", str(tmp_path / "o"), "--no-safety-snapshot")
    assert cli.returncode == 1
    error_line(cli.stderr, old, "old/f", alone=False)


def test_missing_archive_is_named_with_snapshot_and_path(
    lws: Workspace, lm: SnapshotManager, compressed: tuple[str, str, dict]
) -> None:
    old, new, _ = compressed
    [path] = _archive_files(lws)
    path.unlink()
    report = lm.check()
    assert any("indexed but missing" in e for e in report.errors)
    assert any(old in e and "old/f" in e for e in report.errors), report.errors
    assert not any(new in e for e in report.errors)  # the newer snapshot is unaffected
    cli = lws.run("check")
    assert cli.returncode == 1
    assert old in cli.stderr and "old/f" in cli.stderr
    gc = lws.run("gc")  # gc refuses to make it worse
    assert gc.returncode == 1
    error_line(gc.stderr, "missing", alone=False)


def test_archive_without_index_is_a_leftover_gc_removes(
    lws: Workspace, lm: SnapshotManager, compressed: tuple[str, str, dict]
) -> None:
    builder = arch.ArchiveBuilder()
    builder.add(chunk_id(b"x"), b"x")
    name, path, _ = builder.finish()
    LocalBackend(lws.repo).put_file(Kind.ARCHIVES, name, path)  # interrupted before its index
    assert any("has no index" in w for w in lm.check().warnings)
    lm.gc()
    assert not (lws.repo / "archives" / name).exists()
    assert lm.check().warnings == []


def test_new_snapshot_of_archived_data_moves_it_back_to_packs(
    lws: Workspace, lm: SnapshotManager, compressed: tuple[str, str, dict], tmp_path: Path
) -> None:
    old, _, expected = compressed
    for i in range(6):  # the old files come back: the next snapshot uses those chunks again
        write(lws.bulk, f"old/f{i}.txt", text(i, 12_000))
    again = lm.create("again").snapshot.snapshot_name
    expected_again = tree_state(lws.bulk)
    lm.gc()
    # Hot again: the archive copy is dead and the archive gone; both snapshots restore.
    assert _archive_files(lws) == []
    for name, want in ((old, expected), (again, expected_again)):
        out = tmp_path / name
        lm.restore_snapshot(name, confirm=True, target=str(out), safety_snapshot=False)
        assert_same_tree(want, tree_state(out))


def test_tar_reads_the_archive_like_any_tar_gz(
    lws: Workspace, compressed: tuple[str, str, dict], tmp_path: Path
) -> None:
    [path] = _archive_files(lws)
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        names = tar.getnames()
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(path), "-C", str(out)], check=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
