"""Manifest format 2: every changed byte is detected; format 1 (no checksum) is still read.

spec/manifest.md, "Object format": a manifest object is a msgpack envelope holding the
manifest's own msgpack bytes and their BLAKE3 hash.
"""

from __future__ import annotations

from dataclasses import asdict

import msgpack
import pytest

from snapstore.base.errors import CorruptData, RepositoryError
from snapstore.manifest.schema import MANIFEST_VERSION, BulkRoot, Manifest

NAME = "metis_20250301_120000_before_phase_4"
# Every single-bit change and the all-bits change of each byte.
PATTERNS = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF)


def sample() -> Manifest:
    return Manifest(
        name=NAME,
        created="2025-03-01T11:00:00.123456+00:00",
        timestamp="2025-03-01T12:00:00",
        description="before phase 4",
        permanent=False,
        git_commit="a" * 40,
        git_branch="main",
        git_dirty=False,
        collections={"papers": 12, "authors": 3},
        bulk_store_size_mb=1.5,
        database_size_mb=0.1,
        hostname="lab-1",
        username="alice",
        bulk=[
            BulkRoot(
                path="/bulk-store/metis/experiments",
                label="experiments",
                listing=[bytes(range(32)), bytes(range(1, 33))],
                files=3,
                dirs=2,
                symlinks=1,
                bytes=40_000,
            )
        ],
        database={"collections": [{"name": "papers", "documents": [bytes(32)]}]},
        stats={"added_bytes": 123, "new_chunks": 4},
        previous=["metis_20250228_090000_baseline"],
    )


def v1_bytes(m: Manifest) -> bytes:
    """A manifest as snapstore wrote it before format 2: the bare map, no checksum."""
    d = asdict(m)
    d["version"] = 1
    d.pop("previous", None)
    return msgpack.packb(d, use_bin_type=True)


def test_every_changed_byte_of_a_manifest_is_detected() -> None:
    data = sample().encode()
    assert Manifest.decode(data, NAME) == sample()
    undetected = []
    for offset in range(len(data)):
        for pattern in PATTERNS:
            damaged = bytearray(data)
            damaged[offset] ^= pattern
            try:
                Manifest.decode(bytes(damaged), NAME)
            except (CorruptData, RepositoryError) as e:
                assert NAME in str(e) and "\n" not in str(e)
            else:
                undetected.append((offset, pattern))
    assert not undetected, f"{len(undetected)} undetected changes, first {undetected[:5]}"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"\xa9permanent\xc2", b"\xa9permanent\xc3"),  # permanent: false -> true
        (b"2025-03-01T11", b"2035-03-01T11"),  # the creation year (retention's clock)
        (b"/bulk-store/metis", b"/bulk-store/metiz"),  # where a plain restore writes
        (b"before phase 4", b"before phase 5"),  # the description
    ],
)
def test_edits_that_keep_msgpack_valid_are_detected(old: bytes, new: bytes) -> None:
    data = sample().encode()
    assert data.count(old) == 1
    with pytest.raises(CorruptData, match=f"snapshot {NAME}: manifest is damaged"):
        Manifest.decode(data.replace(old, new), NAME)


def test_truncated_or_padded_manifest_is_damaged() -> None:
    data = sample().encode()
    for bad in (data[:-1], data[: len(data) // 2], data + b"\x00", b""):
        with pytest.raises(CorruptData, match=NAME):
            Manifest.decode(bad, NAME)


def test_format_1_manifests_are_still_read_and_rewritten_as_format_2() -> None:
    old = sample()
    old.previous = []
    m = Manifest.decode(v1_bytes(old), NAME)
    assert m.version == 1 and not m.checksummed
    assert m.metadata() == old.metadata()
    upgraded = Manifest.decode(m.encode(), NAME)
    assert upgraded.version == MANIFEST_VERSION == 2 and upgraded.checksummed
    assert upgraded.metadata() == old.metadata()


def test_newer_format_is_refused_with_upgrade_hint() -> None:
    envelope = msgpack.unpackb(sample().encode())
    envelope["version"] = MANIFEST_VERSION + 1
    with pytest.raises(RepositoryError, match="upgrade snapstore"):
        Manifest.decode(msgpack.packb(envelope, use_bin_type=True), NAME)


def test_a_manifest_copied_under_another_name_is_refused() -> None:
    with pytest.raises(CorruptData, match="names itself"):
        Manifest.decode(sample().encode(), "metis_20250301_120000_other")
