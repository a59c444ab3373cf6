"""Content-defined chunking (FastCDC 2020 via pyfastcdc) with the repository's parameters.

Files are read as a stream (not mmapped) so that a file truncated while we read it yields an
error or short data instead of a SIGBUS.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from pyfastcdc import FastCDC

from snapstore.store.config import ChunkerParams


class Chunker:
    """Cuts byte streams into chunks; one instance per thread (pyfastcdc is not thread-safe)."""

    def __init__(self, params: ChunkerParams) -> None:
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

    def cut_stream(self, stream: BinaryIO) -> Iterator[memoryview]:
        """Yield the chunks of a stream; each memoryview is valid only until the next one."""
        for chunk in self._cdc.cut_stream(stream):
            yield chunk.data
