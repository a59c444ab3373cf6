"""The sources a snapshot is made of, found in one place (spec/sources.md).

Every kind of data a snapshot holds is a source. The bulk files (``sources.files``) and the
database (``sources.arangodb``) have their own manifest fields and are reached through
``database_source`` and ``PARTS``; any further source keeps its whole state in one entry of
the manifest's ``sections`` (its ``name`` the key) and implements ``Source``: adding one
means writing its folder and adding it to ``section_sources``, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from snapstore.base.reporting import Reporter
from snapstore.config.settings import ArangoSettings
from snapstore.manifest.schema import Manifest
from snapstore.sources.base import Ref, SnapshotPart
from snapstore.sources.database import DatabaseSource
from snapstore.store.chunkstore import ChunkStore


@dataclass(frozen=True)
class SourcePlan:
    """What restoring one source's section would do: ``lines`` for the confirmation and
    ``--dry-run``, ``detail`` whatever the source needs to carry the plan out (the
    confirmed plan is what ``Source.restore`` runs: it does not plan again)."""

    source: str
    lines: tuple[str, ...]
    detail: Any = None


class Source(Protocol):
    """A source beside the files and the database (module doc). Sections are plain data
    (what msgpack encodes); chunks go through the store, like every other part."""

    @property
    def name(self) -> str:
        """The key of its section in ``Manifest.sections``, and its name in output."""
        ...

    def capture(self, store: ChunkStore, reporter: Reporter) -> Any | None:
        """Snapshot the live state: the section to publish, or None for nothing to take
        (not configured here). Chunks are written to ``store``; the create flushes them."""
        ...

    def plan(self, section: Any, store: ChunkStore) -> SourcePlan:
        """What restoring ``section`` would do to the live state; changes nothing."""
        ...

    def restore(self, plan: SourcePlan, store: ChunkStore, reporter: Reporter) -> str:
        """Carry out ``plan``; one line saying what was restored."""
        ...

    def references(self, section: Any, store: ChunkStore, snapshot: str) -> Iterator[Ref]:
        """Every chunk ``section`` needs (``SnapshotPart.references``)."""
        ...

    def diff(self, before: Any | None, after: Any | None, store: ChunkStore) -> list[str]:
        """One line per difference from ``before`` to ``after`` (None: not in that
        snapshot); no lines when they are equal."""
        ...


def section_sources() -> tuple[Source, ...]:
    """The sources that keep a section (module doc). None is built in yet."""
    return ()


def find(name: str) -> Source | None:
    """The section source named ``name`` (a snapshot may hold a section of a source this
    snapstore does not have: it is then kept, and left alone)."""
    return next((s for s in section_sources() if s.name == name), None)


def section_references(manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
    """Every chunk the sections of ``manifest`` need."""
    for name, section in sorted(manifest.sections.items()):
        source = find(name)
        if source is not None:
            yield from source.references(section, store, manifest.name)


class SectionsPart:
    """The sections as one ``SnapshotPart`` (``references.PARTS``)."""

    def references(self, manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
        return section_references(manifest, store)


def parts() -> tuple[SnapshotPart, ...]:
    """Every part of a snapshot, for references (check, gc, archives)."""
    from snapstore.sources.arangodb.doctree import DatabasePart
    from snapstore.sources.files.capture import BulkPart

    return (BulkPart(), DatabasePart(), SectionsPart())


def database_source(
    settings: ArangoSettings, reporter: Reporter, target_db: str | None = None
) -> DatabaseSource:
    """The database source; ``target_db`` names another database (restore --target-db).
    ImportError when its driver is missing."""
    from snapstore.sources.arangodb.source import ArangoSource

    return ArangoSource(settings, reporter, target_db)
