"""Backends for the copy tests: real repositories seen through a wrapper (test equipment).

``AppendOnly`` refuses what storage without delete rights refuses: deleting or replacing
any object except lock objects (spec/backends.md, "Append-only storage"), raising the
contract's ``DeleteRefused``. Every refusal is recorded, so a test can show that create and
copy never asked for one.

``wrap_locations`` points the product's ``open_backend`` (as ``ops.repository`` calls it) at
these wrappers for chosen locations; everything else is opened as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from snapstore.backend import Backend, Kind, open_backend
from snapstore.backend.delegating import Delegating
from snapstore.base.errors import DeleteRefused, ObjectNotFound


class AppendOnly(Delegating):
    """No delete, no overwrite, except for lock objects (module doc)."""

    def __init__(self, inner: Backend, refusals: list[str]) -> None:
        super().__init__(inner)
        self.refusals = refusals

    def _refuse(self, what: str) -> None:
        self.refusals.append(what)
        raise DeleteRefused(f"{self.location} refused to {what} (append-only)")

    def _present(self, kind: Kind, name: str) -> bool:
        try:
            self.inner.stat(kind, name)
        except ObjectNotFound:
            return False
        return True

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        if overwrite and kind is not Kind.LOCKS and self._present(kind, name):
            self._refuse(f"replace {kind.value}/{name}")
        self.inner.put(kind, name, data, overwrite=overwrite)

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        if overwrite and kind is not Kind.LOCKS and self._present(kind, name):
            self._refuse(f"replace {kind.value}/{name}")
        self.inner.put_file(kind, name, path, overwrite=overwrite)

    def delete(self, kind: Kind, name: str) -> None:
        if kind is not Kind.LOCKS:
            self._refuse(f"delete {kind.value}/{name}")
        self.inner.delete(kind, name)


Wrapper = Callable[[Backend], Backend]


def wrap_locations(monkeypatch: pytest.MonkeyPatch, wrappers: dict[Path, Wrapper]) -> None:
    """Open the repositories at these locations through their wrapper."""
    where = {str(p): w for p, w in wrappers.items()}

    def opening(location: str, **kw: Any) -> Backend:
        backend = open_backend(location, **kw)
        wrap = where.get(location)
        return backend if wrap is None else wrap(backend)

    monkeypatch.setattr("snapstore.ops.repository.open_backend", opening)
