"""What the chunk store seals itself: chunks and pack tables of contents (``ChunkCodec``).

A pack must stay readable by range (one chunk with one ranged get), so the backend wrapper
cannot seal a pack whole: each chunk is sealed on its own, after compression, with its id as
associated data, and so is the table of contents. ``PLAIN`` (an unencrypted repository) seals
nothing and returns its input unchanged; ``RepoCrypto`` is an unlocked encrypted
repository's, which also seals whole objects and snapshot object names for
``EncryptedBackend`` (spec/encryption.md, "Associated data", "Object names").
"""

from __future__ import annotations

import base64

from snapstore.crypto.aead import OVERHEAD, Aead
from snapstore.crypto.keys import MasterKey

# Snapshot names are padded to a multiple of this before their name is sealed, so an object
# name tells a name's length only to within NAME_PAD bytes.
NAME_PAD = 32
MAX_NAME = 128  # bytes of UTF-8: the sealed, encoded name must fit an object name


class ChunkCodec:
    """An unencrypted repository's codec: chunks and tables of contents stored as they are."""

    encrypted = False
    overhead = 0

    def seal_chunk(self, cid: bytes, stored: bytes | memoryview) -> bytes | memoryview:
        return stored

    def open_chunk(self, cid: bytes, sealed: bytes | memoryview, where: str) -> bytes | memoryview:
        return sealed

    def seal_toc(self, toc: bytes) -> bytes:
        return toc

    def open_toc(self, sealed: bytes, where: str) -> bytes:
        return sealed


PLAIN = ChunkCodec()


class RepoCrypto(ChunkCodec):
    """An unlocked encrypted repository: its derived keys and every sealing rule."""

    encrypted = True
    overhead = OVERHEAD

    def __init__(self, master: MasterKey, repo_id: str, key_id: str | None = None) -> None:
        self.master = master
        self.repo_id = repo_id
        self.key_id = key_id  # the key object that opened the repository
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV  # as in aead.py

        self._aead = Aead(master.derive("aead"))
        self._siv = AESSIV(master.derive("names", 64))
        self.id_key = master.derive("ids")
        self.chunker_seed = master.chunker_seed()

    def __repr__(self) -> str:  # never the keys
        return f"RepoCrypto(repository {self.repo_id})"

    # -- chunks and tables of contents (store layer) ----------------------------------------

    def seal_chunk(self, cid: bytes, stored: bytes | memoryview) -> bytes:
        return self._aead.seal(stored, b"snapstore\0chunk\0" + cid)

    def open_chunk(self, cid: bytes, sealed: bytes | memoryview, where: str) -> bytes:
        return self._aead.open(
            sealed, b"snapstore\0chunk\0" + cid, f"chunk {cid.hex()[:16]} in {where}"
        )

    def _toc_ad(self) -> bytes:
        return f"snapstore\0{self.repo_id}\0pack-toc".encode()

    def seal_toc(self, toc: bytes) -> bytes:
        return self._aead.seal(toc, self._toc_ad())

    def open_toc(self, sealed: bytes, where: str) -> bytes:
        return self._aead.open(sealed, self._toc_ad(), f"pack {where}: table of contents")

    # -- whole objects (EncryptedBackend) ---------------------------------------------------

    def object_ad(self, kind: str, name: str) -> bytes:
        return f"snapstore\0{self.repo_id}\0{kind}\0{name}".encode()

    def seal_object(self, kind: str, name: str, data: bytes) -> bytes:
        return self._aead.seal(data, self.object_ad(kind, name))

    def open_object(self, kind: str, name: str, sealed: bytes) -> bytes:
        return self._aead.open(sealed, self.object_ad(kind, name), f"{kind}/{name}")

    # -- snapshot object names --------------------------------------------------------------

    def seal_name(self, kind: str, name: str) -> str:
        """The object name that stands for ``name``: deterministic (the same name is always
        the same object, so create-only puts still settle races) and authenticated."""
        raw = name.encode("utf-8")
        if len(raw) > MAX_NAME:
            raise ValueError(f"name {name!r} is too long for an encrypted repository")
        padded = raw + b"\0" * (-len(raw) % NAME_PAD or (NAME_PAD if not raw else 0))
        sealed = self._siv.encrypt(padded, [self.object_ad(kind, "name")])
        return base64.b32encode(sealed).decode().rstrip("=").lower()

    def open_name(self, kind: str, object_name: str) -> str | None:
        """The name an object name stands for; None when it was not sealed by this key."""
        from cryptography.exceptions import InvalidTag

        text = object_name.upper()
        try:
            sealed = base64.b32decode(text + "=" * (-len(text) % 8))
            padded = self._siv.decrypt(sealed, [self.object_ad(kind, "name")])
            return padded.rstrip(b"\0").decode("utf-8")
        except (ValueError, InvalidTag, UnicodeDecodeError):
            return None
