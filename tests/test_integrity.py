"""Manifest integrity as a user sees it (spec/manifest.md, "Object format" and "Predecessors").

An edited manifest (checksum) or a manifest removed outside snapstore (a later manifest names
it) is reported by list, show, restore and check as one line naming the snapshot, and cleanup
and gc refuse to act on a repository where either happened. Deleting through snapstore never
raises an alarm; ``delete --force`` is the way to accept a loss.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path

import msgpack
import pytest

from snapstore.backend.local import LocalBackend
from snapstore.base.errors import CorruptData, RepositoryError
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from tests.helpers import Workspace, error_line, object_names


def created(m: SnapshotManager, description: str) -> str:
    return m.create(description).snapshot.snapshot_name


def manifest_path(ws: Workspace, name: str) -> Path:
    return ws.repo / "snapshots" / name


def edit(ws: Workspace, name: str, old: bytes, new: bytes) -> None:
    path = manifest_path(ws, name)
    data = path.read_bytes()
    assert data.count(old) == 1, (old, data)
    path.write_bytes(data.replace(old, new))


def problems_of(m: SnapshotManager) -> list[str]:
    return m.list_with_problems()[1]


@pytest.fixture
def m(ws: Workspace) -> SnapshotManager:
    return ws.manager(auto_cleanup=False, retention={"keep_last": 1, "keep_weekly_weeks": 0})


# -- an edited manifest ------------------------------------------------------------------------

EDITS = {
    "permanent": (b"\xa9permanent\xc2", b"\xa9permanent\xc3"),
    "year": (b"\xa7created\xd9\x2020", b"\xa7created\xd9\x2019"),
    "bulk path": (b"/bulk\xa5label", b"/bulj\xa5label"),  # where a plain restore writes
}


@pytest.mark.parametrize("what", list(EDITS))
def test_an_edited_manifest_is_reported_and_not_acted_on(
    ws: Workspace, m: SnapshotManager, what: str
) -> None:
    old = created(m, "old")
    new = created(m, "new")
    edit(ws, old, *EDITS[what])

    assert any(old in e and "damaged" in e for e in m.check().errors)
    r = ws.invoke("check")
    assert r.exit_code == 1 and old in r.stderr
    r = ws.invoke("list")
    assert r.exit_code == 1 and new in r.stdout and old not in r.stdout
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and old in warnings[0] and "damaged" in warnings[0]
    for argv in (["show", old], ["restore", old, "--yes", "--target", str(ws.root / "t")]):
        r = ws.invoke(*argv)
        assert r.exit_code != 0
        error_line(r.stderr, old, "damaged")
    assert not (ws.root / "t").exists()

    # keep_last=1 would delete `old`; with its manifest unreadable nothing is deleted.
    before = object_names(ws.repo)
    r = ws.invoke("cleanup", "--yes")
    assert r.exit_code != 0
    error_line(r.stderr, old, "stopped before changing anything")
    assert object_names(ws.repo) == before


def test_a_damaged_manifest_can_be_deleted_with_force(ws: Workspace, m: SnapshotManager) -> None:
    keep = created(m, "keep")
    bad = created(m, "bad")
    edit(ws, bad, b"\xa9permanent\xc2", b"\xa9permanent\xc3")
    r = ws.invoke("delete", bad, "--yes")
    assert r.exit_code != 0
    error_line(r.stderr, bad, "damaged", "--force")
    r = ws.invoke("delete", bad, "--yes", "--force")
    assert r.exit_code == 0, r.output
    assert bad not in object_names(ws.repo)["snapshots"]
    assert m.check().ok and problems_of(m) == []
    assert [s.snapshot_name for s in m.list_snapshots()] == [keep]


# -- a manifest removed outside snapstore --------------------------------------------------------


def test_a_manifest_removed_outside_snapstore_is_noticed(ws: Workspace, m: SnapshotManager) -> None:
    first = created(m, "first")
    middle = created(m, "middle")
    last = created(m, "last")
    manifest_path(ws, middle).unlink()

    report = m.check()
    assert [e for e in report.errors if middle in e and "missing" in e], report.errors
    r = ws.invoke("list")
    assert r.exit_code == 1 and first in r.stdout and last in r.stdout
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and middle in warnings[0] and "missing" in warnings[0]

    # gc would delete what `middle` used; it refuses, so putting the object back restores it.
    before = object_names(ws.repo)
    for argv in (["gc"], ["cleanup", "--yes"]):
        r = ws.invoke(*argv)
        assert r.exit_code != 0
        error_line(r.stderr, middle, "stopped before")
    assert object_names(ws.repo) == before

    # Accepting the loss: `delete --force` forgets it, and everything works again.
    r = ws.invoke("delete", middle, "--yes")
    assert r.exit_code != 0
    r = ws.invoke("delete", middle, "--yes", "--force")
    assert r.exit_code == 0, r.output
    assert m.check().ok and problems_of(m) == []
    assert ws.invoke("gc").exit_code == 0


def test_the_oldest_removed_is_noticed_too(ws: Workspace, m: SnapshotManager) -> None:
    oldest = created(m, "oldest")
    created(m, "newer")
    manifest_path(ws, oldest).unlink()
    assert any(oldest in e and "missing" in e for e in m.check().errors)


def test_deleting_through_snapstore_raises_no_alarm(ws: Workspace, m: SnapshotManager) -> None:
    names = [created(m, f"s{i}") for i in range(5)]
    m.delete_snapshot(names[2])  # a middle one
    m.delete_snapshot(names[4])  # the newest
    m.delete_snapshot(names[0])  # the oldest
    assert problems_of(m) == [] and m.check().ok
    names.append(created(m, "after"))
    assert problems_of(m) == [] and m.check().ok
    result = m.apply_retention_policy()  # keep_last=1: deletes all but the newest
    assert sorted(result.deleted) == sorted([names[1], names[3]])
    assert problems_of(m) == [] and m.check().ok
    # The survivor is named by the next snapshot, so removing it afterwards is noticed.
    created(m, "next")
    manifest_path(ws, names[-1]).unlink()
    assert any(names[-1] in p for p in problems_of(m))


def test_concurrent_creates_raise_no_alarm_and_are_all_vouched_for(
    ws: Workspace, m: SnapshotManager
) -> None:
    created(m, "base")
    out: list[str] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            racer = ws.manager(auto_cleanup=False, lock_wait=30)
            out.append(racer.create(f"c{i}").snapshot.snapshot_name)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 3
    assert problems_of(m) == [] and m.check().ok
    last = created(m, "after the race")
    # Every racer is named by the snapshot after the race, so each removal is noticed.
    for name in out:
        data = manifest_path(ws, name).read_bytes()
        manifest_path(ws, name).unlink()
        assert any(name in p and "missing" in p for p in problems_of(m)), name
        manifest_path(ws, name).write_bytes(data)
    assert problems_of(m) == [] and last


# -- format 1 manifests (written before checksums) ----------------------------------------------


def downgrade_to_format_1(ws: Workspace, name: str) -> None:
    backend = LocalBackend(ws.repo)
    d = asdict(Catalog(backend).load(name))
    d["version"] = 1
    d.pop("previous", None)
    manifest_path(ws, name).write_bytes(msgpack.packb(d, use_bin_type=True))


def test_format_1_manifests_are_read_warned_about_and_upgraded_by_pin(
    ws: Workspace, m: SnapshotManager
) -> None:
    a = created(m, "a")
    b = created(m, "b")
    downgrade_to_format_1(ws, a)
    downgrade_to_format_1(ws, b)
    assert problems_of(m) == []
    report = m.check()
    assert report.ok
    legacy = [w for w in report.warnings if "format 1" in w]
    assert len(legacy) == 1 and "2 snapshot" in legacy[0], report.warnings
    m.pin(a)
    assert Catalog(LocalBackend(ws.repo)).load(a).checksummed
    legacy = [w for w in m.check().warnings if "format 1" in w]
    assert len(legacy) == 1 and "1 snapshot" in legacy[0]
    m.unpin(a)
    assert not Catalog(LocalBackend(ws.repo)).load(a).permanent
    # A format-1 manifest has no predecessors: the next create names every such snapshot.
    created(m, "c")
    manifest_path(ws, b).unlink()
    assert any(b in p and "missing" in p for p in problems_of(m))


def test_load_errors_name_the_snapshot(ws: Workspace, m: SnapshotManager) -> None:
    name = created(m, "x")
    edit(ws, name, b"\xa9permanent\xc2", b"\xa9permanent\xc3")
    with pytest.raises(CorruptData, match=f"snapshot {name}: manifest is damaged"):
        m.get_snapshot(name)
    with pytest.raises((CorruptData, RepositoryError), match=name):
        m.restore_snapshot(name, confirm=True, target=str(ws.root / "t"), safety_snapshot=False)
