"""File downloads that let go of the repository as soon as the response ends, however it ends.

A download streams ``SnapshotManager.cat``, a generator that holds the repository's shared
lock while it is open. Starlette's ``StreamingResponse`` stops iterating when the client goes
away (a cancelled download, ``curl ... | head -c 1M``) but leaves the generator suspended
until it happens to be garbage-collected, which may be never on an idle server: until then
pin, delete, gc and cleanup are refused with "locked" (spec/locking.md). ``Download`` closes
the generator itself when the response is over: finished, failed or disconnected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

_END = object()


def _next(pieces: Iterator[bytes]) -> bytes | object:
    return next(pieces, _END)


def close(pieces: Iterator[bytes]) -> None:
    """Close a generator (its ``finally`` blocks and ``with`` exits run now); an iterator
    that is not one has nothing to close."""
    stop = getattr(pieces, "close", None)
    if stop is not None:
        stop()


class Download(StreamingResponse):
    """Streams ``first`` and then the rest of ``pieces``; closes ``pieces`` at the end."""

    def __init__(
        self,
        pieces: Iterator[bytes],
        first: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.pieces = pieces
        super().__init__(
            self._chunks(first), media_type="application/octet-stream", headers=headers
        )

    async def _chunks(self, first: bytes) -> AsyncIterator[bytes]:
        yield first
        while True:
            # Reading verifies chunks and may wait on the backend: off the event loop.
            piece = await anyio.to_thread.run_sync(_next, self.pieces)
            if piece is _END:
                return
            assert isinstance(piece, bytes)
            yield piece

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: when the request itself is being cancelled (a disconnect, the server
            # stopping) the lock must still be released. Closing runs the generator's
            # cleanup (removing the lock object), which is backend I/O: on a thread too.
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await anyio.to_thread.run_sync(close, self.pieces)
