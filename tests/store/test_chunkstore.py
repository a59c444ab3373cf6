"""ChunkStore over a real local backend: dedup, durability order, verified reads, the index
cache outside the repository (deletable, rebuilt), and the state a crash leaves."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.errors import CorruptData, MissingChunk, ObjectExists, RepositoryError
from snapstore.base.reporting import Reporter
from snapstore.maintenance.check import check_repository
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import RepoConfig, read_config, write_config
from tests.helpers import SMALL_CHUNKER, flip_byte, pack_files


def new_repo(path: Path, pack_size: int = 4096) -> LocalBackend:
    backend = LocalBackend(path)
    write_config(backend, RepoConfig(chunker=SMALL_CHUNKER, pack_size=pack_size))
    return backend


def chunks_of(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(1, 900)) for _ in range(n)]


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return new_repo(tmp_path / "repo")


def test_add_dedups_and_reads_back_before_and_after_flush(
    backend: LocalBackend, tmp_path: Path
) -> None:
    store = ChunkStore.open(backend, str(tmp_path / "c1"))
    data = chunks_of(1, 40)
    ids = [store.add(d) for d in data]
    assert all(new for _, new in ids)
    assert [store.read(cid) for cid, _ in ids] == data  # unflushed: from memory / pending packs
    assert store.add(data[3]) == (ids[3][0], False)
    store.flush()
    assert store.stats.new_chunks == 40
    assert store.stats.packs_written == len(pack_files(Path(backend.location)))
    assert len(list(backend.list(Kind.INDEX))) == 1
    store.close()
    # A second process with an empty cache finds everything through the index objects.
    other = ChunkStore.open(backend, str(tmp_path / "c2"))
    assert [other.read(cid) for cid, _ in ids] == data
    assert other.add(data[0]) == (ids[0][0], False)
    other.close()


@given(st.lists(st.binary(max_size=1500), max_size=25))
def test_chunk_store_round_trip(
    tmp_path_factory: pytest.TempPathFactory, data: list[bytes]
) -> None:
    base = tmp_path_factory.mktemp("cs")
    backend = new_repo(base / "repo", pack_size=2048)
    store = ChunkStore.open(backend, str(base / "cache"))
    ids = [store.add(d)[0] for d in data]
    store.flush()
    store.close()
    fresh = ChunkStore.open(backend, str(base / "cache2"))
    assert [fresh.read(i) for i in ids] == data
    fresh.close()


def test_flush_without_chunks_writes_nothing(backend: LocalBackend, tmp_path: Path) -> None:
    store = ChunkStore.open(backend, str(tmp_path / "c"))
    store.flush()
    assert list(backend.list(Kind.INDEX)) == []
    assert list(backend.list(Kind.PACKS)) == []


def test_crash_before_flush_leaves_only_unindexed_packs(
    backend: LocalBackend, tmp_path: Path
) -> None:
    store = ChunkStore.open(backend, str(tmp_path / "c"))
    data = chunks_of(2, 60)
    ids = [store.add(d)[0] for d in data]
    assert store.stats.packs_written >= 2
    store.close()  # the process dies here: no flush, no index object
    assert list(backend.list(Kind.INDEX)) == []
    after = ChunkStore.open(backend, str(tmp_path / "c"))
    assert not any(after.has(i) for i in ids), "chunks of a crashed write must not be indexed"
    report = check_repository(backend, after, read_data=True, reporter=Reporter())
    assert report.ok, report.errors
    # Every pack that reached the disk is reported; a real crash may lose queued ones.
    assert 1 <= len(report.warnings) <= store.stats.packs_written
    assert all("not indexed" in w for w in report.warnings)
    # The next writer stores them again and they become readable.
    for d in data:
        assert after.add(d)[1]
    after.flush()
    assert [after.read(i) for i in ids] == data
    after.close()


def test_reads_are_verified(backend: LocalBackend, tmp_path: Path) -> None:
    store = ChunkStore.open(backend, str(tmp_path / "c"))
    cid, _ = store.add(b"precious bytes " * 50)
    store.flush()
    loc = store.locate(cid)
    assert loc is not None
    pack = Path(backend.location) / "packs" / loc.pack[:2] / loc.pack
    flip_byte(pack, loc.offset + loc.length // 2)
    with pytest.raises(CorruptData, match=cid.hex()[:16]):
        store.read(cid)
    pack.unlink()
    with pytest.raises(MissingChunk, match="missing"):
        store.read(cid)
    with pytest.raises(MissingChunk, match=r"missing|neither in a pack"):
        store.read(b"\x01" * 32)
    store.close()


def test_cache_can_be_deleted_or_damaged_and_is_rebuilt(
    backend: LocalBackend, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    store = ChunkStore.open(backend, str(cache))
    data = chunks_of(3, 20)
    ids = [store.add(d)[0] for d in data]
    store.flush()
    store.close()
    db = cache / read_config(backend).id / "index.sqlite"
    assert db.is_file()
    assert not list(Path(backend.location).rglob("*.sqlite")), "no SQLite inside the repository"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db}{suffix}"):
            os.unlink(f"{db}{suffix}")
    db.write_bytes(b"this is not a database" * 100)
    again = ChunkStore.open(backend, str(cache))
    assert [again.read(i) for i in ids] == data
    again.close()


def test_cache_notices_removed_index_objects(backend: LocalBackend, tmp_path: Path) -> None:
    store = ChunkStore.open(backend, str(tmp_path / "c"))
    cid = store.add(b"will lose its index")[0]
    store.flush()
    store.close()
    for obj in list(backend.list(Kind.INDEX)):
        backend.delete(Kind.INDEX, obj.name)
    again = ChunkStore.open(backend, str(tmp_path / "c"))
    assert not again.has(cid)
    with pytest.raises(MissingChunk):
        again.read(cid)
    again.close()


def test_local_backend_contract(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "r")
    assert not b.exists()
    b.create()
    b.put(Kind.SNAPSHOTS, "s1", b"one")
    b.put(Kind.SNAPSHOTS, "s1", b"uno")  # overwrite allowed by default
    with pytest.raises(ObjectExists):
        b.put(Kind.SNAPSHOTS, "s1", b"x", overwrite=False)
    assert b.get(Kind.SNAPSHOTS, "s1") == b"uno"
    assert b.get(Kind.SNAPSHOTS, "s1", 1, 2) == b"no"
    assert [o.name for o in b.list(Kind.SNAPSHOTS)] == ["s1"]
    assert b.stat(Kind.SNAPSHOTS, "s1").size == 3
    b.delete(Kind.SNAPSHOTS, "s1")
    b.delete(Kind.SNAPSHOTS, "s1")  # deleting a missing object is fine
    assert list(b.list(Kind.SNAPSHOTS)) == []
    assert list((tmp_path / "r" / "tmp").iterdir()) == [], "no temporary files left behind"
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            b.put(Kind.SNAPSHOTS, bad, b"")


def test_config_is_create_only_and_versioned(tmp_path: Path) -> None:
    b = new_repo(tmp_path / "r")
    with pytest.raises(ObjectExists):
        write_config(b, RepoConfig())
    assert read_config(b).chunker == SMALL_CHUNKER
    with pytest.raises(RepositoryError, match="not a snapstore repository"):
        read_config(LocalBackend(tmp_path / "nothing"))
