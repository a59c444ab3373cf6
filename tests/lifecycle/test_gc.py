"""gc: space comes back, live data stays, leftovers go, and a kill -9 at any point is harmless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from snapstore.store.packs import PackBuilder
from tests.helpers import REPO_ROOT, Workspace, assert_same_tree, error_line, tree_state
from tests.lifecycle.conftest import lifecycle_manager, text, write

STEPS = ["packs-written", "index-written", "old-index-deleted", "old-packs-deleted"]


def _size(ws: Workspace, kind: str) -> int:
    return sum(p.stat().st_size for p in (ws.repo / kind).rglob("*") if p.is_file())


def _three_snapshots(ws: Workspace, m: SnapshotManager) -> list[str]:
    names = []
    for k in range(3):
        for i in range(4):
            write(ws.bulk, f"run{k}/f{i}.txt", text(100 * k + i, 20_000))
        names.append(m.create(f"state {k}").snapshot.snapshot_name)
    return names


def test_delete_reclaims_the_snapshots_unique_data(lws: Workspace, lm: SnapshotManager) -> None:
    names = _three_snapshots(lws, lm)
    unique = lm.usage()[names[2]]["unique_bytes"]
    assert unique > 0
    before = _size(lws, "packs")
    lm.delete_snapshot(names[2])  # the newest one: its run2/ files are its alone
    reclaimed = before - _size(lws, "packs")
    # Every unique byte comes back, plus the packs' tables of contents (large here: the test
    # repository's chunks average 256 bytes, so a TOC row is a fifth of a chunk).
    assert unique <= reclaimed <= unique * 1.3 + 4096
    assert lm.check(read_data=True).ok


def test_gc_keeps_what_is_referenced_and_restores_exactly(
    lws: Workspace, lm: SnapshotManager, tmp_path
) -> None:
    names = _three_snapshots(lws, lm)
    expected = tree_state(lws.bulk)
    lm.delete_snapshot(names[0])
    lm.delete_snapshot(names[1])
    result = lm.gc(max_unused=0.0)
    assert result.dead_chunks == 0  # delete's own gc already took everything
    lm.restore_snapshot(names[2], confirm=True, target=str(tmp_path / "out"), safety_snapshot=False)
    assert_same_tree(expected, tree_state(tmp_path / "out"))


def test_gc_removes_unindexed_leftover_packs(lws: Workspace, lm: SnapshotManager) -> None:
    _three_snapshots(lws, lm)
    builder = PackBuilder()
    builder.add(b"\x01" * 32, b"orphan", 6, 0)
    name, data = builder.finish()
    LocalBackend(lws.repo).put(Kind.PACKS, name, data)  # as an interrupted create leaves it
    assert any("not indexed" in w for w in lm.check().warnings)
    result = lm.gc()
    assert result.unindexed_packs == 1
    assert not (lws.repo / "packs" / name[:2] / name).exists()
    assert lm.check().warnings == []


def test_repack_threshold(lws: Workspace) -> None:
    m = lifecycle_manager(lws)
    write(lws.bulk, "a.txt", text(1, 30_000))
    write(lws.bulk, "b.txt", text(2, 3_000))
    first = m.create("both").snapshot.snapshot_name
    (lws.bulk / "b.txt").unlink()
    m.create("a only")
    # One pack holds both files; b.txt is ~10% of it. A high threshold leaves the pack alone.
    backend = LocalBackend(lws.repo)
    Catalog(backend).delete(first)
    lazy = m.gc(max_unused=0.9)
    assert lazy.packs_repacked == 0 and lazy.dead_chunks > 0
    assert lazy.dead_bytes_kept > 0
    strict = m.gc(max_unused=0.0)
    assert strict.packs_repacked >= 1
    assert strict.reclaimed_bytes > 0
    assert m.gc(max_unused=0.0).packs_repacked == 0  # a fresh pack is never rewritten again
    assert m.check(read_data=True).ok


def test_gc_dry_run_changes_nothing(lws: Workspace, lm: SnapshotManager) -> None:
    names = _three_snapshots(lws, lm)
    Catalog(LocalBackend(lws.repo)).delete(names[2])
    before = {
        p: p.stat().st_size for p in lws.repo.rglob("*") if p.is_file() and "locks" not in p.parts
    }
    result = lm.gc(dry_run=True)
    assert result.dry_run and result.reclaimed_bytes > 0
    after = {
        p: p.stat().st_size for p in lws.repo.rglob("*") if p.is_file() and "locks" not in p.parts
    }
    assert before == after


def test_gc_dry_run_decides_what_the_real_gc_then_does(lws: Workspace) -> None:
    """The dry run renders the plan the real gc executes (spec/gc.md, "Output"): the same
    packs and archives deleted and rewritten, the same live and dead chunks."""
    m = lifecycle_manager(lws)
    write(lws.bulk, "own.txt", text(1, 30_000))
    write(lws.bulk, "shared.txt", text(2, 30_000))
    first = m.create("first").snapshot.snapshot_name
    (lws.bulk / "own.txt").unlink()
    m.create("second")
    m.archive([first])  # own.txt's chunks go into an archive
    # Gone: the archive holds dead chunks only, and the pack with the first snapshot's
    # listing also holds shared.txt, still live.
    Catalog(LocalBackend(lws.repo)).delete(first)
    decided = (
        "snapshots",
        "live_chunks",
        "dead_chunks",
        "packs_deleted",
        "packs_repacked",
        "unindexed_packs",
        "archives_deleted",
        "archives_rewritten",
        "dead_bytes_kept",
    )
    preview = m.gc(max_unused=0.0, dry_run=True).as_dict()
    done = m.gc(max_unused=0.0).as_dict()
    assert preview["archives_deleted"] >= 1 and preview["packs_repacked"] >= 1
    assert {k: preview[k] for k in decided} == {k: done[k] for k in decided}
    assert preview["dry_run"] is True and done["dry_run"] is False
    assert m.gc(max_unused=0.0, dry_run=True).reclaimed_bytes == 0  # nothing left to do


@pytest.mark.parametrize("step", STEPS)
def test_gc_killed_at_each_step_leaves_a_good_repository(
    lws: Workspace, lm: SnapshotManager, step: str, tmp_path
) -> None:
    names = _three_snapshots(lws, lm)
    expected = tree_state(lws.bulk)
    Catalog(LocalBackend(lws.repo)).delete(names[1])  # garbage to collect
    proc = subprocess.run(
        [sys.executable, "-m", "tests.lifecycle.crash_gc", str(lws.repo), str(lws.cache), step],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    report = lm.check(read_data=True)
    assert report.ok, report.errors
    lm.restore_snapshot(names[2], confirm=True, target=str(tmp_path / "out"), safety_snapshot=False)
    assert_same_tree(expected, tree_state(tmp_path / "out"))
    lm.gc()  # the next gc finishes the job
    assert lm.check().warnings == []


def test_cli_gc_killed_by_sigkill_mid_run(lws: Workspace, tmp_path) -> None:
    """A real `snapstore gc` process, killed -9 after a random delay, on a repository with
    enough to repack that the kill lands mid-run more often than not."""
    m = lifecycle_manager(lws)
    for k in range(4):
        for i in range(30):
            write(lws.bulk, f"d{i}/f{k}.txt", text(1000 * k + i, 6_000))
        m.create(f"s{k}")
    expected = tree_state(lws.bulk)
    names = [s.snapshot_name for s in m.list_snapshots()]
    for n in names[1:]:
        Catalog(LocalBackend(lws.repo)).delete(n)
    proc = lws.popen("gc", "--max-unused", "0")
    time.sleep(0.4 + (os.getpid() % 7) / 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    report = m.check(read_data=True)
    assert report.ok, report.errors
    m.restore_snapshot(names[0], confirm=True, target=str(tmp_path / "out"), safety_snapshot=False)
    assert_same_tree(expected, tree_state(tmp_path / "out"))
    done = lws.run("gc")
    assert done.returncode == 0, done.stderr
    assert "✓ Reclaimed" in done.stdout


def test_gc_cli_reports_and_needs_the_exclusive_lock(lws: Workspace) -> None:
    lifecycle_manager(lws).create("one")
    from snapstore.store.locking import RepositoryLock

    lock = RepositoryLock.acquire(LocalBackend(lws.repo), "create", exclusive=False)
    try:
        busy = lws.run("gc")
    finally:
        lock.release()
    assert busy.returncode == 75
    error_line(busy.stderr, "locked by `create`")
    ok = lws.run("gc", "--json")
    assert ok.returncode == 0, ok.stderr
    assert '"reclaimed_bytes"' in ok.stdout


def test_mark_fast_path_equals_the_reference_walk(lws: Workspace, lm: SnapshotManager) -> None:
    """gc reads listings without building FileEntry objects; it must find exactly the chunks
    iter_references (the schema's one authority) finds."""
    import dataclasses

    from snapstore.maintenance.references import iter_references, root_chunk_ids
    from snapstore.store.chunkstore import ChunkStore

    _three_snapshots(lws, lm)
    backend = LocalBackend(lws.repo)
    store = ChunkStore.open(backend, str(lws.cache))
    try:
        for m in Catalog(backend).load_all().manifests:
            for root in m.bulk or []:
                part = dataclasses.replace(m, bulk=[root], database=None)
                assert root_chunk_ids(store, root, m.name) == {
                    r.chunk for r in iter_references(part, store)
                }
    finally:
        store.close()
