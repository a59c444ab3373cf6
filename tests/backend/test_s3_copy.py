"""copy to and from an S3 repository on a real SeaweedFS server (spec/copy.md), and how a
refused delete is reported (spec/backends.md, "Append-only storage")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from snapstore.backend import Kind
from snapstore.backend.s3 import S3Backend
from snapstore.base.errors import DeleteRefused
from tests.backend.conftest import READER_KEY, READER_SECRET, SeaweedS3
from tests.helpers import Workspace, tree_state

pytestmark = pytest.mark.s3


@pytest.fixture
def url(seaweedfs: SeaweedS3, s3_env: SeaweedS3, request: pytest.FixtureRequest) -> str:
    bucket = seaweedfs.new_bucket_name()
    seaweedfs.client().create_bucket(Bucket=bucket)
    return f"s3://{bucket}/{request.node.name}-{time.time_ns()}"


def test_copy_to_s3_and_back(ws: Workspace, url: str, tmp_path: Path) -> None:
    (ws.bulk / "big.bin").write_bytes(b"".join(i.to_bytes(4, "little") for i in range(300_000)))
    local = ws.manager(auto_cleanup=False)
    name = local.create("first", include_db=False).snapshot.snapshot_name
    tree = tree_state(ws.bulk)
    ws.manager(repository=url).init_repository()
    first = local.copy(url)
    assert [s.status for s in first.snapshots] == ["copied"] and first.bytes > 1_000_000
    (ws.bulk / "small.txt").write_text("small")
    local.create("second", include_db=False)
    second = local.copy(url)
    assert sum(s.bytes for s in second.snapshots) < 20_000  # the new file and listing
    remote = ws.manager(repository=url, auto_cleanup=False)
    assert remote.check(read_data=True).ok
    home = ws.manager(repository=str(tmp_path / "home"), auto_cleanup=False)
    home.init_repository()
    back = home.copy(url, to=False, names=(name,))
    assert [s.status for s in back.snapshots] == ["copied"]
    home.restore_snapshot(name, confirm=True, target=str(tmp_path / "r"), safety_snapshot=False)
    assert tree_state(tmp_path / "r") == tree


def test_refused_delete_is_delete_refused(
    ws: Workspace, url: str, seaweedfs: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.manager(repository=url).init_repository()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER_SECRET)
    backend = S3Backend.from_url(url)
    try:
        assert backend.exists()  # it may read
        with pytest.raises(DeleteRefused, match=r"refused to delete config/config"):
            backend.delete(Kind.CONFIG, "config")
    finally:
        backend.close()
