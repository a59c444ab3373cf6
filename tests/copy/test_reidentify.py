"""copy between repositories whose chunk ids differ (spec/copy.md, "Re-identification"): to
and from encrypted repositories (keyed ids, a chunker seed of their own), every chunk gets the
destination's id, file contents are cut with the destination's chunker, listings are rewritten,
and a second copy sends only what changed."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from snapstore.backend import Backend
from snapstore.config.settings import Settings
from snapstore.crypto.keys import KdfParams
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from snapstore.ops.repository import Repository
from snapstore.store.cache import IndexCache
from tests.copy.conftest import Pair
from tests.helpers import SMALL_CHUNKER

CHEAP_KDF = KdfParams(memory_kib=64, iterations=1, lanes=1)  # tests only: fast to unlock


def manager_at(path: Path, cache: Path) -> SnapshotManager:
    return SnapshotManager(
        Settings(repository=str(path), bulk=(), cache_dir=str(cache), auto_cleanup=False)
    )


def unlocked(path: Path) -> Backend:
    """The repository's backend, unlocked with the password sources of the environment."""
    return Repository(Settings(repository=str(path))).backend()


def chunk_ids(repo: Path, scratch: Path) -> set[bytes]:
    """Every chunk id the repository's index names."""
    cache = IndexCache(scratch / f"{repo.name}-{secrets.token_hex(4)}.sqlite")
    backend = unlocked(repo)
    try:
        cache.sync(backend)
        return {cid for cid, _ in cache.entries()}
    finally:
        cache.close()
        backend.close()


@pytest.fixture
def encrypted(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> Pair:
    """``pair`` whose destination is a new encrypted repository."""
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "offsite secret")
    pair.dest = pair.ws.root / "offsite"
    manager_at(pair.dest, pair.ws.cache).init_repository(encryption=True, kdf=CHEAP_KDF)
    return pair


def test_every_chunk_gets_the_destination_id(encrypted: Pair, tmp_path: Path) -> None:
    name = encrypted.snap("first")
    result = encrypted.source().copy(str(encrypted.dest))
    assert result.reidentified
    source_ids = chunk_ids(encrypted.ws.repo, tmp_path)
    dest_ids = chunk_ids(encrypted.dest, tmp_path)
    assert dest_ids and not source_ids & dest_ids
    backend = unlocked(encrypted.dest)
    try:
        copied = Catalog(backend).load(name)
    finally:
        backend.close()
    assert copied.bulk is not None and not set(copied.bulk[0].listing) & source_ids
    # Nothing of the files is readable in the destination's objects.
    known = (encrypted.ws.bulk / "data02.bin").read_bytes()[1000:1064]
    for path in encrypted.dest.rglob("*"):
        assert not path.is_file() or known not in path.read_bytes(), path
    dest = encrypted.destination()
    report = dest.check(read_data=True)  # every chunk verified against its keyed id
    assert report.ok, report.errors
    encrypted.restores_exactly(dest, name, tmp_path / "r")


def test_second_copy_sends_only_what_changed(encrypted: Pair, tmp_path: Path) -> None:
    encrypted.snap("first")
    first = encrypted.source().copy(str(encrypted.dest))
    assert first.bytes >= 8 * 128 * 1024
    (encrypted.ws.bulk / "data05.bin").write_bytes(secrets.token_bytes(40_000))
    second = encrypted.snap("second")
    again = encrypted.source().copy(str(encrypted.dest))
    sent = {s.name: s.bytes for s in again.snapshots if s.status == "copied"}
    # The changed file and the rewritten listing: the id map vouches for the rest.
    assert list(sent) == [second] and 40_000 <= sent[second] < 40_000 + 64 * 1024, sent
    dest = encrypted.destination()
    assert dest.check(read_data=True).ok
    encrypted.restores_exactly(dest, second, tmp_path / "r")


def test_lost_id_map_costs_reads_not_copies(encrypted: Pair) -> None:
    encrypted.snap("first")
    encrypted.source().copy(str(encrypted.dest))
    maps = list(encrypted.ws.cache.rglob("copy-from-*.sqlite*"))
    assert maps
    for path in maps:
        path.unlink()
    (encrypted.ws.bulk / "tiny.txt").write_text("tiny")
    encrypted.snap("second")
    again = encrypted.source().copy(str(encrypted.dest))
    # Every chunk is read and cut again, but only the new ones are stored.
    assert sum(s.bytes for s in again.snapshots) < 64 * 1024


def test_copy_back_into_a_plain_repository(encrypted: Pair, tmp_path: Path) -> None:
    name = encrypted.snap("first")
    encrypted.source().copy(str(encrypted.dest))
    home = manager_at(tmp_path / "home", encrypted.ws.cache)
    home.init_repository()
    result = home.copy(str(encrypted.dest), to=False)
    assert result.reidentified and [s.name for s in result.snapshots] == [name]
    # Back under plain ids and the default chunker: the very chunks the source had.
    assert chunk_ids(tmp_path / "home", tmp_path) == chunk_ids(encrypted.ws.repo, tmp_path)
    encrypted.restores_exactly(home, name, tmp_path / "r")


def test_between_two_encrypted_repositories_with_their_own_passwords(
    encrypted: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = encrypted.snap("first")
    encrypted.source().copy(str(encrypted.dest))
    second = tmp_path / "second-offsite"
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "another secret")
    manager_at(second, encrypted.ws.cache).init_repository(encryption=True, kdf=CHEAP_KDF)
    # The configured repository (the first offsite one) keeps SNAPSTORE_PASSWORD; the one
    # --to names takes SNAPSTORE_COPY_PASSWORD.
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "offsite secret")
    monkeypatch.setenv("SNAPSTORE_COPY_PASSWORD", "another secret")
    result = manager_at(encrypted.dest, encrypted.ws.cache).copy(str(second))
    assert result.reidentified and [s.status for s in result.snapshots] == ["copied"]
    monkeypatch.delenv("SNAPSTORE_COPY_PASSWORD")
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "another secret")
    there = manager_at(second, encrypted.ws.cache)
    assert there.check(read_data=True).ok
    encrypted.restores_exactly(there, name, tmp_path / "r")


def test_dry_run_into_the_encrypted_repository(encrypted: Pair) -> None:
    encrypted.snap("first")
    whole = encrypted.source().copy(str(encrypted.dest), dry_run=True)
    assert whole.snapshots[0].bytes >= 8 * 128 * 1024
    encrypted.source().copy(str(encrypted.dest))
    (encrypted.ws.bulk / "data06.bin").write_bytes(secrets.token_bytes(40_000))
    second = encrypted.snap("second")
    before = sorted(p.name for p in encrypted.dest.rglob("*") if p.is_file())
    plan = encrypted.source().copy(str(encrypted.dest), dry_run=True)
    assert sorted(p.name for p in encrypted.dest.rglob("*") if p.is_file()) == before
    todo = {s.name: s.bytes for s in plan.snapshots if s.status == "to copy"}
    # The changed file and (an upper bound) the listing: the id map vouches for the rest.
    assert list(todo) == [second] and 40_000 <= todo[second] < 40_000 + 64 * 1024, todo
    done = encrypted.source().copy(str(encrypted.dest))
    assert sum(s.bytes for s in done.snapshots) <= todo[second]


def file_cuts(repo: Path, manager: SnapshotManager, name: str, scratch: Path) -> list[list[int]]:
    """The chunk sizes of each file of the snapshot, in listing order."""
    cache = IndexCache(scratch / f"{repo.name}-{secrets.token_hex(4)}.sqlite")
    backend = unlocked(repo)
    try:
        cache.sync(backend)
        size = {cid: loc.raw_length for cid, loc in cache.entries()}
    finally:
        cache.close()
        backend.close()
    return [[size[c] for c in e.chunks] for _, e in manager.snapshot_files(name) if e.chunks]


def test_contents_are_cut_with_the_destination_chunker(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair.ws.manager().init_repository(SMALL_CHUNKER)  # many chunks per file on both sides
    name = pair.snap("first")
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "offsite secret")
    offsite = tmp_path / "offsite"
    manager_at(offsite, pair.ws.cache).init_repository(
        SMALL_CHUNKER, encryption=True, kdf=CHEAP_KDF
    )
    pair.source().copy(str(offsite))
    # The same files, other cut points: chunk sizes do not give the source's cuts away.
    there = manager_at(offsite, pair.ws.cache)
    ours = file_cuts(pair.ws.repo, pair.source(), name, tmp_path)
    theirs = file_cuts(offsite, there, name, tmp_path)
    assert sum(map(len, ours)) > 1000
    assert [sum(c) for c in ours] == [sum(c) for c in theirs]
    assert all(a != b for a, b in zip(ours, theirs, strict=True) if len(a) > 3)
    assert there.check(read_data=True).ok
    pair.restores_exactly(there, name, tmp_path / "r")
