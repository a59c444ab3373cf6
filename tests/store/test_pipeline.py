"""The parallel write and read paths (store/pipeline.py, store/reader.py, ChunkStore's writer
threads, the block-reading chunker): same results as the plain one-chunk-at-a-time paths, in
the same order, with errors reported at the chunk or file they concern."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

import snapstore.store.chunkstore as chunkstore_mod
from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.errors import CorruptData, MissingChunk
from snapstore.base.reporting import Reporter
from snapstore.maintenance.check import check_repository
from snapstore.manifest.listing import FILE, FileEntry, load_listing, store_listing
from snapstore.store import pipeline as writer
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import ChunkerParams, RepoConfig, write_config
from snapstore.store.pipeline import AddPipeline
from tests.helpers import SMALL_CHUNKER, flip_byte, pack_files

PARAMS = [
    SMALL_CHUNKER,
    ChunkerParams(min_size=64, avg_size=256, max_size=1024, normalization=2),
    ChunkerParams(min_size=100, avg_size=300, max_size=5000, normalization=0, seed=7),
]


class Trickle(io.RawIOBase):
    """A stream that returns short reads of random length, as pipes and some filesystems do."""

    def __init__(self, data: bytes, seed: int) -> None:
        self.data, self.pos, self.rng = data, 0, random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self.rng.randint(1, 700), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def data_strategy() -> st.SearchStrategy[bytes]:
    seeded = st.builds(
        lambda seed, n: random.Random(seed).randbytes(n),
        st.integers(0, 2**32),
        st.integers(0, 30_000),
    )
    repetitive = st.builds(lambda n: (b"abcab" * n)[:n], st.integers(0, 30_000))
    return st.one_of(st.binary(max_size=3000), seeded, repetitive)


@given(
    data=data_strategy(),
    which=st.integers(0, len(PARAMS) - 1),
    block=st.integers(1, 9000),
    hint=st.one_of(st.none(), st.integers(0, 40_000)),
)
def test_stream_cuts_equal_whole_buffer_cuts(
    data: bytes, which: int, block: int, hint: int | None
) -> None:
    chunker = Chunker(PARAMS[which])
    whole = [bytes(p) for p in chunker.cut_bytes(data)]
    streamed = [bytes(p) for p in chunker.cut_stream(io.BytesIO(data), hint, block=block)]
    trickled = [bytes(p) for p in chunker.cut_stream(Trickle(data, block), hint, block=block)]
    assert streamed == whole
    assert trickled == whole


def test_stream_chunks_stay_valid_after_the_next_one() -> None:
    data = random.Random(4).randbytes(200_000)
    chunker = Chunker(SMALL_CHUNKER)
    held = list(chunker.cut_stream(io.BytesIO(data), block=4096))
    assert b"".join(bytes(p) for p in held) == data


# -- writing ------------------------------------------------------------------------------------


def new_store(path: Path, pack_size: int = 64 * 1024) -> ChunkStore:
    backend = LocalBackend(path / "repo")
    write_config(backend, RepoConfig(chunker=SMALL_CHUNKER, pack_size=pack_size))
    return ChunkStore.open(backend, str(path / "cache"))


def make_files(root: Path, seed: int) -> list[Path]:
    """Small files, files over writer.SMALL_FILE, duplicates and an empty file."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    files = []
    shared = rng.randbytes(5000)
    for i in range(40):
        size = rng.choice([0, 10, 300, 5000, 20_000])
        body = shared if i % 7 == 3 else rng.randbytes(size)
        files.append(root / f"f{i:02d}")
        files[-1].write_bytes(body)
    for i in range(3):
        files.append(root / f"big{i}")
        files[-1].write_bytes(rng.randbytes(writer.SMALL_FILE + 1 + i * 50_000))
    files.append(root / "big-copy")
    files[-1].write_bytes(files[-2].read_bytes())
    return files


def test_pipeline_fills_packs_exactly_like_one_add_at_a_time(tmp_path: Path) -> None:
    files = make_files(tmp_path / "tree", seed=1)
    plain = new_store(tmp_path / "plain")
    chunker = Chunker(SMALL_CHUNKER)
    expected = []
    for f in files:
        expected.append([plain.add(p)[0] for p in chunker.cut_bytes(f.read_bytes())])
    plain.flush()

    piped = new_store(tmp_path / "piped")
    with AddPipeline(piped, max_inflight=256 * 1024) as pipe:  # small: exercises the waits
        slots = [pipe.submit_file(os.fsencode(f), f.stat().st_size) for f in files]
    piped.flush()
    assert all(s.done and s.error is None for s in slots)
    assert [s.ids for s in slots] == expected
    assert [s.size for s in slots] == [f.stat().st_size for f in files]
    # Same chunks in the same order: the very same packs, named by their content.
    assert {p.name for p in pack_files(tmp_path / "piped" / "repo")} == {
        p.name for p in pack_files(tmp_path / "plain" / "repo")
    }
    assert piped.stats.new_chunks == plain.stats.new_chunks
    for ids, f in zip(expected, files, strict=True):
        assert b"".join(piped.read(i) for i in ids) == f.read_bytes()
    plain.close()
    piped.close()


def test_unreadable_file_is_reported_in_its_slot_and_others_are_stored(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    good = tmp_path / "good"
    good.write_bytes(b"x" * 3000)
    with AddPipeline(store) as pipe:
        missing = pipe.submit_file(os.fsencode(tmp_path / "gone"), 10)
        folder = pipe.submit_file(os.fsencode(tmp_path), 10)
        ok = pipe.submit_file(os.fsencode(good), 3000)
        big_missing = pipe.submit_file(os.fsencode(tmp_path / "gone"), writer.SMALL_FILE + 1)
    assert isinstance(missing.error, FileNotFoundError)
    assert isinstance(folder.error, IsADirectoryError)
    assert isinstance(big_missing.error, FileNotFoundError)
    assert ok.error is None and b"".join(store.read(i) for i in ok.ids) == b"x" * 3000
    store.close()


def test_chunks_are_readable_before_their_pack_is_durable(tmp_path: Path) -> None:
    store = new_store(tmp_path, pack_size=4096)
    data = [random.Random(i).randbytes(900) for i in range(60)]
    ids = [store.add(d)[0] for d in data]
    # Some in the pack being built, some handed to the writers, some written: all readable,
    # one by one and through read_many, before any index object exists.
    assert [store.read(i) for i in ids] == data
    assert list(store.read_many(ids)) == data
    store.flush()
    assert list(store.read_many(reversed(ids))) == list(reversed(data))
    store.close()


def test_interim_index_objects_keep_a_big_create_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunkstore_mod, "INDEX_CHECKPOINT_CHUNKS", 10)
    store = new_store(tmp_path, pack_size=2048)
    data = [random.Random(i).randbytes(700) for i in range(100)]
    ids = [store.add(d)[0] for d in data]
    assert [store.add(d) for d in data[:5]] == [(i, False) for i in ids[:5]]
    store.flush()
    assert len(list(store.backend.list(Kind.INDEX))) > 2
    store.close()
    fresh = ChunkStore.open(store.backend, str(tmp_path / "other-cache"))
    assert list(fresh.read_many(ids)) == data
    report = check_repository(fresh.backend, fresh, read_data=True, reporter=Reporter())
    assert report.ok and not report.warnings, (report.errors, report.warnings)
    fresh.close()


def test_listing_is_stored_as_a_stream_with_the_same_chunks(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    entries = [
        FileEntry(path=b"d/f%05d" % i, type=FILE, mode=0o644, mtime_ns=i, size=i, chunks=())
        for i in range(3000)
    ]
    ids = store_listing(store, iter(entries))
    from snapstore.manifest.listing import listing_params

    encoded = b"".join(msgpack.packb(e.to_map(), use_bin_type=True) for e in entries)
    whole = Chunker(listing_params(store.config.chunker)).cut_bytes(encoded)
    assert ids == [store.add(p)[0] for p in whole]
    assert list(load_listing(store, ids, "t")) == entries
    store.close()


# -- reading ------------------------------------------------------------------------------------


def test_read_many_raises_at_the_damaged_chunk_and_not_before(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    data = [random.Random(i).randbytes(800) for i in range(30)]
    ids = [store.add(d)[0] for d in data]
    store.flush()
    victim = 17
    loc = store.locate(ids[victim])
    assert loc is not None
    (pack,) = [p for p in pack_files(tmp_path / "repo") if p.name == loc.pack]
    flip_byte(pack, loc.offset + 3)
    got = []
    with pytest.raises(CorruptData, match=ids[victim].hex()[:16]):
        for chunk in store.read_many(ids):
            got.append(chunk)
    assert got == data[:victim]
    store.close()


def test_read_many_reports_a_missing_pack_as_a_missing_chunk(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    ids = [store.add(random.Random(i).randbytes(600))[0] for i in range(5)]
    store.flush()
    for p in pack_files(tmp_path / "repo"):
        p.unlink()
    with pytest.raises(MissingChunk):
        list(store.read_many(ids))
    store.close()
