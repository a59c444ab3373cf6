"""Reading the catalog: list, show, names, a snapshot's files, and diff of two snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import FileEntry
from snapstore.ops import history
from snapstore.ops.records import SnapshotInfo
from snapstore.ops.repository import Repository
from snapstore.sources.files.capture import load_entries

if TYPE_CHECKING:
    from snapstore.inspection.diff import SnapshotDiff


def list_with_problems(repo: Repository) -> tuple[list[SnapshotInfo], list[str]]:
    """Every readable snapshot, newest first, and one line per damaged or missing one (and
    one if the repository has gone back in time since this client last read it)."""
    with repo.reading() as backend:
        listing = Catalog(backend).load_all()
        gone_back = history.look(repo, backend, listing).warning()
    problems = listing.problems + ([gone_back] if gone_back else [])
    return [SnapshotInfo.from_manifest(m) for m in listing.manifests], problems


def names(repo: Repository) -> list[str]:
    """The names of the snapshots, without reading their manifests (completion)."""
    with repo.reading() as backend:
        return sorted(Catalog(backend).names())


def get(repo: Repository, name: str) -> SnapshotInfo:
    """One snapshot by full name or unique prefix."""
    with repo.reading() as backend:
        return SnapshotInfo.from_manifest(repo.resolve(backend, name))


def files(repo: Repository, name: str) -> Iterator[tuple[str, FileEntry]]:
    """Every (root, entry) of a snapshot's bulk listing."""
    with repo.open() as opened:
        m = repo.resolve(opened.backend, name)
        for root in m.bulk or []:
            for entry in load_entries(opened.store, root, m.name):
                yield root.path, entry


def diff(repo: Repository, a: str, b: str) -> SnapshotDiff:
    """What changed from snapshot ``a`` to snapshot ``b`` (file data is never read)."""
    from snapstore.inspection.diff import diff_snapshots  # only this use case pays for it

    with repo.session("diff", exclusive=False) as opened:
        ma, mb = repo.resolve(opened.backend, a), repo.resolve(opened.backend, b)
        return diff_snapshots(opened.store, ma, mb)
