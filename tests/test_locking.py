"""Repository locks between real processes: shared creates run together, an exclusive delete
waits for them or fails naming the holder, locks of dead processes never block, ``unlock``."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.errors import InvalidInput, LockHeld
from snapstore.store.locking import RepositoryLock, read_locks
from tests.helpers import Workspace, big_tree, created_name, error_line, ok, tree_state


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def put_lock(ws: Workspace, name: str, **fields: object) -> None:
    now = time.time()
    doc = {
        "operation": "create",
        "exclusive": False,
        "host": socket.gethostname(),
        "pid": 1,
        "created": now,
        "refreshed": now,
        **fields,
    }
    LocalBackend(ws.repo).put(Kind.LOCKS, name, json.dumps(doc).encode())


def test_concurrent_creates_both_succeed(ws: Workspace) -> None:
    ws.manager().create("initialize the repository")
    big_tree(ws.bulk / "more", files=40, size=100_000, seed=3)
    state = tree_state(ws.bulk)
    procs = [ws.popen("create", "same words") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    names = {created_name(out) for out, _ in outs}
    assert len(names) == 2
    manager = ws.manager()
    assert names <= {s.snapshot_name for s in manager.list_snapshots()}
    assert manager.check(read_data=True).ok
    for name in names:
        target = ws.root / name
        manager.restore_snapshot(name, confirm=True, target=str(target), safety_snapshot=False)
        assert tree_state(target)[b"more/dir0/file0000.bin"] == state[b"more/dir0/file0000.bin"]


def test_delete_while_create_holds_the_lock(ws: Workspace) -> None:
    name = ws.manager().create("victim").snapshot.snapshot_name
    with RepositoryLock.acquire(LocalBackend(ws.repo), "create", exclusive=False):
        r = ws.run("delete", name, "--yes")
        assert r.returncode == 75
        error_line(r.stderr, "`create`", "locked", "--lock-wait")
    assert name in ws.invoke("list").stdout

    lock = RepositoryLock.acquire(LocalBackend(ws.repo), "create", exclusive=False)
    started = time.monotonic()
    waiting = ws.popen("--lock-wait", "30", "delete", name, "--yes")
    time.sleep(1.0)
    assert waiting.poll() is None, "delete must wait for the create"
    lock.release()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert time.monotonic() - started >= 1.0
    assert f"✓ Snapshot deleted: {name}" in out


def test_delete_during_a_real_create(ws: Workspace) -> None:
    ws.manager().create("first")
    big_tree(ws.bulk / "big", files=100, size=100_000, seed=4)
    victim = ws.manager().list_snapshots()[0].snapshot_name
    proc = ws.popen("create", "long running")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(lk.operation == "create" for lk in read_locks(LocalBackend(ws.repo))):
                break
            time.sleep(0.002)
        else:
            pytest.fail("the create never took its lock")
        with pytest.raises(LockHeld, match="`create`"):
            ws.manager().delete_snapshot(victim)
    finally:
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert victim in {s.snapshot_name for s in ws.manager().list_snapshots()}


def test_lock_of_a_dead_process_is_ignored_and_unlock_removes_it(ws: Workspace) -> None:
    ws.manager().create("first")
    put_lock(ws, "x-dead", operation="gc", exclusive=True, pid=dead_pid())
    r = ok(ws.run("create", "second"))
    assert "warning: ignoring stale lock of `gc`" in r.stderr
    r = ws.invoke("unlock")
    assert "✓ Removed lock of `gc`" in r.stdout
    assert read_locks(LocalBackend(ws.repo)) == []
    assert "No stale locks." in ws.invoke("unlock").stdout


def test_old_lock_of_a_live_process_blocks_until_unlocked(ws: Workspace) -> None:
    name = ws.manager().create("first").snapshot.snapshot_name
    two_hours_ago = time.time() - 7200
    put_lock(ws, "s-old", created=two_hours_ago, refreshed=two_hours_ago, pid=1)
    r = ws.invoke("delete", name, "--yes")
    assert r.exit_code == 75
    error_line(r.stderr, "looks stale", "snapstore unlock")
    assert "✓ Removed lock of `create`" in ws.invoke("unlock").stdout
    assert ws.invoke("delete", name, "--yes").exit_code == 0


def test_unlock_all_asks_first(ws: Workspace) -> None:
    ws.manager().create("first")
    put_lock(ws, "s-live", pid=1)  # pid 1 is alive and recent: not stale
    assert "No stale locks." in ws.invoke("unlock").stdout
    r = ws.invoke("unlock", "--all", input="no\n")
    assert r.exit_code == 1
    assert len(read_locks(LocalBackend(ws.repo))) == 1
    assert ws.invoke("unlock", "--all", "--yes").exit_code == 0
    assert read_locks(LocalBackend(ws.repo)) == []


def test_shared_locks_coexist_and_exclusive_excludes(ws: Workspace) -> None:
    ws.manager().create("first")
    backend = LocalBackend(ws.repo)
    a = RepositoryLock.acquire(backend, "create", exclusive=False)
    b = RepositoryLock.acquire(backend, "restore", exclusive=False)
    with pytest.raises(LockHeld):
        RepositoryLock.acquire(backend, "gc", exclusive=True)
    a.release()
    b.release()
    with RepositoryLock.acquire(backend, "gc", exclusive=True):
        with pytest.raises(LockHeld, match="`gc`"):
            RepositoryLock.acquire(backend, "create", exclusive=False)
    assert read_locks(backend) == []


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffgarbage\x9c",  # not text at all
        b'{"operation": "gc", "exclusive": tr',  # cut short
        b"[1, 2, 3]",  # JSON, not a lock
        b'{"operation": "gc", "exclusive": true, "host": "h", "pid": "x", "created": 1,'
        b' "refreshed": 1}',  # a field of the wrong type
    ],
)
def test_a_damaged_lock_object_still_blocks_until_unlocked(ws: Workspace, content: bytes) -> None:
    """A lock object whose bytes cannot be read may belong to a live process: ignoring it would
    let a delete or gc run beside it. It blocks every command, named, until `unlock`."""
    name = ws.manager().create("first").snapshot.snapshot_name
    LocalBackend(ws.repo).put(Kind.LOCKS, "x-damaged", content)
    for argv in (("delete", name, "--yes"), ("create", "second")):
        r = ws.run(*argv)
        assert r.returncode == 75, r.stderr
        error_line(r.stderr, "locks/x-damaged", "damaged", "snapstore unlock")
    assert name in ws.run("list").stdout
    r = ok(ws.run("unlock"))
    assert "✓ Removed lock of a damaged lock object locks/x-damaged" in r.stdout
    assert read_locks(LocalBackend(ws.repo)) == []
    ok(ws.run("delete", name, "--yes"))


@pytest.mark.parametrize("wait", [float("nan"), float("inf"), -1.0])
def test_acquire_refuses_an_unusable_wait(ws: Workspace, wait: float) -> None:
    ws.manager().create("first")
    with pytest.raises(InvalidInput, match="wait"):
        RepositoryLock.acquire(LocalBackend(ws.repo), "gc", exclusive=True, wait=wait)
