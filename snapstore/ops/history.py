"""This client's memory of the catalog, for list, check and create (spec/manifest.md, "Going
back in time"; the file is described in spec/packs.md, "Catalog memory").

``look`` compares the catalog just read with the memory, stores the new memory, and returns
the problems; ``forget`` is called after this client deletes snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from snapstore.backend import Backend
from snapstore.manifest.catalog import Catalog, Listing
from snapstore.manifest.history import accept_hint, compare, summary
from snapstore.manifest.history import forget as forget_names
from snapstore.manifest.schema import Manifest
from snapstore.ops.repository import Repository
from snapstore.store.cache import catalog_memory_path, read_catalog_memory, write_catalog_memory
from snapstore.store.config import read_config


@dataclass
class Look:
    problems: list[str]
    memory_file: Path

    def warning(self) -> str | None:
        """One line for list and create, or None."""
        return summary(self.problems, str(self.memory_file)) if self.problems else None

    def hint(self) -> str:
        return accept_hint(str(self.memory_file))


def _path(repo: Repository, backend: Backend) -> Path:
    return catalog_memory_path(repo.settings.cache_dir, read_config(backend).id)


def look(
    repo: Repository, backend: Backend, listing: Listing, published: Manifest | None = None
) -> Look:
    """Compare ``listing`` (every manifest, just read) with this client's memory and remember
    it (with ``published``, the manifest this create has just added)."""
    path = _path(repo, backend)
    history = compare(read_catalog_memory(path), listing, datetime.now(UTC))
    if published is not None:
        history.memory.snapshots[published.name] = published.generation
        history.memory.generation = max(history.memory.generation, published.generation)
    write_catalog_memory(path, history.memory)
    return Look(history.problems, path)


def refresh(repo: Repository, backend: Backend) -> None:
    """After this client changed manifests (pin, unpin, archive, cleanup): remember the new
    generations. Problems found are not lost: the memory keeps them, the next list says them."""
    look(repo, backend, Catalog(backend).load_all())


def forget(repo: Repository, backend: Backend, names: list[str]) -> None:
    """This client deleted ``names``: stop remembering them."""
    path = _path(repo, backend)
    memory = read_catalog_memory(path)
    if memory is not None:
        write_catalog_memory(path, forget_names(memory, names))
