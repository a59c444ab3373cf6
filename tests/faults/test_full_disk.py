"""A completely full disk (a real tmpfs filled to the last page): `delete` and `gc` still work,
so snapstore can free space itself (spec/backends.md, "Reserve"), while a create
fails cleanly and never eats the room they need. The index cache lives on another disk, as it
does when the repository has a disk of its own."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import (
    IS_ROOT,
    Workspace,
    big_tree,
    created_name,
    error_line,
    ok,
    pack_files,
    tree_state,
)


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> None:
    """Write a filler file until not one more byte fits."""
    with open(disk / f"filler-{len(list(disk.glob('filler-*')))}", "wb", buffering=0) as f:
        for block in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\xff" * block)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    with pytest.raises(OSError) as info, open(disk / "probe", "wb", buffering=0) as f:
        f.write(b"x" * 4096)
    assert info.value.errno == errno.ENOSPC, "the disk must be completely full"
    (disk / "probe").unlink(missing_ok=True)


def test_delete_and_gc_on_a_completely_full_disk(ws: Workspace) -> None:
    with tmpfs(ws.root / "disk", "24m") as disk:
        repo = disk / "repo"
        env = ws.env(SNAPSTORE_REPO=str(repo))
        shutil.rmtree(ws.bulk)
        big_tree(ws.bulk / "old", files=6, size=1_000_000, seed=11)
        old = created_name(ok(ws.run("create", "old data", env=env)).stdout)
        shutil.rmtree(ws.bulk / "old")
        big_tree(ws.bulk / "new", files=2, size=300_000, seed=12)
        kept_state = tree_state(ws.bulk)
        kept = created_name(ok(ws.run("create", "new data", env=env)).stdout)
        assert (repo / "reserve").is_file()

        fill(disk)
        # A create cannot use the reserve: it fails with one line and leaves it in place.
        big_tree(ws.bulk / "more", files=1, size=200_000, seed=13)
        r = ws.run("create", "does not fit", "--no-cleanup", env=env)
        assert r.returncode == 1, r.stderr
        error_line(r.stderr, "disk full", alone=False)
        assert (repo / "reserve").is_file()
        shutil.rmtree(ws.bulk / "more")

        r = ok(ws.run("delete", old, "--yes", env=env))
        assert f"✓ Snapshot deleted: {old}" in r.stdout
        assert "space not reclaimed" not in r.stderr
        listed = json.loads(ok(ws.run("list", "--json", env=env)).stdout)
        assert [d["snapshot_name"] for d in listed] == [kept]
        assert (repo / "reserve").is_file(), "the freed space gave the reserve back"

        fill(disk)
        ok(ws.run("gc", env=env))
        ok(ws.run("--lock-wait", "1", "gc", "--max-unused", "0", env=env))

        for filler in disk.glob("filler-*"):
            filler.unlink()
        assert "✓ Repository is healthy" in ok(ws.run("check", "--read-data", env=env)).stdout
        target = ws.root / "restored"
        ok(
            ws.run(
                "restore", kept, "--yes", "--no-safety-snapshot", "--target", str(target), env=env
            )
        )
        assert tree_state(target) == kept_state
        assert not [p for p in (repo / "tmp").iterdir() if not p.name.startswith("reserve-")]


def test_reserve_is_best_effort(ws: Workspace) -> None:
    """On a disk too small for the reserve, init and create still work (without one)."""
    with tmpfs(ws.root / "tiny", "1m") as disk:
        repo = disk / "repo"
        env = ws.env(SNAPSTORE_REPO=str(repo))
        ok(ws.run("init", env=env))
        assert not (repo / "reserve").exists()
        assert not os.listdir(repo / "tmp")


def _used(disk: Path) -> int:
    return shutil.disk_usage(disk).used


def test_a_create_that_fills_the_disk_removes_the_packs_it_wrote(ws: Workspace) -> None:
    """spec/repository.md, "A failed create": a create that fails on a full disk takes its
    packs away with it, so the disk is as free as before and a smaller create then fits."""
    with tmpfs(ws.root / "disk", "20m") as disk:
        repo = disk / "repo"
        env = ws.env(SNAPSTORE_REPO=str(repo))
        shutil.rmtree(ws.bulk)
        big_tree(ws.bulk / "small", files=2, size=500_000, seed=21)
        ok(ws.run("create", "small", "--no-db", "--no-cleanup", env=env))
        packs_before = sorted(p.name for p in pack_files(repo))
        used_before = _used(disk)
        big_tree(ws.bulk / "big", files=30, size=1_000_000, seed=22)  # 30 MB: cannot fit
        r = ws.run("create", "too big", "--no-db", "--no-cleanup", env=env)
        assert r.returncode == 1, r.stderr
        error_line(r.stderr, "disk full", alone=False)
        assert "Traceback" not in r.stderr
        assert "removed the" in r.stderr and "the failed create had written" in r.stderr, r.stderr
        assert sorted(p.name for p in pack_files(repo)) == packs_before
        assert _used(disk) <= used_before + 200_000, (used_before, _used(disk))
        assert not list((repo / "locks").iterdir())
        # The room is back: the next create of something that fits succeeds.
        shutil.rmtree(ws.bulk / "big")
        big_tree(ws.bulk / "more", files=3, size=1_000_000, seed=23)
        ok(ws.run("create", "fits", "--no-db", "--no-cleanup", env=env))
        assert "healthy" in ok(ws.run("check", "--read-data", env=env)).stdout


HOLD_SHARED = """
import sys
from snapstore.backend.local import LocalBackend
from snapstore.store.locking import RepositoryLock
with RepositoryLock.acquire(LocalBackend(sys.argv[1]), "create", exclusive=False):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_failed_create_beside_a_running_one_leaves_its_packs_to_gc(ws: Workspace) -> None:
    """Another command holds the repository (a concurrent create's shared lock): the failed
    create removes nothing (its packs' names could be that create's too) and says that
    ``gc`` frees them; gc then does."""
    with tmpfs(ws.root / "disk", "20m") as disk:
        repo = disk / "repo"
        env = ws.env(SNAPSTORE_REPO=str(repo))
        shutil.rmtree(ws.bulk)
        big_tree(ws.bulk / "small", files=1, size=300_000, seed=31)
        ok(ws.run("create", "small", "--no-db", "--no-cleanup", env=env))
        packs_before = {p.name for p in pack_files(repo)}
        big_tree(ws.bulk / "big", files=30, size=1_000_000, seed=32)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_SHARED, str(repo)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            r = ws.run("create", "too big", "--no-db", "--no-cleanup", env=env)
            assert r.returncode == 1, r.stderr
            error_line(r.stderr, "disk full", alone=False)
            assert "`snapstore gc` frees them" in r.stderr, r.stderr
            assert {p.name for p in pack_files(repo)} > packs_before
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=60)
        shutil.rmtree(ws.bulk / "big")
        ok(ws.run("gc", env=env))
        assert {p.name for p in pack_files(repo)} == packs_before
