"""The local index cache is brought up to date once the repository lock is held.

Two SnapshotManagers with different cache directories share one repository (as two machines
or two users would). The first runs a gc (or an archive, which ends with a gc) that moves or
deletes chunks; the second opened its store (and synced its cache) just before, and waits for
the lock with ``lock_wait``. When it gets the lock, its cache is stale: spec/packs.md ("Index
cache") says it syncs again, so a create stores the chunks gc removed, a restore finds the
repacked chunks, and check reads the archived listing.

The ordering is made exact with a real front end: the first manager's reporter holds the gc at
its first progress phase (the exclusive lock is held, nothing is changed yet) until the second
manager's cache file shows that its store is open.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from snapstore.backend import Kind, open_backend
from snapstore.backend.local import LocalBackend
from snapstore.base.errors import SnapshotNotFound
from snapstore.base.reporting import Reporter
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from snapstore.store.locking import RepositoryLock
from tests.helpers import Workspace, assert_same_tree, tree_state

WAIT = 60.0


class HoldAt(Reporter):
    """A front end that holds the operation at the start of ``phase`` until released."""

    def __init__(self, phase: str) -> None:
        super().__init__()
        self.phase = phase
        self.reached = threading.Event()
        self.released = threading.Event()

    def start(self, label: str, total: int | None = None) -> None:
        if label == self.phase and not self.reached.is_set():
            self.reached.set()
            assert self.released.wait(WAIT), "never released"


def cache_synced(cache_root: Path, repository: str) -> bool:
    """Does some index cache under ``cache_root`` name exactly the repository's index objects?"""
    backend = open_backend(repository)
    try:
        present = {o.name for o in backend.list(Kind.INDEX)}
    finally:
        backend.close()
    for path in cache_root.rglob("index.sqlite"):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            cached = {r[0] for r in db.execute("SELECT name FROM index_objects")}
        except sqlite3.OperationalError:  # schema not created yet
            continue
        finally:
            db.close()
        if present and cached == present:
            return True
    return False


def run(target: Callable[[], Any], out: dict[str, Any]) -> threading.Thread:
    def body() -> None:
        try:
            out["result"] = target()
        except BaseException as e:  # handed to the test thread
            out["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t


def while_gc_holds_the_lock(
    ws: Workspace,
    holder: Callable[[SnapshotManager], Any],
    phase: str,
    waiter: Callable[[SnapshotManager], Any],
    **settings: Any,
) -> Any:
    """Run ``holder`` on a manager with the workspace cache and hold it at ``phase``; run
    ``waiter`` on a manager with its own cache once its store is open; release; return what
    ``waiter`` returned (re-raising its error)."""
    gate = HoldAt(phase)
    first = SnapshotManager(ws.settings(auto_cleanup=False, **settings), reporter=gate)
    cache2 = ws.root / "cache-of-another-machine"
    second = SnapshotManager(
        ws.settings(auto_cleanup=False, cache_dir=str(cache2), lock_wait=WAIT, **settings)
    )
    held: dict[str, Any] = {}
    waited: dict[str, Any] = {}
    t1 = run(lambda: holder(first), held)
    assert gate.reached.wait(WAIT), held.get("error")
    t2 = run(lambda: waiter(second), waited)
    deadline = time.monotonic() + WAIT
    while not cache_synced(cache2, first.settings.repository):
        assert t2.is_alive(), waited.get("error")
        assert time.monotonic() < deadline, "the second store never opened"
        time.sleep(0.02)
    time.sleep(0.1)  # let it reach the lock (it cannot pass it: the gc holds it exclusively)
    gate.released.set()
    t1.join(WAIT)
    t2.join(WAIT)
    assert not t1.is_alive() and not t2.is_alive()
    if "error" in held:
        raise held["error"]
    if "error" in waited:
        raise waited["error"]
    return waited["result"]


def fresh_check(ws: Workspace, **settings: Any) -> list[str]:
    cache3 = ws.root / "cache-for-checking"
    report = ws.manager(cache_dir=str(cache3), **settings).check(read_data=True)
    return report.errors


def test_create_waiting_for_a_gc_does_not_reuse_chunks_gc_deleted(ws: Workspace) -> None:
    create_waiting_for_a_gc(ws)


def create_waiting_for_a_gc(ws: Workspace, **settings: Any) -> None:
    m = ws.manager(auto_cleanup=False, **settings)
    old = m.create("old").snapshot.snapshot_name
    # delete, then gc (delete's automatic reclaim) removes every chunk of the tree; the other
    # machine's create of the same tree waits for it.
    result = while_gc_holds_the_lock(
        ws,
        lambda first: first.delete_snapshot(old),
        "Marking referenced chunks",
        lambda second: second.create("same tree, after the gc"),
        **settings,
    )
    assert result.new_chunks > 0, "the chunks gc deleted must be stored again"
    assert fresh_check(ws, **settings) == []
    out = ws.root / "restored"
    m.restore_snapshot(
        result.snapshot.snapshot_name, confirm=True, target=str(out), safety_snapshot=False
    )
    assert_same_tree(tree_state(ws.bulk), tree_state(out))


def test_restore_waiting_for_a_repacking_gc_finds_the_moved_chunks(ws: Workspace) -> None:
    m = ws.manager(auto_cleanup=False)
    (ws.bulk / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    both = m.create("with the big file").snapshot.snapshot_name
    (ws.bulk / "big.bin").unlink()
    kept = m.create("without it").snapshot.snapshot_name
    expected = tree_state(ws.bulk)
    out = ws.root / "restored"
    # Deleting `both` leaves its pack mostly dead: gc copies `kept`'s chunks into a new pack
    # and deletes the old one, which the other machine's cache still points at.
    while_gc_holds_the_lock(
        ws,
        lambda first: first.delete_snapshot(both),
        "Marking referenced chunks",
        lambda second: second.restore_snapshot(
            kept, confirm=True, target=str(out), safety_snapshot=False
        ),
    )
    assert_same_tree(expected, tree_state(out))
    assert fresh_check(ws) == []


def test_check_waiting_for_an_archive_reads_the_archived_listing(ws: Workspace) -> None:
    m = ws.manager(auto_cleanup=False)
    (ws.bulk / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    name = m.create("to be archived").snapshot.snapshot_name
    (ws.bulk / "big.bin").unlink()
    m.create("newer")
    # archive moves the chunks only `name` uses (the big file, its listing) into a tar.gz
    # archive; its gc then rewrites the mostly cold pack, which the other machine's cache
    # still points at for the listing.
    report = while_gc_holds_the_lock(
        ws,
        lambda first: first.archive([name]),
        "Archiving cold chunks",
        lambda second: second.check(),
    )
    assert report.errors == []
    assert fresh_check(ws) == []


def test_restore_of_a_snapshot_deleted_while_it_waited_says_so(ws: Workspace) -> None:
    m = ws.manager(auto_cleanup=False)
    name = m.create("deleted by the other machine").snapshot.snapshot_name
    out = ws.root / "restored"
    cache2 = ws.root / "cache-of-another-machine"
    second = ws.manager(auto_cleanup=False, cache_dir=str(cache2), lock_wait=WAIT)
    backend = LocalBackend(ws.repo)
    waited: dict[str, Any] = {}
    # What delete_snapshot does, under a real exclusive lock taken before the restore asks.
    with RepositoryLock.acquire(backend, "delete", exclusive=True):
        t = run(
            lambda: second.restore_snapshot(
                name, confirm=True, target=str(out), safety_snapshot=False
            ),
            waited,
        )
        deadline = time.monotonic() + WAIT
        while not cache_synced(cache2, str(ws.repo)):
            assert t.is_alive(), waited.get("error")
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.5)  # it finds the snapshot (a few ms after its cache is open), then waits
        Catalog(backend).delete(name)
    t.join(WAIT)
    assert isinstance(waited.get("error"), SnapshotNotFound), waited
    assert f"{name} was deleted while" in str(waited["error"])
    assert not out.exists()
