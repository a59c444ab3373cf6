"""Rebuild the index from the packs' own tables of contents.

For a damaged or lost index object: every pack is asked for its TOC (two ranged reads: the
trailer, then the TOC), a new index object listing them all is published, and only then are the old
index objects deleted. A crash in between leaves old and new side by side (duplicate entries
that point into existing packs), never a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, ObjectNotFound
from snapstore.base.reporting import Reporter
from snapstore.store.index import IndexObject
from snapstore.store.packs import TRAILER_SIZE, PackEntry, parse_toc, toc_span
from snapstore.store.sealing import codec_of


@dataclass
class RebuildReport:
    packs: int = 0
    chunks: int = 0
    damaged: list[str] = field(default_factory=list)
    replaced: int = 0

    def as_dict(self) -> dict[str, object]:
        """``rebuild-index --json`` (spec/cli.md)."""
        return {
            "packs": self.packs,
            "chunks": self.chunks,
            "damaged": self.damaged,
            "replaced_index_objects": self.replaced,
        }


def read_toc(backend: Backend, name: str, size: int) -> list[PackEntry]:
    trailer = backend.get(Kind.PACKS, name, size - TRAILER_SIZE, TRAILER_SIZE)
    offset, length = toc_span(trailer, size, name[:16])
    return parse_toc(backend.get(Kind.PACKS, name, offset, length), name[:16], codec_of(backend))


def rebuild_index(backend: Backend, reporter: Reporter) -> RebuildReport:
    """Replace every index object by one built from the packs (caller holds the exclusive lock)."""
    report = RebuildReport()
    old = sorted(o.name for o in backend.list(Kind.INDEX))
    packs = list(backend.list(Kind.PACKS))
    obj = IndexObject()
    reporter.start("Reading pack tables of contents", len(packs))
    for info in packs:
        try:
            if info.size < TRAILER_SIZE:
                raise CorruptData(f"pack {info.name[:16]} is too short")
            entries = read_toc(backend, info.name, info.size)
        except (CorruptData, ObjectNotFound) as e:
            report.damaged.append(str(e))
            reporter.warn(f"{e}; its chunks are left out of the index")
            continue
        obj.packs[info.name] = entries
        report.packs += 1
        report.chunks += len(entries)
        reporter.advance(1)
    reporter.finish()
    name, data = obj.encode()
    backend.put(Kind.INDEX, name, data)
    for stale in old:
        if stale != name:
            backend.delete(Kind.INDEX, stale)
            report.replaced += 1
    return report
