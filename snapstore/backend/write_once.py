"""Content-named objects written once: what lets create and copy run on append-only storage.

Packs and index objects are named by the BLAKE3 hash of their bytes, so a second put of the
same name carries the same bytes (a create or copy run again after a kill between a pack and
its index object writes the very same pack). A plain put would replace the object, which an
append-only store refuses (no delete or overwrite rights: spec/backends.md, "Append-only
storage"). ``WriteOnce`` makes those puts create-only: when the name exists and holds exactly
these bytes, the put is done; when it holds other bytes (a damaged copy), it is replaced as
before. Every other kind, and every other operation, goes to the wrapped backend unchanged.
"""

from __future__ import annotations

from typing import Any

from snapstore.backend.base import Backend, Kind
from snapstore.backend.delegating import Delegating
from snapstore.base.errors import ObjectExists, ObjectNotFound

CONTENT_NAMED = frozenset({Kind.PACKS, Kind.INDEX})


class WriteOnce(Delegating):
    """``backend`` with create-only puts of content-named objects (module doc)."""

    def __getattr__(self, name: str) -> Any:
        # Whatever else the wrapped backend offers (an encrypted one's chunk identity).
        return getattr(self.inner, name)

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        if not overwrite or kind not in CONTENT_NAMED:
            self.inner.put(kind, name, data, overwrite=overwrite)
            return
        try:
            self.inner.put(kind, name, data, overwrite=False)
        except ObjectExists:
            if not self._holds(kind, name, data):
                self.inner.put(kind, name, data, overwrite=True)

    def _holds(self, kind: Kind, name: str, data: bytes) -> bool:
        try:
            return self.inner.get(kind, name) == bytes(data)
        except ObjectNotFound:  # removed meanwhile (a gc of a pack no index names)
            return False

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        if kind in CONTENT_NAMED:
            Backend.put_file(self, kind, name, path, overwrite=overwrite)  # through ``put``
        else:
            self.inner.put_file(kind, name, path, overwrite=overwrite)
