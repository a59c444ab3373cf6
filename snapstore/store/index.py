"""Index objects: which pack holds each chunk, written after the packs they describe.

An index object is msgpack ``{"version": 1, "packs": [[pack name, [[id, offset, length,
raw_length, method], ...]], ...], "supersedes": [index names]}`` named by the BLAKE3 hash of its
bytes. ``supersedes`` lets a rewrite (gc, rebuild) publish a complete new index before the old
objects are deleted: a reader that sees both ignores the superseded ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import blake3
import msgpack

from snapstore.errors import CorruptData
from snapstore.store.packs import PackEntry

INDEX_VERSION = 1


@dataclass
class IndexObject:
    """The decoded content of one index object."""

    packs: dict[str, list[PackEntry]] = field(default_factory=dict)
    supersedes: list[str] = field(default_factory=list)

    def encode(self) -> tuple[str, bytes]:
        doc = {
            "version": INDEX_VERSION,
            "packs": [[name, [e.as_list() for e in es]] for name, es in sorted(self.packs.items())],
            "supersedes": sorted(self.supersedes),
        }
        data = msgpack.packb(doc, use_bin_type=True)
        return blake3.blake3(data).hexdigest(), data

    @classmethod
    def decode(cls, data: bytes, name: str) -> IndexObject:
        try:
            doc = msgpack.unpackb(data, raw=False)
            version = doc["version"]
            if version > INDEX_VERSION:
                raise CorruptData(f"index {name} has version {version}; upgrade snapstore")
            packs = {
                str(p): [PackEntry(bytes(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
                for p, rows in doc["packs"]
            }
            return cls(packs, [str(s) for s in doc.get("supersedes", [])])
        except CorruptData:
            raise
        except Exception as e:
            raise CorruptData(f"index {name} is damaged ({e})") from None
