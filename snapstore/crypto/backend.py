"""``EncryptedBackend``: an encrypted repository's objects, sealed and opened on the way.

Whole objects of the sealed kinds (index objects, manifests, archive indexes, locks are not
among them: spec/encryption.md, "What is hidden") are sealed with AES-256-GCM, the associated
data naming the repository, the kind and the object's name, so an object moved under another
name (two manifests swapped, an index object renamed) fails to open. Manifests are stored
under sealed names (``RepoCrypto.seal_name``) and listed by opening the names again. Packs and
archive data pass through: the chunk store seals each chunk in them (crypto/codec.py). Sizes
reported by ``stat`` and ``list`` are the plaintext sizes, as the layers above expect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from snapstore.backend import Backend, Kind, ObjectInfo
from snapstore.backend.base import check_name
from snapstore.base.errors import CorruptData, ObjectNotFound
from snapstore.crypto.codec import RepoCrypto

# Objects of these kinds are sealed whole. ARCHIVES: the index objects beside the archives,
# not the ``.tar.gz`` archives themselves (their chunks are sealed one by one).
_SEALED = frozenset({Kind.INDEX, Kind.SNAPSHOTS, Kind.ARCHIVES})
_PASS_SUFFIX = ".tar.gz"
# An object name in ``snapshots`` that no key of ours sealed is listed under this prefix
# (the space keeps it from ever being a snapshot name), so that reading it reports it.
FOREIGN = "unreadable-object "


class EncryptedBackend(Backend):
    """``inner`` (a local or S3 backend) seen through the repository's keys."""

    def __init__(self, inner: Backend, crypto: RepoCrypto, outer_config: dict[str, object]):
        self.inner = inner
        self.crypto = crypto
        self.location = inner.location
        self._outer = outer_config  # the plaintext fields of the stored config object

    def __repr__(self) -> str:
        return f"EncryptedBackend({self.location!r})"

    def _sealed(self, kind: Kind, name: str) -> bool:
        return kind in _SEALED and not (kind is Kind.ARCHIVES and name.endswith(_PASS_SUFFIX))

    def _object_name(self, kind: Kind, name: str) -> str:
        if kind is not Kind.SNAPSHOTS:
            return name
        if name.startswith(FOREIGN):
            return name[len(FOREIGN) :]
        check_name(name)
        return self.crypto.seal_name(kind.value, name)

    # -- the contract -------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.inner.exists()

    def create(self) -> None:
        self.inner.create()

    def spool_dir(self) -> str | None:
        return self.inner.spool_dir()

    def clean_tmp(self, older_than: float) -> int:
        return self.inner.clean_tmp(older_than)

    def close(self) -> None:
        self.inner.close()

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        if kind is Kind.CONFIG:
            data = self._outer_config(data)
        elif self._sealed(kind, name):
            data = self.crypto.seal_object(kind.value, name, data)
        self.inner.put(kind, self._object_name(kind, name), data, overwrite=overwrite)

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        if self._sealed(kind, name) or kind is Kind.CONFIG:
            super().put_file(kind, name, path, overwrite=overwrite)  # read, then put (sealed)
        else:
            self.inner.put_file(kind, name, path, overwrite=overwrite)

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if kind is Kind.CONFIG:
            data = self._inner_config(self.inner.get(kind, name))
        elif self._sealed(kind, name):
            sealed = self.inner.get(kind, self._object_name(kind, name))
            data = self.crypto.open_object(kind.value, name, sealed)
        else:
            return self.inner.get(kind, name, offset, length)
        if offset == 0 and length is None:
            return data
        piece = data[offset:] if length is None else data[offset : offset + length]
        if length is not None and len(piece) != length:
            raise ObjectNotFound(
                f"{kind.value}/{name} is shorter than expected "
                f"(wanted {length} bytes at {offset}, got {len(piece)})"
            )
        return piece

    def stat(self, kind: Kind, name: str) -> ObjectInfo:
        info = self.inner.stat(kind, self._object_name(kind, name))
        return self._plain_info(kind, name, info)

    def list(self, kind: Kind) -> Iterator[ObjectInfo]:
        for info in self.inner.list(kind):
            name = info.name
            if kind is Kind.SNAPSHOTS:
                opened = self.crypto.open_name(kind.value, info.name)
                name = opened if opened is not None else FOREIGN + info.name
            yield self._plain_info(kind, name, info)

    def delete(self, kind: Kind, name: str) -> None:
        self.inner.delete(kind, self._object_name(kind, name))

    # -- sizes and the config ---------------------------------------------------------------

    def _plain_info(self, kind: Kind, name: str, info: ObjectInfo) -> ObjectInfo:
        if not self._sealed(kind, name):
            return ObjectInfo(name, info.size, info.mtime)
        return ObjectInfo(name, max(0, info.size - self.crypto.overhead), info.mtime)

    def _outer_config(self, inner: bytes) -> bytes:
        doc = dict(self._outer)
        doc["sealed"] = self.crypto.seal_object("config", _config_ad_name(doc), inner).hex()
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    def _inner_config(self, stored: bytes) -> bytes:
        try:
            doc = json.loads(stored)
            sealed = bytes.fromhex(doc["sealed"])
            if (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode() != stored:
                raise ValueError("not in its canonical form")  # no byte of it is free
        except (ValueError, KeyError, TypeError):
            raise CorruptData(
                f"{self.location}: the config object's sealed part is damaged"
            ) from None
        return self.crypto.open_object("config", _config_ad_name(doc), sealed)


def _config_ad_name(doc: dict[str, object]) -> str:
    """The config's sealed part is bound to every plaintext field beside it (canonical JSON),
    so none of them can be changed unnoticed."""
    plain = {key: value for key, value in doc.items() if key != "sealed"}
    return "config\0" + json.dumps(plain, sort_keys=True, separators=(",", ":"))
