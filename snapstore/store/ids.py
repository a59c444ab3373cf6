"""Chunk ids and chunk boundaries: how the repository names and cuts content.

A repository's ``ChunkIdentity`` (spec/repository.md, "Chunk identity") is the pair that
decides which chunks a byte stream becomes and what they are called: the FastCDC parameters
and the id function. Every place that cuts chunks or computes an id takes them from the open
store (``store.identity``), never from the config alone, because an encrypted repository
(spec/encryption.md) derives both from its master key: ids are BLAKE3 in keyed mode and the
chunker's gear seed comes from the key, so neither object names nor chunk sizes say anything
about known content. An unencrypted repository's identity is plain BLAKE3 with the config's
parameters, exactly the ids it always had.

Two repositories with equal identities give the same stream the same chunks and ids, so a
chunk can move between them as it is; otherwise it must be re-cut and re-identified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import blake3

from snapstore.store.config import ChunkerParams

ID_SIZE = 32
KEY_SIZE = 32


def chunk_id(data: bytes | memoryview) -> bytes:
    """The unkeyed id of ``data`` (an unencrypted repository's ids)."""
    return blake3.blake3(data).digest()


def short(cid: bytes) -> str:
    """A chunk id as 16 hex digits, for messages."""
    return cid.hex()[:16]


@dataclass(frozen=True)
class ChunkIdentity:
    """How a repository cuts and names chunks: chunker parameters and the id key (None:
    plain BLAKE3). The key is secret: it is left out of ``repr`` and never logged."""

    chunker: ChunkerParams
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.key is not None and len(self.key) != KEY_SIZE:
            raise ValueError("a chunk id key is 32 bytes")

    @classmethod
    def plain(cls, chunker: ChunkerParams) -> ChunkIdentity:
        return cls(chunker)

    def id(self, data: bytes | memoryview) -> bytes:
        """The id of a chunk's uncompressed bytes in this repository."""
        if self.key is None:
            return blake3.blake3(data).digest()
        return blake3.blake3(data, key=self.key).digest()
