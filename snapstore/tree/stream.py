"""Sequential reads of open files, for a mount: each open file handle keeps a stream of its
content from where its last read ended.

FUSE asks for a file in pieces of at most 128 KiB, one request after the other. Answering each
with a random-access read would fetch one chunk per request at best; instead a handle's stream
is the content's ``pieces`` from the read's offset (tree/nodes.py: a bulk file's next chunks
fetched through the store's batched reader, 1, 2, 4 ... chunks at a time), so a file read from
start to end costs a few ranged reads and is verified on the store's workers. A read
elsewhere than where the stream stands (a seek) starts a new stream there. At most
``MAX_STREAMS`` streams are kept, the least recently used dropped first (its handle starts a
new stream at its next read), which bounds the memory read ahead whatever the number of files
open.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from snapstore.tree.nodes import Content

MAX_STREAMS = 8


class _Stream:
    """One handle's position in one file, and the pieces read ahead from there."""

    def __init__(self, content: Content, offset: int) -> None:
        self.content = content
        self.pos = offset
        self._pieces = content.pieces(offset)
        self._buf = memoryview(b"")

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            if not self._buf:
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._buf = memoryview(piece)
            take = self._buf[: size - len(out)]
            out += take
            self._buf = self._buf[len(take) :]
        self.pos += len(out)
        return bytes(out)

    def close(self) -> None:
        stop = getattr(self._pieces, "close", None)
        if stop is not None:
            stop()  # cancels the reads in flight


class Streams:
    """The streams of a mount's open file handles (module doc)."""

    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self._handles = itertools.count(1)
        self._streams: OrderedDict[int, _Stream] = OrderedDict()

    def new_handle(self) -> int:
        return next(self._handles)

    def read(self, fh: int, content: Content, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of ``content`` from ``offset``, for handle ``fh``."""
        stream = self._streams.get(fh)
        if stream is None or stream.content is not content or stream.pos != offset:
            self.close(fh)
            stream = self._streams[fh] = _Stream(content, offset)
            while len(self._streams) > self.limit:
                self._streams.popitem(last=False)[1].close()
        self._streams.move_to_end(fh)
        try:
            return stream.read(size)
        except BaseException:
            self.close(fh)  # the stream is dead: the next read starts again
            raise

    def close(self, fh: int) -> None:
        stream = self._streams.pop(fh, None)
        if stream is not None:
            stream.close()
