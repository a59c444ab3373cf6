"""Revision digests: an order-independent sum over a key range's ``(_key, _rev)`` pairs.

ArangoDB gives every write a new ``_rev`` (and a restore with ``isRestore`` keeps the given
one), so a range of keys whose pairs are the same holds the same documents. Each node entry
of a document tree carries the digest of the pairs below its child (spec/database.md,
*Revision digests*), so a snapshot recognises an unchanged leaf from the key listing alone.
The digest is a sum, so a node's digest is the sum of its entries' digests.
"""

from __future__ import annotations

import blake3

from snapstore.sources.arangodb.doctree import DIGEST_SIZE

MASK = (1 << (8 * DIGEST_SIZE)) - 1
_blake3 = blake3.blake3


def pair_hash(key: bytes, rev: str) -> int:
    """``int_le(BLAKE3(u32le(len(key)) ‖ key ‖ utf8(rev))[:16])``."""
    return int.from_bytes(
        _blake3(len(key).to_bytes(4, "little") + key + rev.encode("utf-8")).digest(DIGEST_SIZE),
        "little",
    )


def to_bytes(total: int) -> bytes:
    return (total & MASK).to_bytes(DIGEST_SIZE, "little")


def from_bytes(digest: bytes) -> int:
    return int.from_bytes(digest, "little")
