"""The chunker: chunks reassemble to the input, respect the size limits, and are stable under
insertions (the property deduplication rests on)."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapstore.store.chunker import Chunker
from snapstore.store.config import ChunkerParams
from snapstore.store.ids import chunk_id
from tests.helpers import SMALL_CHUNKER

CHUNKER = Chunker(SMALL_CHUNKER)

# Random bytes from a seed: realistic data without making hypothesis generate 20 KB buffers.
seeded_data = st.builds(
    lambda seed, n: random.Random(seed).randbytes(n),
    st.integers(min_value=0, max_value=2**64),
    st.integers(min_value=0, max_value=20_000),
)
data = st.one_of(st.binary(max_size=5000), seeded_data)


def cuts(buf: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    for piece in CHUNKER.cut_bytes(buf):
        out.append((pos, bytes(piece)))
        pos += len(piece)
    return out


@given(data)
def test_chunks_reassemble_and_respect_size_limits(buf: bytes) -> None:
    pieces = [p for _, p in cuts(buf)]
    assert b"".join(pieces) == buf
    assert all(len(p) <= SMALL_CHUNKER.max_size for p in pieces)
    assert all(len(p) >= SMALL_CHUNKER.min_size for p in pieces[:-1])
    assert all(pieces), "no empty chunks"


@given(data)
def test_stream_and_buffer_cut_identically(buf: bytes) -> None:
    streamed = [bytes(p) for p in CHUNKER.cut_stream(io.BytesIO(buf))]
    assert streamed == [p for _, p in cuts(buf)]


@given(
    seed=st.integers(min_value=0, max_value=2**64),
    size=st.integers(min_value=0, max_value=20_000),
    where=st.floats(min_value=0, max_value=1),
    inserted=st.binary(min_size=1, max_size=400),
)
def test_insertion_changes_only_nearby_chunks(
    seed: int, size: int, where: float, inserted: bytes
) -> None:
    old = random.Random(seed).randbytes(size)
    at = int(where * size)
    new = old[:at] + inserted + old[at:]
    a, b = cuts(old), cuts(new)
    # Before: a cut is decided by the bytes up to and including the first byte after it, so
    # every chunk that ends before the insertion point is cut identically.
    for pos, piece in a:
        if pos + len(piece) < at:
            assert (pos, piece) in b
    # After: the chunk lists re-synchronise; the common tail covers everything from a few
    # maximum chunk sizes after the inserted bytes.
    ta, tb = [p for _, p in a], [p for _, p in b]
    same = 0
    while same < min(len(ta), len(tb)) and ta[-1 - same] == tb[-1 - same]:
        same += 1
    tail = sum(len(p) for p in tb[len(tb) - same :])
    changed_end = len(new) - tail
    assert changed_end <= at + len(inserted) + 8 * SMALL_CHUNKER.max_size


def test_insertion_leaves_most_chunks_shared_on_a_big_buffer() -> None:
    """What a user sees: editing 1 byte of a 2 MB file re-stores a few chunks, not the file."""
    old = random.Random(1).randbytes(2_000_000)
    new = old[:1_000_000] + b"!" + old[1_000_000:]
    ids_old = {chunk_id(p) for _, p in cuts(old)}
    ids_new = [chunk_id(p) for _, p in cuts(new)]
    fresh = [i for i in ids_new if i not in ids_old]
    assert len(ids_new) > 1000
    assert len(fresh) <= 5


def test_default_parameters_cut_large_chunks() -> None:
    chunker = Chunker(ChunkerParams())
    buf = random.Random(2).randbytes(12 * 1024 * 1024)
    pieces = [bytes(p) for p in chunker.cut_bytes(buf)]
    assert b"".join(pieces) == buf
    assert 3 <= len(pieces) <= 48
    assert all(256 * 1024 <= len(p) <= 8 * 1024 * 1024 for p in pieces[:-1])


def test_same_seed_same_cuts_other_seed_other_cuts() -> None:
    buf = random.Random(3).randbytes(50_000)
    a = [bytes(p) for p in Chunker(SMALL_CHUNKER).cut_bytes(buf)]
    b = [bytes(p) for p in Chunker(SMALL_CHUNKER).cut_bytes(buf)]
    seeded = ChunkerParams(min_size=64, avg_size=256, max_size=1024, seed=12345)
    c = [bytes(p) for p in Chunker(seeded).cut_bytes(buf)]
    assert a == b
    assert a != c


def test_empty_input_has_no_chunks() -> None:
    assert list(CHUNKER.cut_bytes(b"")) == []
    assert list(CHUNKER.cut_stream(io.BytesIO(b""))) == []


@pytest.mark.slow
@settings(max_examples=300)
@given(seeded_data)
def test_chunk_limits_on_many_large_buffers(buf: bytes) -> None:
    pieces = [p for _, p in cuts(buf)]
    assert b"".join(pieces) == buf
    assert all(SMALL_CHUNKER.min_size <= len(p) <= SMALL_CHUNKER.max_size for p in pieces[:-1])
