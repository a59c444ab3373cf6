"""The backend contract (spec/backends.md), one suite run against every backend.

Each test runs three times: on a LocalBackend in tmp_path, on the same seen through an
encrypted repository's EncryptedBackend (spec/encryption.md: what it seals must keep the
contract), and on an S3Backend talking to a real SeaweedFS server (tests/backend/conftest.py).
Whatever the layers above rely on is here: whole
objects back, ranges, stat, listing (past one S3 page), idempotent delete, create-only puts that
settle races, ObjectNotFound for missing objects, any name ``check_name`` allows, big objects,
and ``exists``/``create`` of a repository location.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from snapstore.backend import Backend, Kind
from snapstore.backend.local import LocalBackend
from snapstore.backend.s3 import S3Backend
from snapstore.base.errors import ObjectExists, ObjectNotFound, RepositoryError
from snapstore.crypto.backend import EncryptedBackend
from snapstore.crypto.codec import RepoCrypto
from snapstore.crypto.keys import MasterKey
from snapstore.crypto.unlock import outer_config
from tests.backend.conftest import SeaweedS3

MB = 1024 * 1024


@dataclass
class Flavor:
    """Makes backends of one kind at fresh locations, and plants foreign files in them."""

    name: str
    fresh: Callable[[bool], Backend]  # argument: also a fresh bucket (S3)
    plant_foreign: Callable[[Backend], None]
    opened: list[Backend] = field(default_factory=list)
    # Longest snapshot name: an encrypted repository seals names into object names
    # (spec/encryption.md, "Object names"), which leaves room for 128 bytes.
    max_name: int = 255

    def new(self, *, new_bucket: bool = False) -> Backend:
        b = self.fresh(new_bucket)
        self.opened.append(b)
        return b


def _local(tmp_path: Path) -> Flavor:
    counter = iter(range(1_000_000))

    def fresh(_new_bucket: bool) -> Backend:
        return LocalBackend(tmp_path / f"repo{next(counter)}")

    def plant(b: Backend) -> None:
        assert isinstance(b, LocalBackend)
        b.root.mkdir(parents=True, exist_ok=True)
        (b.root / "notes.txt").write_text("not a repository")

    return Flavor("local", fresh, plant)


def _s3(server: SeaweedS3, shared_bucket: str) -> Flavor:
    counter = iter(range(1_000_000))

    def fresh(new_bucket: bool) -> Backend:
        bucket = server.new_bucket_name() if new_bucket else shared_bucket
        return S3Backend.from_url(f"s3://{bucket}/t{os.getpid()}-{time.time_ns()}-{next(counter)}")

    def plant(b: Backend) -> None:
        assert isinstance(b, S3Backend)
        server.client().put_object(Bucket=b.bucket, Key=f"{b.prefix}/notes.txt", Body=b"x")

    return Flavor("s3", fresh, plant)


@pytest.fixture(scope="session")
def shared_bucket(seaweedfs: SeaweedS3) -> str:
    """One bucket for most S3 contract tests (each test gets its own prefix in it)."""
    name = seaweedfs.new_bucket_name()
    seaweedfs.client().create_bucket(Bucket=name)
    return name


def _encrypted(tmp_path: Path) -> Flavor:
    """A local directory seen through an encrypted repository's keys (crypto/backend.py)."""
    counter = iter(range(1_000_000))
    crypto = RepoCrypto(MasterKey.new(), "0" * 32)

    def fresh(_new_bucket: bool) -> Backend:
        inner = LocalBackend(tmp_path / f"repo{next(counter)}")
        return EncryptedBackend(inner, crypto, outer_config("0" * 32, "2026-12-08T00:00:00"))

    def plant(b: Backend) -> None:
        assert isinstance(b, EncryptedBackend) and isinstance(b.inner, LocalBackend)
        b.inner.root.mkdir(parents=True, exist_ok=True)
        (b.inner.root / "notes.txt").write_text("not a repository")

    return Flavor("encrypted", fresh, plant, max_name=128)


@pytest.fixture(params=["local", "encrypted", pytest.param("s3", marks=pytest.mark.s3)])
def flavor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flavor]:
    if request.param == "local":
        f = _local(tmp_path)
    elif request.param == "encrypted":
        f = _encrypted(tmp_path)
    else:
        server = request.getfixturevalue("s3_env")
        f = _s3(server, request.getfixturevalue("shared_bucket"))
    yield f
    for b in f.opened:
        b.close()


@pytest.fixture
def backend(flavor: Flavor) -> Backend:
    """A created, empty repository location (no config object yet)."""
    b = flavor.new()
    b.create()
    return b


def names(backend: Backend, kind: Kind) -> list[str]:
    return sorted(o.name for o in backend.list(kind))


# -- put / get / stat ----------------------------------------------------------------------------


def test_put_get_stat(backend: Backend) -> None:
    data = os.urandom(5000)
    before = time.time()
    backend.put(Kind.INDEX, "a" * 64, data)
    assert backend.get(Kind.INDEX, "a" * 64) == data
    info = backend.stat(Kind.INDEX, "a" * 64)
    assert (info.name, info.size) == ("a" * 64, 5000)
    assert before - 5 <= info.mtime <= time.time() + 5  # S3 keeps whole seconds
    backend.put(Kind.SNAPSHOTS, "empty", b"")
    assert backend.get(Kind.SNAPSHOTS, "empty") == b""
    assert backend.stat(Kind.SNAPSHOTS, "empty").size == 0


def test_get_range(backend: Backend) -> None:
    data = bytes(range(256)) * 4
    backend.put(Kind.PACKS, "ab" * 32, data)
    assert backend.get(Kind.PACKS, "ab" * 32, 10, 20) == data[10:30]
    assert backend.get(Kind.PACKS, "ab" * 32, 0, 1) == data[:1]
    assert backend.get(Kind.PACKS, "ab" * 32, 1000) == data[1000:]
    assert backend.get(Kind.PACKS, "ab" * 32, 1014, 10) == data[-10:]
    assert backend.get(Kind.PACKS, "ab" * 32, len(data)) == b""
    assert backend.get(Kind.PACKS, "ab" * 32, 5, 0) == b""
    # A range past the end is a short object, which callers must hear about.
    with pytest.raises(ObjectNotFound, match="shorter than expected"):
        backend.get(Kind.PACKS, "ab" * 32, 1020, 10)
    with pytest.raises(ObjectNotFound, match="shorter than expected"):
        backend.get(Kind.PACKS, "ab" * 32, len(data) + 5, 1)


def test_missing_objects(backend: Backend) -> None:
    for kind in (Kind.PACKS, Kind.INDEX, Kind.SNAPSHOTS, Kind.LOCKS):
        with pytest.raises(ObjectNotFound):
            backend.get(kind, "cd" * 32)
        with pytest.raises(ObjectNotFound):
            backend.get(kind, "cd" * 32, 10, 5)
        with pytest.raises(ObjectNotFound):
            backend.stat(kind, "cd" * 32)
        with pytest.raises(ObjectNotFound):
            backend.get(kind, "cd" * 32, 0, 0)
        assert names(backend, kind) == []
    with pytest.raises(ObjectNotFound):
        backend.get(Kind.CONFIG, "config")
    assert names(backend, Kind.CONFIG) == []


def test_kinds_are_separate_namespaces(backend: Backend) -> None:
    packs = ["00" + "1" * 62, "ff" + "2" * 62, "0a" + "3" * 62]
    for p in packs:
        backend.put(Kind.PACKS, p, p.encode())
    backend.put(Kind.INDEX, packs[0], b"index")
    backend.put(Kind.SNAPSHOTS, "metis_20260101_000000_x", b"manifest")
    backend.put(Kind.CONFIG, "config", b"{}")
    assert names(backend, Kind.PACKS) == sorted(packs)
    assert names(backend, Kind.INDEX) == [packs[0]]
    assert names(backend, Kind.SNAPSHOTS) == ["metis_20260101_000000_x"]
    assert names(backend, Kind.CONFIG) == ["config"]
    assert names(backend, Kind.ARCHIVES) == names(backend, Kind.LOCKS) == []
    assert backend.get(Kind.PACKS, packs[0]) == packs[0].encode()
    assert backend.get(Kind.INDEX, packs[0]) == b"index"
    sizes = {o.name: o.size for o in backend.list(Kind.PACKS)}
    assert sizes == {p: 64 for p in packs}


# -- overwrite / create-only -----------------------------------------------------------------


def test_overwrite_replaces(backend: Backend) -> None:
    backend.put(Kind.SNAPSHOTS, "snap", b"one")
    backend.put(Kind.SNAPSHOTS, "snap", b"two, longer")
    assert backend.get(Kind.SNAPSHOTS, "snap") == b"two, longer"
    assert names(backend, Kind.SNAPSHOTS) == ["snap"]


def test_create_only_put_refuses_existing(backend: Backend) -> None:
    backend.put(Kind.SNAPSHOTS, "snap", b"first", overwrite=False)
    with pytest.raises(ObjectExists):
        backend.put(Kind.SNAPSHOTS, "snap", b"second", overwrite=False)
    assert backend.get(Kind.SNAPSHOTS, "snap") == b"first"
    backend.put(Kind.CONFIG, "config", b"{1}", overwrite=False)
    with pytest.raises(ObjectExists):
        backend.put(Kind.CONFIG, "config", b"{2}", overwrite=False)
    assert backend.get(Kind.CONFIG, "config") == b"{1}"


def _race(backend: Backend, name: str, writers: int) -> dict[int, str]:
    """``writers`` threads create-only-put ``name`` at the same moment; who won, who lost."""
    barrier = threading.Barrier(writers)
    outcome: dict[int, str] = {}

    def write(i: int) -> None:
        barrier.wait()
        try:
            backend.put(Kind.SNAPSHOTS, name, f"writer {i}".encode() * 1000, overwrite=False)
            outcome[i] = "won"
        except ObjectExists:
            outcome[i] = "lost"

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def test_create_only_put_has_one_winner_in_a_race(backend: Backend) -> None:
    """Publishing a manifest relies on this: many writers, one name, exactly one succeeds."""
    for name in ("race1", "race2"):
        outcome = _race(backend, name, writers=6)
        winners = [i for i, o in outcome.items() if o == "won"]
        assert len(outcome) == 6 and len(winners) == 1, outcome
        assert backend.get(Kind.SNAPSHOTS, name) == f"writer {winners[0]}".encode() * 1000


# -- delete ---------------------------------------------------------------------------------


def test_delete_is_idempotent(backend: Backend) -> None:
    backend.put(Kind.LOCKS, "s-host-1-abcd", b"{}")
    backend.put(Kind.LOCKS, "s-host-2-abcd", b"{}")
    backend.delete(Kind.LOCKS, "s-host-1-abcd")
    assert names(backend, Kind.LOCKS) == ["s-host-2-abcd"]
    with pytest.raises(ObjectNotFound):
        backend.get(Kind.LOCKS, "s-host-1-abcd")
    backend.delete(Kind.LOCKS, "s-host-1-abcd")  # again: not an error
    backend.delete(Kind.PACKS, "ee" * 32)  # never existed: not an error


# -- names ----------------------------------------------------------------------------------

ODD_NAMES = [
    "with space",
    "ünïcødé-名前-snapshot",
    "metis_20260101_000000_résumé_données",
    "plus+equals=amp&percent%20hash#question?",
    "quotes'\"<tag>|pipe:colon;semi,comma",
    "star*tilde~bang!at@dollar$caret^paren()brackets[]{}",
    "a..b",
    "trailing.",
    "-leading-dash",
    "tab\there",
    "x" * 255,
]


def test_names_with_odd_characters(flavor: Flavor, backend: Backend) -> None:
    odd = [n if len(n) < 200 else "x" * flavor.max_name for n in ODD_NAMES]
    for i, name in enumerate(odd):
        backend.put(Kind.SNAPSHOTS, name, f"{i}".encode(), overwrite=False)
    assert names(backend, Kind.SNAPSHOTS) == sorted(odd)
    for i, name in enumerate(odd):
        assert backend.get(Kind.SNAPSHOTS, name) == f"{i}".encode()
        assert backend.stat(Kind.SNAPSHOTS, name).size == len(f"{i}")
        backend.delete(Kind.SNAPSHOTS, name)
    assert names(backend, Kind.SNAPSHOTS) == []


@pytest.mark.parametrize("bad", ["", ".hidden", "a/b", "a\\b", "nul\x00", "..", "y" * 256])
def test_invalid_names_are_refused(backend: Backend, bad: str) -> None:
    with pytest.raises(ValueError):
        backend.put(Kind.SNAPSHOTS, bad, b"x")
    with pytest.raises(ValueError):
        backend.get(Kind.SNAPSHOTS, bad)


# -- size and count -------------------------------------------------------------------------


def test_large_object(backend: Backend) -> None:
    data = os.urandom(20 * MB)
    name = "9f" * 32
    backend.put(Kind.PACKS, name, data, overwrite=False)
    assert backend.stat(Kind.PACKS, name).size == 20 * MB
    assert [(o.name, o.size) for o in backend.list(Kind.PACKS)] == [(name, 20 * MB)]
    assert backend.get(Kind.PACKS, name) == data
    assert backend.get(Kind.PACKS, name, 15 * MB + 3, MB) == data[15 * MB + 3 : 16 * MB + 3]
    assert backend.get(Kind.PACKS, name, 20 * MB - 8) == data[-8:]


def test_listing_more_than_one_page(backend: Backend) -> None:
    """S3 returns at most 1000 keys per listing page: the backend must follow every page."""
    count = 1050
    wanted = {f"{i:02x}" + f"{i:062x}" for i in range(count)}  # spread over the pack fan-out
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: backend.put(Kind.PACKS, n, n[:8].encode()), wanted))
    listed = [o.name for o in backend.list(Kind.PACKS)]
    assert len(listed) == count
    assert set(listed) == wanted
    assert all(o.size == 8 for o in backend.list(Kind.PACKS))


# -- exists / create ------------------------------------------------------------------------


def test_exists_and_create(flavor: Flavor) -> None:
    b = flavor.new(new_bucket=True)  # S3: the bucket does not exist yet either
    assert not b.exists()
    b.create()
    assert not b.exists()  # created, but no config object: not a repository yet
    b.create()  # idempotent
    b.put(Kind.CONFIG, "config", b'{"format": "test"}', overwrite=False)
    assert b.exists()
    b.put(Kind.SNAPSHOTS, "kept", b"data")
    b.create()  # on an existing repository: harmless
    assert b.exists()
    assert b.get(Kind.SNAPSHOTS, "kept") == b"data"
    assert names(b, Kind.CONFIG) == ["config"]


def test_create_refuses_a_foreign_location(flavor: Flavor) -> None:
    b = flavor.new()
    flavor.plant_foreign(b)
    with pytest.raises(RepositoryError, match="not empty and not a snapstore repository"):
        b.create()
    assert not b.exists()
