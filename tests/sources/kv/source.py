"""A key-value folder as a source: each file's name a key, its bytes the value (one chunk).
Its section maps each key to the value's chunk id (spec/sources.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapstore.base.reporting import Reporter
from snapstore.sources.base import Ref
from snapstore.sources.registry import SourcePlan
from snapstore.store.chunkstore import ChunkStore


@dataclass(frozen=True)
class KeyValueSource:
    folder: Path
    name: str = "kv"

    def _live(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.folder.iterdir())}

    def capture(self, store: ChunkStore, reporter: Reporter) -> Any | None:
        return {k: store.add(v)[0] for k, v in self._live().items()}

    def plan(self, section: dict[str, bytes], store: ChunkStore) -> SourcePlan:
        live = self._live()
        write = {k: c for k, c in section.items() if live.get(k) != store.read(c)}
        remove = sorted(live.keys() - section.keys())
        lines = [f"write {k}" for k in sorted(write)] + [f"remove {k}" for k in remove]
        return SourcePlan(self.name, tuple(lines or ["unchanged"]), (write, remove))

    def restore(self, plan: SourcePlan, store: ChunkStore, reporter: Reporter) -> str:
        write, remove = plan.detail
        for key, cid in write.items():
            (self.folder / key).write_bytes(store.read(cid))
        for key in remove:
            (self.folder / key).unlink()
        return f"  {self.name}: {len(write)} written, {len(remove)} removed"

    def references(
        self, section: dict[str, bytes], store: ChunkStore, snapshot: str
    ) -> Iterator[Ref]:
        return (Ref(cid, f"{self.name} key {k}") for k, cid in section.items())

    def diff(self, before: Any | None, after: Any | None, store: ChunkStore) -> list[str]:
        a, b = before or {}, after or {}
        return [
            f"{'+' if k not in a else '-' if k not in b else '~'} {k}"
            for k in sorted(a.keys() | b.keys())
            if a.get(k) != b.get(k)
        ]
