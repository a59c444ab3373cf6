"""snapstore end to end on an S3 repository (a real SeaweedFS server, tests/backend/conftest.py).

The same SnapshotManager and CLI as on a local directory, with ``repository="s3://bucket/repo"``:
create, list, restore and compare, ``check --read-data``, delete, locks, and the one-line
errors a user gets for wrong credentials, a missing bucket or an unreachable endpoint.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from snapstore.backend import Kind
from snapstore.backend.s3 import S3Backend
from snapstore.base.errors import LockHeld
from snapstore.manager import SnapshotManager
from snapstore.store.locking import RepositoryLock
from tests.backend.conftest import SeaweedS3, refused_port
from tests.helpers import Workspace, assert_same_tree, created_name, error_line, tree_state

pytestmark = pytest.mark.s3

MB = 1024 * 1024
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedS3) -> str:
    """One bucket for this module; each test works under its own prefix in it."""
    name = seaweedfs.new_bucket_name()
    seaweedfs.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def url(bucket: str, s3_env: SeaweedS3, request: pytest.FixtureRequest) -> str:
    return f"s3://{bucket}/{request.node.name}-{time.time_ns()}/repo"


@pytest.fixture
def manager(ws: Workspace, url: str) -> SnapshotManager:
    # A file big enough to span several chunks, so dedup and range reads are exercised.
    (ws.bulk / "data" / "big.bin").write_bytes(os.urandom(3 * MB))
    return ws.manager(repository=url)


def bucket_keys(server: SeaweedS3, url: str) -> list[str]:
    bucket, _, prefix = url[len("s3://") :].partition("/")
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="")
    keys = [o["Key"] for page in pages for o in page.get("Contents", ())]
    return sorted(k[len(prefix) + 1 :] for k in keys if k.startswith(prefix + "/"))


def test_snapshot_lifecycle_on_s3(
    ws: Workspace, manager: SnapshotManager, url: str, s3_env: SeaweedS3
) -> None:
    first_state = tree_state(ws.bulk)
    first = manager.create("first state")
    assert first.initialized
    (ws.bulk / "notes.txt").write_text("changed by the run\n")
    (ws.bulk / "data" / "results.csv").write_text("a,b\n1,2\n")
    os.unlink(ws.bulk / "data" / "empty.txt")
    second_state = tree_state(ws.bulk)
    second = manager.create("second state")
    # The 3 MB file did not change: the second snapshot stores (almost) nothing new.
    assert second.added_bytes < 100_000, second.added_bytes
    names = [s.snapshot_name for s in manager.list_snapshots()]
    assert names == [second.snapshot.snapshot_name, first.snapshot.snapshot_name]

    target = ws.root / "restored-first"
    manager.restore_snapshot(
        first.snapshot.snapshot_name, confirm=True, target=str(target), safety_snapshot=False
    )
    assert_same_tree(first_state, tree_state(target), "first snapshot restored from S3")

    report = manager.check(read_data=True)
    assert report.ok, report.errors
    assert report.snapshots == 2 and report.bytes_read >= 3 * MB

    manager.delete_snapshot(first.snapshot.snapshot_name)
    assert [s.snapshot_name for s in manager.list_snapshots()] == [second.snapshot.snapshot_name]
    target = ws.root / "restored-second"
    manager.restore_snapshot(
        second.snapshot.snapshot_name, confirm=True, target=str(target), safety_snapshot=False
    )
    assert_same_tree(second_state, tree_state(target), "second snapshot restored from S3")
    assert manager.check(read_data=True).ok

    # The bucket holds the documented key layout (spec/backends.md) and no leftover locks.
    keys = bucket_keys(s3_env, url)
    assert "config" in keys
    kinds = {k.split("/")[0] for k in keys}
    assert kinds <= {"config", "packs", "index", "snapshots"}, kinds
    packs = [k.split("/") for k in keys if k.startswith("packs/")]
    assert packs and all(len(p) == 3 and p[1] == p[2][:2] and HEX64.match(p[2]) for p in packs)
    assert all(HEX64.match(k.split("/")[1]) for k in keys if k.startswith("index/"))
    assert [k for k in keys if k.startswith("snapshots/")] == [
        f"snapshots/{second.snapshot.snapshot_name}"
    ]


def test_cli_on_a_new_bucket(ws: Workspace, s3_env: SeaweedS3) -> None:
    """`init` creates the bucket; the everyday commands work on it as on a directory."""
    url = f"s3://{s3_env.new_bucket_name()}/team/snapshots"
    r = ws.invoke("--repo", url, "init")
    assert r.exit_code == 0, r.stderr
    assert f"Repository created at {url}" in r.stdout
    r = ws.invoke("--repo", url, "-q", "create", "baseline run")
    assert r.exit_code == 0, r.stderr
    name = created_name(r.stdout)
    r = ws.invoke("--repo", url, "list")
    assert r.exit_code == 0 and name in r.stdout, r.output
    r = ws.invoke("--repo", url, "check", "--read-data")
    assert r.exit_code == 0 and "Repository is healthy" in r.stdout, r.output
    target = ws.root / "from-cli"
    r = ws.invoke(
        "--repo", url, "-q", "restore", name, "-y", "--target", str(target), "--no-safety-snapshot"
    )
    assert r.exit_code == 0, r.stderr
    assert_same_tree(tree_state(ws.bulk), tree_state(target))
    r = ws.invoke("--repo", url, "delete", name, "-y")
    assert r.exit_code == 0, r.stderr
    r = ws.invoke("--repo", url, "init")
    assert r.exit_code == 1
    error_line(r.stderr, "already a snapstore repository")


def test_locks_on_s3(ws: Workspace, manager: SnapshotManager, url: str) -> None:
    name = manager.create("locked later").snapshot.snapshot_name
    backend = S3Backend.from_url(url)
    try:
        with RepositoryLock.acquire(backend, "restore", exclusive=False):
            # Shared locks coexist: another reader, and check, get in.
            with RepositoryLock.acquire(backend, "create", exclusive=False):
                assert manager.check().ok
            # An exclusive operation does not.
            with pytest.raises(LockHeld, match="locked by"):
                manager.delete_snapshot(name)
            r = ws.invoke("--repo", url, "delete", name, "-y")
            assert r.exit_code == 75, r.output
            error_line(r.stderr, "repository is locked")
        with RepositoryLock.acquire(backend, "gc", exclusive=True):
            with pytest.raises(LockHeld):
                manager.create("while gc runs")
            with pytest.raises(LockHeld):
                RepositoryLock.acquire(backend, "restore", exclusive=False)
        assert list(backend.list(Kind.LOCKS)) == []
    finally:
        backend.close()
    manager.delete_snapshot(name)
    assert manager.list_snapshots() == []


def test_bad_credentials_give_one_clear_line(ws: Workspace, url: str) -> None:
    ws.manager(repository=url).init_repository()
    for env in ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, {"AWS_ACCESS_KEY_ID": "nobody"}):
        for args in (["list"], ["-q", "create", "nope"], ["check"]):
            r = ws.invoke("--repo", url, *args, env=env)
            assert r.exit_code == 1, r.output
            error_line(r.stderr, "refused access", "AWS_SECRET_ACCESS_KEY")


def test_missing_bucket_and_missing_repository(ws: Workspace, s3_env: SeaweedS3) -> None:
    url = f"s3://{s3_env.new_bucket_name()}/repo"
    r = ws.invoke("--repo", url, "list")
    assert r.exit_code == 1
    error_line(r.stderr, "S3 bucket", "does not exist")
    r = ws.invoke("--repo", "s3://Bad_Bucket/repo", "list")
    assert r.exit_code == 2
    error_line(r.stderr, "invalid S3 bucket name")


def test_unreachable_endpoint_fails_fast_with_one_line(
    ws: Workspace, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with refused_port() as port:  # nothing listens there, nothing can meanwhile
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("SNAPSTORE_S3_ENDPOINT", endpoint)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("SNAPSTORE_S3_CONNECT_TIMEOUT", "1")
        for args in (["list"], ["-q", "create", "nowhere"], ["init"]):
            started = time.monotonic()
            r = ws.invoke("--repo", url, *args)
            elapsed = time.monotonic() - started
            assert r.exit_code == 1, r.output
            error_line(r.stderr, f"cannot reach S3 endpoint {endpoint}: connection refused")
            assert elapsed < 10, f"{args}: took {elapsed:.1f} s"


def test_bad_s3_settings_are_config_errors(ws: Workspace, url: str, tmp_path: Path) -> None:
    r = ws.invoke("--repo", url, "list", env={"SNAPSTORE_S3_CONNECT_TIMEOUT": "soon"})
    assert r.exit_code == 2
    error_line(r.stderr, "SNAPSTORE_S3_CONNECT_TIMEOUT")
