"""SnapshotManager, the public API: naming, listing, restore with a way back, delete, git
metadata, and what a user sees when the repository is damaged (spec/README.md, promises 3 and 4)."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from snapstore.base.errors import (
    AmbiguousSnapshot,
    CorruptData,
    InvalidInput,
    NotConfirmed,
    RepositoryError,
    SnapshotNotFound,
)
from snapstore.manager import SnapshotManager
from snapstore.manifest.schema import METADATA_KEYS
from tests.helpers import (
    Workspace,
    assert_same_tree,
    file_chunk_location,
    flip_byte,
    object_names,
    pack_files,
    tree_state,
)

NAME_RE = re.compile(r"^metis_\d{8}_\d{6}_[a-z0-9_]+$")


def no_staging_left(where: Path) -> None:
    assert not [p.name for p in where.iterdir() if ".snapstore-" in p.name]


# -- create / list / naming ------------------------------------------------------------------


def test_create_names_and_describes_the_snapshot(ws: Workspace, manager: SnapshotManager) -> None:
    result = manager.create("Before CF validation Phase 4 - clean baseline")
    s = result.snapshot
    assert NAME_RE.match(s.snapshot_name)
    assert s.snapshot_name.endswith("_before_cf_validation_phase_4_clean_baseline")
    stamp = datetime.strptime(s.snapshot_name[6:21], "%Y%m%d_%H%M%S")
    assert stamp.isoformat() == s.timestamp
    assert s.includes_bulk and not s.includes_database
    assert s.files == 3 and not s.partial and s.kind == "regular"
    assert list(result.metadata)[: len(METADATA_KEYS)] == list(METADATA_KEYS)
    assert result.metadata["bulk_store_size_mb"] == round(
        sum(f.stat().st_size for f in ws.bulk.rglob("*") if f.is_file() and not f.is_symlink())
        / 2**20,
        1,
    )
    assert result.initialized
    assert manager.check().ok


def test_two_creates_in_the_same_second_get_distinct_names(manager: SnapshotManager) -> None:
    for _ in range(5):
        a = manager.create("same").snapshot
        b = manager.create("same").snapshot
        if a.timestamp == b.timestamp:
            break
    else:
        pytest.skip("could not get two creates into one second")
    assert a.snapshot_name != b.snapshot_name
    assert re.fullmatch(
        re.escape(a.snapshot_name.split("_same")[0]) + r"_same_\d+", b.snapshot_name
    )
    names = [s.snapshot_name for s in manager.list_snapshots()]
    assert a.snapshot_name in names and b.snapshot_name in names


def test_list_is_newest_first_and_lookup_by_prefix(manager: SnapshotManager) -> None:
    names = [manager.create(f"step {w}").snapshot.snapshot_name for w in ("one", "two", "six")]
    listed = manager.list_snapshots()
    assert [s.snapshot_name for s in listed] == names[::-1]
    assert [s.created for s in listed] == sorted((s.created for s in listed), reverse=True)
    full = names[1]
    assert manager.get_snapshot(full).snapshot_name == full
    assert manager.get_snapshot(full[:-2]).snapshot_name == full  # a unique prefix
    with pytest.raises(AmbiguousSnapshot, match="matches 3 snapshots"):
        manager.get_snapshot("metis_")
    with pytest.raises(SnapshotNotFound):
        manager.get_snapshot("metis_19990101_000000_nothing")
    for bad in ("../x", "a/b", "", " x", ".hidden"):
        with pytest.raises(InvalidInput):
            manager.get_snapshot(bad)


def test_bad_create_requests_change_nothing(ws: Workspace, manager: SnapshotManager) -> None:
    with pytest.raises(InvalidInput, match="no-bulk"):
        manager.create("x", include_bulk=False, include_db=False)
    with pytest.raises(InvalidInput, match="no letters or digits"):
        manager.create("!!!")
    with pytest.raises(InvalidInput, match="does not exist"):
        ws.manager(bulk=(str(ws.root / "missing"),)).create("x")
    with pytest.raises(InvalidInput, match="no database is configured"):
        manager.create("x", include_bulk=False)
    assert not ws.repo.exists(), "a refused create must not even create the repository"


def test_excluded_names_are_not_captured(ws: Workspace, manager: SnapshotManager) -> None:
    for name in (".git", "__pycache__", ".tmp"):
        (ws.bulk / name).mkdir()
        (ws.bulk / name / "junk").write_text("junk")
    (ws.bulk / "data" / "__pycache__").mkdir()
    snap = manager.create("excludes").snapshot.snapshot_name
    paths = {e.path for _, e in manager.snapshot_files(snap)}
    assert not [p for p in paths if re.search(rb"(^|/)(\.git|__pycache__|\.tmp)(/|$)", p)]
    assert b"data/weights.bin" in paths
    own = ws.manager(exclude=("*.bin",)).create("own pattern").snapshot.snapshot_name
    assert b"data/weights.bin" not in {e.path for _, e in manager.snapshot_files(own)}


def test_fifo_is_skipped_with_a_warning_and_snapshot_is_complete(
    ws: Workspace, manager: SnapshotManager
) -> None:
    os.mkfifo(ws.bulk / "pipe")
    result = manager.create("with a fifo")
    assert not result.snapshot.partial
    assert any("pipe" in w for w in manager.reporter.warnings)
    assert b"pipe" not in {e.path for _, e in manager.snapshot_files(result.snapshot.snapshot_name)}


# -- restore ---------------------------------------------------------------------------------


def test_restore_requires_confirmation(ws: Workspace, manager: SnapshotManager) -> None:
    name = manager.create("base").snapshot.snapshot_name
    (ws.bulk / "notes.txt").write_text("changed")
    before = tree_state(ws.bulk)
    with pytest.raises(NotConfirmed):
        manager.restore_snapshot(name)
    assert tree_state(ws.bulk) == before
    assert len(manager.list_snapshots()) == 1


def test_restore_in_place_takes_a_safety_snapshot_first(
    ws: Workspace, manager: SnapshotManager
) -> None:
    original = tree_state(ws.bulk)
    name = manager.create("base").snapshot.snapshot_name
    (ws.bulk / "notes.txt").write_text("ruined by the experiment")
    (ws.bulk / "new-output.csv").write_text("1,2,3\n")
    os.unlink(ws.bulk / "link")
    ruined = tree_state(ws.bulk)

    result = manager.restore_snapshot(name, confirm=True)
    assert_same_tree(original, tree_state(ws.bulk))
    assert result.safety_snapshot
    no_staging_left(ws.root)
    safety = manager.get_snapshot(result.safety_snapshot)
    assert safety.kind == "safety" and safety.safety_for == name
    # The way back: the safety snapshot holds the state the restore replaced.
    target = ws.root / "back"
    manager.restore_snapshot(
        result.safety_snapshot, confirm=True, target=str(target), safety_snapshot=False
    )
    assert_same_tree(ruined, tree_state(target))
    assert manager.check(read_data=True).ok


def test_restore_without_safety_snapshot_and_to_new_target(
    ws: Workspace, manager: SnapshotManager
) -> None:
    original = tree_state(ws.bulk)
    name = manager.create("base").snapshot.snapshot_name
    target = ws.root / "deep" / "new" / "target"
    r = manager.restore_snapshot(name, confirm=True, target=str(target))
    assert r.safety_snapshot is None, "nothing lived at the target: nothing to keep"
    assert_same_tree(original, tree_state(target))
    (ws.bulk / "notes.txt").write_text("x")
    r = manager.restore_snapshot(name, confirm=True, safety_snapshot=False)
    assert r.safety_snapshot is None
    assert_same_tree(original, tree_state(ws.bulk))
    assert len(manager.list_snapshots()) == 1


def test_restore_plan_describes_targets(ws: Workspace, manager: SnapshotManager) -> None:
    name = manager.create("base").snapshot.snapshot_name
    plan = manager.plan_restore(name)
    assert [t.target for t in plan.targets] == [ws.bulk]
    assert plan.targets[0].exists and plan.restore_bulk and not plan.restore_db
    with pytest.raises(InvalidInput):
        manager.plan_restore(name, restore_bulk=False, restore_db=False)
    with pytest.raises(InvalidInput, match="nothing left to restore"):
        manager.plan_restore(name, restore_bulk=False)


def test_restore_onto_a_file_or_unwritable_place_fails_cleanly(
    ws: Workspace, manager: SnapshotManager
) -> None:
    name = manager.create("base").snapshot.snapshot_name
    blocker = ws.root / "a-file"
    blocker.write_text("i am a file")
    with pytest.raises((InvalidInput, OSError, RepositoryError)) as info:
        manager.restore_snapshot(name, confirm=True, target=str(blocker))
    assert "a-file" in str(info.value)
    assert blocker.read_text() == "i am a file"
    with pytest.raises(Exception) as info2:
        manager.restore_snapshot(name, confirm=True, target=str(blocker / "sub"))
    assert "a-file" in str(info2.value)
    assert blocker.read_text() == "i am a file"
    no_staging_left(ws.root)


# -- delete ----------------------------------------------------------------------------------


def test_delete_and_permanent_protection(ws: Workspace, manager: SnapshotManager) -> None:
    keep = manager.create("baseline", permanent=True).snapshot.snapshot_name
    temp = manager.create("scratch").snapshot.snapshot_name
    with pytest.raises(InvalidInput, match="permanent"):
        manager.delete_snapshot(keep)
    assert manager.delete_snapshot(temp).snapshot_name == temp
    assert [s.snapshot_name for s in manager.list_snapshots()] == [keep]
    manager.delete_snapshot(keep, force=True)
    assert manager.list_snapshots() == []
    with pytest.raises(SnapshotNotFound):
        manager.delete_snapshot(keep, force=True)
    assert manager.check().ok


def test_deleting_one_snapshot_keeps_shared_data_of_others(
    ws: Workspace, manager: SnapshotManager
) -> None:
    original = tree_state(ws.bulk)
    first = manager.create("first").snapshot.snapshot_name
    second = manager.create("second").snapshot.snapshot_name
    manager.delete_snapshot(first)
    target = ws.root / "t"
    manager.restore_snapshot(second, confirm=True, target=str(target))
    assert_same_tree(original, tree_state(target))
    assert manager.check(read_data=True).ok


# -- git -------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def test_git_metadata_inside_and_outside_a_repository(ws: Workspace) -> None:
    outside = ws.manager().create("no git").snapshot
    assert (outside.git_commit, outside.git_branch, outside.git_dirty) == (None, None, None)

    project = ws.root / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "feature/case-study")
    (project / "code.py").write_text("print(1)\n")
    git(project, "add", "code.py")
    git(project, "commit", "-q", "-m", "first")
    sha = git(project, "rev-parse", "HEAD")
    manager = ws.manager(project_dir=str(project))
    clean = manager.create("clean").snapshot
    assert clean.git_commit == sha and len(sha) == 40
    assert clean.git_branch == "feature/case-study"
    assert clean.git_dirty is False
    (project / "code.py").write_text("print(2)\n")
    dirty = manager.create("dirty").snapshot
    assert dirty.git_commit == sha and dirty.git_dirty is True
    assert manager.get_snapshot(dirty.snapshot_name).metadata["git_commit"] == sha


# -- damage ----------------------------------------------------------------------------------


def test_flipped_byte_fails_restore_naming_snapshot_and_file(
    ws: Workspace, manager: SnapshotManager
) -> None:
    name = manager.create("base").snapshot.snapshot_name
    pack, offset, length = file_chunk_location(ws, name, b"data/weights.bin")
    flip_byte(pack, offset + length // 2)
    (ws.bulk / "notes.txt").write_text("current state")
    (ws.bulk / "data" / "weights.bin").write_bytes(b"changed")  # so restore must read it
    current = tree_state(ws.bulk)

    with pytest.raises(CorruptData) as info:
        manager.restore_snapshot(name, confirm=True, safety_snapshot=False)
    msg = str(info.value)
    assert name in msg and "data/weights.bin" in msg and "\n" not in msg
    assert tree_state(ws.bulk) == current, "a failed restore leaves the target as it was"
    no_staging_left(ws.root)

    assert manager.check().ok, "structure is intact: only --read-data sees the damage"
    report = manager.check(read_data=True)
    assert not report.ok
    assert any(name in e and "data/weights.bin" in e for e in report.errors), report.errors


def test_damaged_listing_names_the_snapshot(ws: Workspace, manager: SnapshotManager) -> None:
    m = manager.create("base")
    name = m.snapshot.snapshot_name
    from snapstore.backend.local import LocalBackend
    from snapstore.manifest.catalog import Catalog
    from snapstore.store.chunkstore import ChunkStore

    manifest = Catalog(LocalBackend(ws.repo)).load(name)
    assert manifest.bulk
    store = ChunkStore.open(LocalBackend(ws.repo), str(ws.cache))
    loc = store.locate(manifest.bulk[0].listing[0])
    store.close()
    assert loc is not None
    flip_byte(ws.repo / "packs" / loc.pack[:2] / loc.pack, loc.offset + loc.length // 2)
    with pytest.raises(CorruptData) as info:
        manager.restore_snapshot(name, confirm=True, target=str(ws.root / "t"))
    assert name in str(info.value) and str(ws.bulk) in str(info.value)
    no_staging_left(ws.root)
    report = manager.check(read_data=True)
    assert any(name in e for e in report.errors), report.errors


def test_damaged_manifest_is_reported_by_list_and_show(
    ws: Workspace, manager: SnapshotManager
) -> None:
    good = manager.create("good").snapshot.snapshot_name
    bad = manager.create("bad").snapshot.snapshot_name
    path = ws.repo / "snapshots" / bad
    path.write_bytes(path.read_bytes()[:40])
    snaps, problems = manager.list_with_problems()
    assert [s.snapshot_name for s in snaps] == [good]
    assert len(problems) == 1 and bad in problems[0]
    with pytest.raises(CorruptData, match=bad):
        manager.get_snapshot(bad)
    assert not manager.check().ok


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_truncated_or_missing_pack(ws: Workspace, manager: SnapshotManager, damage: str) -> None:
    name = manager.create("base").snapshot.snapshot_name
    (pack,) = pack_files(ws.repo)
    if damage == "truncate":
        with open(pack, "r+b") as f:
            f.truncate(pack.stat().st_size // 2)
    else:
        pack.unlink()
    report = manager.check()
    assert not report.ok
    assert any(("truncated" if damage == "truncate" else "missing") in e for e in report.errors)
    with pytest.raises(CorruptData) as info:
        manager.restore_snapshot(name, confirm=True, target=str(ws.root / "t"))
    assert name in str(info.value)
    assert not (ws.root / "t").exists()
    no_staging_left(ws.root)


def test_missing_index_object(ws: Workspace, manager: SnapshotManager) -> None:
    name = manager.create("base").snapshot.snapshot_name
    for obj in (ws.repo / "index").iterdir():
        obj.unlink()
    with pytest.raises(CorruptData) as info:
        manager.restore_snapshot(name, confirm=True, target=str(ws.root / "t"))
    msg = str(info.value)
    assert name in msg and re.search(r"missing|neither in a pack", msg), msg
    report = manager.check()
    assert any(name in e and "missing" in e for e in report.errors), report.errors
    # New snapshots can still be taken: the damaged one is not needed for them.
    original = tree_state(ws.bulk)
    fresh = manager.create("after the damage")
    assert fresh.read_bytes > 0
    manager.restore_snapshot(fresh.snapshot.snapshot_name, confirm=True, target=str(ws.root / "t2"))
    assert_same_tree(original, tree_state(ws.root / "t2"))


def test_newer_repository_format_is_refused(ws: Workspace, manager: SnapshotManager) -> None:
    manager.create("base")
    config = ws.repo / "config"
    config.write_text(config.read_text().replace('"version": 1', '"version": 99'))
    before = object_names(ws.repo)
    with pytest.raises(RepositoryError, match="version 99"):
        manager.list_snapshots()
    with pytest.raises(RepositoryError, match="version 99"):
        manager.create("again")
    assert object_names(ws.repo) == before


def test_not_a_repository(ws: Workspace) -> None:
    other = ws.root / "somebody-elses-dir"
    other.mkdir()
    (other / "thesis.tex").write_text("important")
    manager = ws.manager(repository=str(other))
    with pytest.raises(RepositoryError, match="not a snapstore repository"):
        manager.list_snapshots()
    with pytest.raises(RepositoryError, match="not empty and not a snapstore repository"):
        manager.create("x")
    assert sorted(p.name for p in other.iterdir()) == ["thesis.tex"]


def test_bulk_root_that_is_a_symlink(ws: Workspace) -> None:
    """A bulk path that links to a data disk: captured as the directory, restored into it,
    and the link stays a link (it is not replaced by a directory on the wrong disk)."""
    real = ws.root / "data-disk" / "experiments"
    real.parent.mkdir()
    os.rename(ws.bulk, real)
    os.symlink(real, ws.bulk)
    manager = ws.manager()
    original = tree_state(real)
    name = manager.create("through a link").snapshot.snapshot_name
    manager.restore_snapshot(name, confirm=True, target=str(ws.root / "copy"))
    assert_same_tree(original, tree_state(ws.root / "copy"))
    (real / "notes.txt").write_text("changed")
    manager.restore_snapshot(name, confirm=True)
    assert ws.bulk.is_symlink() and os.readlink(ws.bulk) == str(real)
    assert_same_tree(original, tree_state(real))
    no_staging_left(ws.root)
    no_staging_left(real.parent)


def test_two_bulk_roots_with_the_same_name(ws: Workspace) -> None:
    second = ws.root / "elsewhere" / "bulk"
    second.mkdir(parents=True)
    (second / "other.txt").write_text("second root")
    manager = ws.manager(bulk=(str(ws.bulk), str(second)))
    states = {ws.bulk: tree_state(ws.bulk), second: tree_state(second)}
    snap = manager.create("two roots").snapshot
    assert snap.bulk_roots == (str(ws.bulk), str(second))
    target = ws.root / "restored"
    manager.restore_snapshot(snap.snapshot_name, confirm=True, target=str(target))
    assert sorted(p.name for p in target.iterdir()) == ["bulk", "bulk_2"]
    assert_same_tree(states[ws.bulk], tree_state(target / "bulk"))
    assert_same_tree(states[second], tree_state(target / "bulk_2"))
    (second / "other.txt").unlink()
    (ws.bulk / "notes.txt").unlink()
    manager.restore_snapshot(snap.snapshot_name, confirm=True)
    for root, state in states.items():
        assert_same_tree(state, tree_state(root))
