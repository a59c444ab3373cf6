"""Chunk compression: every chunk round-trips; big chunks that resist lz4 at the start, middle
and end are stored raw without compressing them whole, and a compressible region anywhere a
probe looks is enough to compress the whole chunk."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from snapstore.store import compression
from snapstore.store.compression import LZ4, PROBE, PROBE_ABOVE, RAW, compress, decompress


def _random(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def _text(n: int) -> bytes:
    line = b'{"step": 1, "loss": 0.25, "note": "the quick brown fox"}\n'
    return (line * (n // len(line) + 1))[:n]


@given(st.binary(max_size=4096) | st.builds(_random, st.integers(0, 600_000)))
def test_every_chunk_round_trips(data: bytes) -> None:
    stored, method = compress(data)
    assert decompress(bytes(stored), method, len(data)) == data
    assert len(stored) <= len(data)


def test_big_random_chunk_is_stored_raw_without_a_whole_compression(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = _random(PROBE_ABOVE * 4)
    sizes: list[int] = []
    real = compression.lz4.block.compress

    def counting(buf, **kw):  # type: ignore[no-untyped-def]
        sizes.append(len(buf))
        return real(buf, **kw)

    monkeypatch.setattr(compression.lz4.block, "compress", counting)
    stored, method = compress(data)
    assert method == RAW and stored == data
    assert sizes and max(sizes) == PROBE  # only the probes ran


def test_compressible_middle_or_end_still_compresses_the_chunk() -> None:
    n = PROBE_ABOVE * 2
    for where in ("start", "middle", "end"):
        data = bytearray(_random(n))
        text = _text(PROBE * 2)
        at = {"start": 0, "middle": n // 2 - PROBE, "end": n - len(text)}[where]
        data[at : at + len(text)] = text
        stored, method = compress(bytes(data))
        assert method == LZ4, where
        assert len(stored) < n
        assert decompress(bytes(stored), method, n) == bytes(data)


def test_text_and_small_chunks_compress() -> None:
    for data in (_text(PROBE_ABOVE * 3), _text(1000)):
        stored, method = compress(data)
        assert method == LZ4 and len(stored) < len(data) // 4
