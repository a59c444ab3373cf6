"""Index objects: which pack holds each chunk, written after the packs they describe.

An index object is msgpack ``{"version": 1, "packs": [[pack name, [[id, offset, length,
raw_length, method], ...]], ...], "supersedes": []}`` named by the BLAKE3 hash of its bytes.
The repository's index is the union of all index objects. A rewrite (gc, rebuild-index) puts
the complete new object first and deletes the old ones after, so the index is whole at every
moment. ``supersedes`` is reserved and written empty: because objects are named by content, a
later create could write an object identical to a "superseded" one, so readers ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import blake3
import msgpack

from snapstore.base.errors import CorruptData
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
