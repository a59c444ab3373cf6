"""The catalog: manifests stored as ``snapshots/<name>`` objects in the backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from snapstore.backend import Backend, Kind
from snapstore.errors import CorruptData, ObjectExists, ObjectNotFound, RepositoryError
from snapstore.manifest.schema import Manifest


@dataclass
class Listing:
    """Every manifest that could be read, and a line for each one that could not."""

    manifests: list[Manifest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Catalog:
    """Publish, read, rewrite and delete manifests."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def names(self) -> list[str]:
        return sorted(o.name for o in self.backend.list(Kind.SNAPSHOTS))

    def load(self, name: str) -> Manifest:
        try:
            data = self.backend.get(Kind.SNAPSHOTS, name)
        except ObjectNotFound:
            raise CorruptData(f"snapshot {name}: manifest disappeared") from None
        return Manifest.decode(data, name)

    def load_all(self) -> Listing:
        """All manifests, newest first; unreadable ones are reported, not fatal."""
        out = Listing()
        for name in self.names():
            try:
                out.manifests.append(self.load(name))
            except (CorruptData, RepositoryError) as e:
                out.problems.append(str(e))
        out.manifests.sort(key=lambda m: (m.created, m.name), reverse=True)
        return out

    def publish(self, manifest: Manifest) -> bool:
        """Create-only publish; False when the name is taken (the caller picks another)."""
        try:
            self.backend.put(Kind.SNAPSHOTS, manifest.name, manifest.encode(), overwrite=False)
        except ObjectExists:
            return False
        return True

    def replace(self, manifest: Manifest) -> None:
        """Atomically rewrite an existing manifest (pin, unpin, compression state)."""
        self.backend.put(Kind.SNAPSHOTS, manifest.name, manifest.encode(), overwrite=True)

    def delete(self, name: str) -> None:
        self.backend.delete(Kind.SNAPSHOTS, name)
