"""Manifests and file listings survive encoding exactly; damaged ones are reported by name."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapstore.backend.local import LocalBackend
from snapstore.base.errors import CorruptData, RepositoryError
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import DIR, FILE, SYMLINK, FileEntry, load_listing, store_listing
from snapstore.manifest.schema import METADATA_KEYS, BulkRoot, Manifest
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import RepoConfig, write_config
from tests.helpers import SMALL_CHUNKER

ints = st.integers(min_value=0, max_value=2**63 - 1)
text = st.text(max_size=40)
opt_text = st.none() | text
chunk_ids = st.binary(min_size=32, max_size=32)
# The database section is free-form msgpack written by the ArangoDB source.
json_like = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False) | text | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
bulk_roots = st.builds(
    BulkRoot,
    path=text,
    label=text,
    listing=st.lists(chunk_ids, max_size=4),
    files=ints,
    dirs=ints,
    symlinks=ints,
    bytes=ints,
)
manifests = st.builds(
    Manifest,
    name=st.text(min_size=1, max_size=60),
    created=st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()),
    timestamp=text,
    description=text,
    kind=st.sampled_from(["regular", "safety"]),
    permanent=st.booleans(),
    git_commit=opt_text,
    git_branch=opt_text,
    git_dirty=st.none() | st.booleans(),
    collections=st.dictionaries(text, ints, max_size=5),
    bulk_store_size_mb=st.floats(min_value=0, max_value=1e9),
    database_size_mb=st.floats(min_value=0, max_value=1e9),
    compression=st.none() | st.just("tar.gz"),
    hostname=text,
    username=text,
    partial=st.booleans(),
    warnings=st.lists(text, max_size=3),
    bulk=st.none() | st.lists(bulk_roots, max_size=3),
    database=st.none() | st.dictionaries(text, json_like, max_size=4),
    stats=st.dictionaries(text, ints, max_size=4),
    safety_for=opt_text,
    previous=st.lists(st.text(min_size=1, max_size=60), max_size=3),
)


@given(manifests)
def test_manifest_round_trip(m: Manifest) -> None:
    back = Manifest.decode(m.encode(), m.name)
    assert back == m
    assert back.encode() == m.encode()
    assert list(back.metadata())[: len(METADATA_KEYS)] == list(METADATA_KEYS)


def test_manifest_decode_rejects_damage_and_newer_versions() -> None:
    m = Manifest(
        name="metis_1", created="2025-01-01T00:00:00+00:00", timestamp="t", description="d"
    )
    data = m.encode()
    with pytest.raises(CorruptData, match="snapshot metis_1: manifest is damaged"):
        Manifest.decode(data[: len(data) // 2], "metis_1")
    with pytest.raises(CorruptData, match="metis_1"):
        Manifest.decode(msgpack.packb([1, 2, 3]), "metis_1")
    newer = msgpack.unpackb(data)
    newer["version"] = 99
    with pytest.raises(RepositoryError, match="upgrade snapstore"):
        Manifest.decode(msgpack.packb(newer), "metis_1")
    with pytest.raises(CorruptData, match="names itself"):
        Manifest.decode(data, "metis_2")


path_bytes = st.binary(min_size=1, max_size=30).filter(lambda p: b"\x00" not in p)
# Listing paths: what a capture writes (decoding refuses ".", "..", empty parts, NUL bytes).
component = st.binary(min_size=1, max_size=10).filter(
    lambda c: b"/" not in c and b"\x00" not in c and c not in (b".", b"..")
)
listing_paths = st.lists(component, min_size=1, max_size=3).map(b"/".join)
owner = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(st.integers(0, 2**32 - 2), st.integers(0, 2**32 - 2)),  # 2**32 - 1 is "none"
)


@st.composite
def file_entries(draw: st.DrawFn) -> FileEntry:
    kind = draw(st.sampled_from([FILE, DIR, SYMLINK]))
    uid, gid = draw(owner)
    return FileEntry(
        path=draw(listing_paths | st.just(b"")),
        type=kind,
        mode=draw(st.integers(0, 0o7777)),
        mtime_ns=draw(st.integers(-(2**62), 2**62)),
        size=draw(ints) if kind == FILE else 0,
        uid=uid,
        gid=gid,
        user=draw(st.none() | text),
        group=draw(st.none() | text),
        target=draw(path_bytes) if kind == SYMLINK else None,
        chunks=tuple(draw(st.lists(chunk_ids, max_size=5))) if kind == FILE else (),
        inode=draw(ints),
        ctime_ns=draw(ints),
    )


@given(entries=st.lists(file_entries(), max_size=200))
def test_listing_round_trip_through_a_chunk_store(
    tmp_path_factory: pytest.TempPathFactory, entries: list[FileEntry]
) -> None:
    base = tmp_path_factory.mktemp("listing")
    backend = LocalBackend(base / "repo")
    write_config(backend, RepoConfig(chunker=SMALL_CHUNKER))
    store = ChunkStore.open(backend, str(base / "cache"))
    ids = store_listing(store, entries)
    store.flush()
    store.close()
    fresh = ChunkStore.open(backend, str(base / "cache2"))
    assert list(load_listing(fresh, ids, "test")) == entries
    fresh.close()


def test_unchanged_listing_parts_deduplicate(tmp_path: Path) -> None:
    """A change to one entry of a big listing re-stores a few listing chunks, not all."""
    backend = LocalBackend(tmp_path / "repo")
    write_config(backend, RepoConfig(chunker=SMALL_CHUNKER))
    store = ChunkStore.open(backend, str(tmp_path / "cache"))
    entries = [
        FileEntry(path=b"dir/file%05d" % i, type=FILE, mode=0o644, mtime_ns=i, size=i)
        for i in range(3000)
    ]
    first = store_listing(store, entries)
    entries[1500] = FileEntry(path=b"dir/file01500", type=FILE, mode=0o600, mtime_ns=7, size=9)
    second = store_listing(store, entries)
    assert len(first) > 20
    assert len(set(second) - set(first)) <= 4
    store.close()


def test_damaged_manifest_is_listed_as_a_problem(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "repo")
    write_config(backend, RepoConfig())
    catalog = Catalog(backend)
    good = Manifest(
        name="metis_a", created="2025-01-02T00:00:00+00:00", timestamp="t", description="good"
    )
    older = Manifest(
        name="metis_b", created="2025-01-01T00:00:00+00:00", timestamp="t", description="older"
    )
    assert catalog.publish(good) and catalog.publish(older)
    assert not catalog.publish(good), "publish is create-only"
    (tmp_path / "repo" / "snapshots" / "metis_c").write_bytes(b"\xc1\xc1 not msgpack")
    listing = catalog.load_all()
    assert [m.name for m in listing.manifests] == ["metis_a", "metis_b"]
    assert len(listing.problems) == 1 and "metis_c" in listing.problems[0]
