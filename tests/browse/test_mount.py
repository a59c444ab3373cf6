"""mount: every snapshot as a read-only folder, on a real FUSE mount."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from snapstore.base.errors import InvalidInput, SourceError
from snapstore.inspection.mount import check_mountpoint
from tests.helpers import Workspace, assert_same_tree, created_name, error_line, ok, tree_state


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as e:
        return f"FUSE bindings unavailable: {e} (apt-get install fuse3)"
    return None


needs_fuse = pytest.mark.skipif(_fuse_missing() is not None, reason=str(_fuse_missing()))


def _wait_mounted(path: Path, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.ismount(path):
        if proc.poll() is not None:
            raise AssertionError(f"mount exited {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("the mount point never became a mount")
        time.sleep(0.05)


@needs_fuse
def test_mount_serves_every_snapshot_and_unmounts_on_ctrl_c(
    small_ws: Workspace, tmp_path: Path
) -> None:
    first_tree = tree_state(small_ws.bulk)
    first = created_name(ok(small_ws.run("create", "first", "--no-db")).stdout)
    (small_ws.bulk / "notes.txt").write_text("rewritten\n")
    second = created_name(ok(small_ws.run("create", "second", "--no-db")).stdout)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = small_ws.popen("mount", str(mnt))
    try:
        _wait_mounted(mnt, proc)
        assert sorted(os.listdir(mnt)) == sorted([first, second])
        snap = mnt / first
        assert sorted(os.listdir(snap)) == ["bulk_store", "metadata.json"]
        assert json.loads((snap / "metadata.json").read_text())["snapshot_name"] == first
        assert_same_tree(first_tree, tree_state(snap / "bulk_store" / small_ws.bulk.name))
        new = mnt / second / "bulk_store" / small_ws.bulk.name / "notes.txt"
        assert new.read_text() == "rewritten\n"
        with open(snap / "bulk_store" / small_ws.bulk.name / "data" / "weights.bin", "rb") as f:
            f.seek(12_345)  # random access, not only streaming
            expected = (small_ws.bulk / "data" / "weights.bin").read_bytes()[12_345 : 12_345 + 999]
            assert f.read(999) == expected
        with pytest.raises(OSError):
            (snap / "new.txt").write_text("no")
        # While mounted, the snapshots cannot be deleted from under the readers.
        busy = small_ws.run("delete", first, "--yes")
        assert busy.returncode == 75
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert not os.path.ismount(mnt)
    assert "error" not in err


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "f").write_text("x") and p / "f", "is not a folder"),
    ],
)
def test_mount_on_a_place_that_cannot_be_a_mount_point(
    small_ws: Workspace, tmp_path: Path, make, needle: str
) -> None:
    ok(small_ws.run("create", "first", "--no-db"))
    r = small_ws.run("mount", str(make(tmp_path)))
    assert r.returncode == 2
    error_line(r.stderr, needle)


def test_mount_on_a_folder_with_data(small_ws: Workspace) -> None:
    ok(small_ws.run("create", "first", "--no-db"))
    r = small_ws.run("mount", str(small_ws.bulk))
    assert r.returncode == 2
    error_line(r.stderr, "not empty")


def test_without_fuse_device_the_error_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="FUSE is not available"):
        check_mountpoint(str(tmp_path), device=str(tmp_path / "no-fuse-device"))
    with pytest.raises(InvalidInput):
        check_mountpoint("")
