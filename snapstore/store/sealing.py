"""The open repository's chunk identity and chunk codec, as its backend decides them.

An unlocked encrypted repository's backend (crypto/backend.py) carries its keys: chunk ids
are keyed BLAKE3 and every chunk and table of contents is sealed (spec/encryption.md). Any
other backend is an unencrypted repository: plain BLAKE3 ids, nothing sealed.
"""

from __future__ import annotations

from snapstore.backend import Backend
from snapstore.crypto.backend import EncryptedBackend
from snapstore.crypto.codec import PLAIN, ChunkCodec
from snapstore.store.config import RepoConfig
from snapstore.store.ids import ChunkIdentity


def codec_of(backend: Backend) -> ChunkCodec:
    return backend.crypto if isinstance(backend, EncryptedBackend) else PLAIN


def identity_of(backend: Backend, config: RepoConfig) -> ChunkIdentity:
    """How the repository ``backend`` opens cuts and names chunks. An encrypted repository's
    chunker seed was derived from its key at ``init`` and lives in its sealed config."""
    if isinstance(backend, EncryptedBackend):
        return ChunkIdentity(config.chunker, key=backend.crypto.id_key)
    return ChunkIdentity.plain(config.chunker)
