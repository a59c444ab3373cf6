"""Content-defined chunking (FastCDC 2020 via pyfastcdc) with the repository's parameters.

Files are read as a stream (not mmapped) so that a file truncated while we read it yields an
error or short data instead of a SIGBUS. Streams are read in large blocks into buffers that
are never reused and cut with pyfastcdc's buffer cutter; pyfastcdc's own ``cut_stream``
allocates and zero-fills a buffer of twice the maximum chunk size (16 MiB by default) on every
call, which cost more than the chunking itself on trees of many small files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pyfastcdc import FastCDC

from snapstore.store.config import ChunkerParams
from snapstore.store.ids import ChunkIdentity

READ_BLOCK = 8 * 1024 * 1024


class Readable(Protocol):
    """What ``cut_stream`` reads from: a binary file, or anything with its ``read``."""

    def read(self, n: int, /) -> bytes: ...


class Chunker:
    """Cuts byte streams into chunks; one instance per thread (pyfastcdc is not thread-safe).

    Made from the open repository's ``ChunkIdentity`` (store/ids.py), whose id function it
    carries as ``chunk_id``, so code that cuts a file and compares ids uses the repository's
    own (keyed, for an encrypted repository). Bare ``ChunkerParams`` mean plain BLAKE3."""

    def __init__(self, identity: ChunkIdentity | ChunkerParams) -> None:
        if isinstance(identity, ChunkerParams):  # bare parameters: plain BLAKE3 ids
            identity = ChunkIdentity.plain(identity)
        params = identity.chunker
        self.identity = identity
        self.chunk_id = identity.id
        self.params = params
        self._cdc = FastCDC(
            params.avg_size,
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=params.normalization,
            seed=params.seed,
        )

    def cut_bytes(self, data: bytes | memoryview) -> Iterator[memoryview]:
        """Yield the chunks of an in-memory buffer."""
        if not data:
            return
        for chunk in self._cdc.cut_buf(data):
            yield chunk.data

    def cut_stream(
        self, stream: Readable, size_hint: int | None = None, block: int = READ_BLOCK
    ) -> Iterator[memoryview]:
        """Yield the chunks of a stream, cut exactly as ``cut_bytes`` cuts its whole content.

        Each memoryview refers to a buffer that is never written again, so it stays valid
        after the next chunk is produced (holding it keeps that block of the stream in memory).
        ``size_hint`` (the size ``stat`` reported) sizes the first read, so a small file costs
        one buffer of its own size.
        """
        params = self.params
        block = max(block, params.max_size)
        want = block if size_hint is None else min(block, size_hint + 1)
        readinto = getattr(stream, "readinto", None)
        carry: bytes | memoryview = b""
        eof = False
        while not eof:
            # One new buffer per round (never reused: chunks handed out point into it), the
            # uncut tail of the previous round first, then up to ``want`` new bytes.
            buf = bytearray(len(carry) + want)
            buf[: len(carry)] = carry
            end = len(carry)
            while end < len(buf):
                if readinto is not None:
                    n = readinto(memoryview(buf)[end:])
                else:
                    piece = stream.read(len(buf) - end)
                    n = len(piece)
                    buf[end : end + n] = piece
                if not n:
                    eof = True
                    break
                end += n
            want = block
            view = memoryview(buf)[:end]
            pos = 0
            for chunk in self._cdc.cut_buf(view):
                if not eof and not _final(chunk.length, end - pos, params):
                    break  # this cut could move once more bytes are read: redo it then
                yield chunk.data
                pos += chunk.length
            carry = view[pos:]


def _final(length: int, remaining: int, params: ChunkerParams) -> bool:
    """Whether FastCDC's cut of ``length`` bytes, made with only ``remaining`` bytes in view,
    is the cut it makes with the whole stream in view.

    FastCDC scans at most ``max_size`` bytes, so with that much in view the cut is final. With
    less, the scan is the same one (same start, same mask switch at ``avg_size``) cut short at
    ``remaining``: a cut point it found before the end of the view is the one the full scan
    finds; a cut *at* the end of the view may just be the view running out.
    """
    if remaining >= params.max_size:
        return True
    return remaining > params.avg_size and remaining > params.min_size and length < remaining
