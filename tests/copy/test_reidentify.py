"""copy between repositories whose chunk ids differ (spec/copy.md, "Re-identification"):
every chunk gets the destination's id, file contents are cut with the destination's chunker,
listings and document trees are rewritten, and a second copy sends only what changed."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.manifest.catalog import Catalog
from snapstore.store.cache import IndexCache
from tests.copy.conftest import Pair
from tests.copy.wrappers import KeyedIds, wrap_locations
from tests.helpers import Workspace


def chunk_ids(repo: Path, ws: Workspace) -> set[bytes]:
    """Every chunk id the repository's index names."""
    cache = IndexCache(ws.root / "idx" / f"{repo.name}.sqlite")
    try:
        cache.sync(LocalBackend(repo))
        return {cid for cid, _ in cache.entries()}
    finally:
        cache.close()


@pytest.fixture
def keyed(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> Pair:
    """``pair`` whose destination names chunks with a key of its own."""
    key = secrets.token_bytes(32)
    wrap_locations(monkeypatch, {pair.dest: lambda b: KeyedIds(b, key)})
    return pair


def test_every_chunk_gets_the_destination_id(keyed: Pair, tmp_path: Path) -> None:
    name = keyed.snap("first")
    result = keyed.source().copy(str(keyed.dest))
    assert result.reidentified
    source_ids = chunk_ids(keyed.ws.repo, keyed.ws)
    dest_ids = chunk_ids(keyed.dest, keyed.ws)
    assert dest_ids and not source_ids & dest_ids
    copied = Catalog(LocalBackend(keyed.dest)).load(name)
    assert copied.bulk is not None and not set(copied.bulk[0].listing) & source_ids
    dest = keyed.destination()
    report = dest.check(read_data=True)  # every chunk verified against its keyed id
    assert report.ok, report.errors
    keyed.restores_exactly(dest, name, tmp_path / "r")


def test_second_copy_sends_only_what_changed(keyed: Pair, tmp_path: Path) -> None:
    keyed.snap("first")
    first = keyed.source().copy(str(keyed.dest))
    assert first.bytes >= 8 * 128 * 1024
    (keyed.ws.bulk / "data05.bin").write_bytes(secrets.token_bytes(40_000))
    second = keyed.snap("second")
    again = keyed.source().copy(str(keyed.dest))
    sent = {s.name: s.bytes for s in again.snapshots if s.status == "copied"}
    # The changed file and the rewritten listing: the id map vouches for the rest.
    assert list(sent) == [second] and 40_000 <= sent[second] < 40_000 + 64 * 1024, sent
    dest = keyed.destination()
    assert dest.check(read_data=True).ok
    keyed.restores_exactly(dest, second, tmp_path / "r")


def test_lost_id_map_costs_reads_not_copies(keyed: Pair) -> None:
    keyed.snap("first")
    keyed.source().copy(str(keyed.dest))
    for path in keyed.ws.cache.rglob("copy-from-*.sqlite*"):
        path.unlink()
    (keyed.ws.bulk / "tiny.txt").write_text("tiny")
    keyed.snap("second")
    again = keyed.source().copy(str(keyed.dest))
    # Every chunk is read and cut again, but only the new ones are stored.
    assert sum(s.bytes for s in again.snapshots) < 64 * 1024


def test_copy_back_from_the_keyed_repository(keyed: Pair, tmp_path: Path) -> None:
    name = keyed.snap("first")
    keyed.source().copy(str(keyed.dest))
    back = tmp_path / "back"
    from snapstore.manager import SnapshotManager
    from snapstore.settings import Settings

    home = SnapshotManager(
        Settings(repository=str(back), bulk=(), cache_dir=str(keyed.ws.cache), auto_cleanup=False)
    )
    home.init_repository()
    result = home.copy(str(keyed.dest), to=False)
    assert result.reidentified and [s.name for s in result.snapshots] == [name]
    # Back under plain ids: the very chunks the source had (same default chunker).
    assert chunk_ids(back, keyed.ws) == chunk_ids(keyed.ws.repo, keyed.ws)
    keyed.restores_exactly(home, name, tmp_path / "r")
