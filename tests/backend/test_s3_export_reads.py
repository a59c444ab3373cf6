"""Export from an S3 repository reads the way restore does: one planned, batched read of the
whole tree (spec/browse.md, "Writing a tree out"), not one GET per chunk.

A real SeaweedFS server (tests/backend/conftest.py); the GETs are counted the way a user could,
by a counting wrapper around the S3 backend's ``get`` in this test only.
"""

from __future__ import annotations

import os
import random
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snapstore.backend import Kind
from snapstore.backend.s3 import S3Backend
from snapstore.manager import SnapshotManager
from tests.backend.conftest import SeaweedS3
from tests.helpers import Workspace, assert_same_tree, tree_state

pytestmark = pytest.mark.s3

SMALL_FILES = 600
MB = 1024 * 1024


@pytest.fixture
def gets(monkeypatch: pytest.MonkeyPatch) -> Counter[Kind]:
    """GET requests made to the S3 backend, by kind of object."""
    counts: Counter[Kind] = Counter()
    real = S3Backend.get

    def counting(self: S3Backend, kind: Kind, name: str, *args: Any, **kw: Any) -> bytes:
        counts[kind] += 1
        return real(self, kind, name, *args, **kw)

    monkeypatch.setattr(S3Backend, "get", counting)
    return counts


def _populate(bulk: Path) -> None:
    """Many small files in a few folders, and some big ones of several chunks each."""
    rng = random.Random(20)
    for i in range(SMALL_FILES):
        folder = bulk / f"runs/run-{i % 12:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"metrics-{i:04d}.json").write_bytes(rng.randbytes(rng.randint(200, 3000)))
    for i in range(3):
        (bulk / f"weights-{i}.bin").write_bytes(rng.randbytes(3 * MB + i))


@pytest.fixture
def s3_manager(ws: Workspace, bucket: str, s3_env: SeaweedS3) -> Iterator[SnapshotManager]:
    _populate(ws.bulk)
    url = f"s3://{bucket}/export-reads-{time.time_ns()}/repo"
    yield ws.manager(repository=url)


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedS3) -> str:
    name = seaweedfs.new_bucket_name()
    seaweedfs.client().create_bucket(Bucket=name)
    return name


def test_export_makes_as_few_gets_as_restore(
    ws: Workspace, s3_manager: SnapshotManager, gets: Counter[Kind], tmp_path: Path
) -> None:
    state = tree_state(ws.bulk)
    name = s3_manager.create("many small files", include_db=False).snapshot.snapshot_name
    files = sum(1 for _ in s3_manager.ls(name, recursive=True))
    assert files > SMALL_FILES

    gets.clear()
    s3_manager.restore_snapshot(
        name, confirm=True, target=str(tmp_path / "restored"), safety_snapshot=False
    )
    restore_gets = gets[Kind.PACKS]
    assert_same_tree(state, tree_state(tmp_path / "restored"), "restored from S3")

    gets.clear()
    s3_manager.export(name, str(tmp_path / "exported"))
    export_gets = gets[Kind.PACKS]
    exported = tmp_path / "exported" / "bulk_store" / ws.bulk.name
    assert_same_tree(state, tree_state(exported), "exported from S3")

    gets.clear()
    s3_manager.export(name, tar=str(tmp_path / "snap.tar"))
    tar_gets = gets[Kind.PACKS]
    with tarfile.open(tmp_path / "snap.tar") as tar:
        sizes = {m.name: m.size for m in tar.getmembers() if m.isfile()}
    member = f"{name}/bulk_store/{ws.bulk.name}/runs/run-00/metrics-0000.json"
    assert sizes[member] == os.path.getsize(ws.bulk / "runs/run-00/metrics-0000.json")

    # One GET per chunk would be more than SMALL_FILES; a planned read is restore's order.
    assert restore_gets < SMALL_FILES / 10, restore_gets
    assert export_gets <= 2 * restore_gets + 2, (export_gets, restore_gets)
    assert tar_gets <= 2 * restore_gets + 2, (tar_gets, restore_gets)
