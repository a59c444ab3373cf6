"""A backend that forwards every call to another: the base of wrappers that change one thing.

``WriteOnce`` (create-only puts of content-named objects) and the tests' append-only and
counting wrappers override only what they change; everything else reaches the wrapped
backend unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

from snapstore.backend.base import Backend, Kind, ObjectInfo


class Delegating(Backend):
    """Forwards everything to ``inner`` (module doc)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.location = inner.location

    def exists(self) -> bool:
        return self.inner.exists()

    def create(self) -> None:
        self.inner.create()

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        self.inner.put(kind, name, data, overwrite=overwrite)

    def spool_dir(self) -> str | None:
        return self.inner.spool_dir()

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        self.inner.put_file(kind, name, path, overwrite=overwrite)

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.get(kind, name, offset, length)

    def stat(self, kind: Kind, name: str) -> ObjectInfo:
        return self.inner.stat(kind, name)

    def list(self, kind: Kind) -> Iterator[ObjectInfo]:
        return self.inner.list(kind)

    def delete(self, kind: Kind, name: str) -> None:
        self.inner.delete(kind, name)

    def clean_tmp(self, older_than: float) -> int:
        return self.inner.clean_tmp(older_than)

    def close(self) -> None:
        self.inner.close()
