"""Where a restore writes comes from the configuration, never from the repository
(spec/restore.md, "Targets"), and snapstore's own folders inside a bulk root are neither
captured nor replaced (spec/restore.md, "What restore keeps").

Forged snapshots are restored only inside the read-only sandbox (tests/restore/sandbox.py),
and every path they name lies inside the test's tmp folder.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import (
    Node,
    Workspace,
    assert_same_tree,
    created_name,
    error_line,
    ok,
    tree_state,
)
from tests.restore.sandbox import run_sandboxed
from tests.restore.tools import edit_snapshot, snapshot_of


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.make(tmp_path)
    w.auto_cleanup = False
    return w


def _aim(ws: Workspace, name: str, path: Path) -> None:
    """Forge snapshot ``name``: its bulk root now says ``path`` (checksum recomputed)."""

    def change(store: ChunkStore, m: Manifest) -> None:
        assert m.bulk is not None
        m.bulk[0].path = str(path)

    edit_snapshot(ws, name, change)


def _victim(ws: Workspace) -> Path:
    """A folder inside the test's tmp dir, outside the configured bulk root."""
    victim = ws.root / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "precious.txt").write_text("not the snapshot's to replace\n")
    (victim / "sub" / "more.bin").write_bytes(os.urandom(3000))
    return victim


@pytest.mark.parametrize("how", [(), ("--dry-run",), ("--include", "notes.txt")])
def test_a_forged_root_outside_the_configured_roots_is_not_restored_in_place(
    ws: Workspace, how: tuple[str, ...]
) -> None:
    name = snapshot_of(ws, "base")
    victim = _victim(ws)
    _aim(ws, name, victim)
    before, bulk_before = tree_state(victim), tree_state(ws.bulk)
    args = ("restore", name, "--no-db", *how) + (() if "--dry-run" in how else ("--yes",))
    r = run_sandboxed(ws, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = error_line(r.stderr, name, str(victim), "--target")
    assert "not a configured bulk root" in line
    assert r.stdout == ""  # not even a dry run's listing of what it would remove
    assert_same_tree(before, tree_state(victim), "the forged root's folder")
    assert_same_tree(bulk_before, tree_state(ws.bulk), "the configured bulk root")
    assert [p.name for p in ws.root.iterdir() if ".snapstore-" in p.name] == []


def test_a_forged_root_restores_only_where_the_user_says(ws: Workspace) -> None:
    name = snapshot_of(ws, "base")
    victim = _victim(ws)
    _aim(ws, name, victim)
    out = ws.root / "out"
    ok(run_sandboxed(ws, "restore", name, "--no-db", "--yes", "--target", str(out)))
    assert (out / "notes.txt").read_text() == (ws.bulk / "notes.txt").read_text()
    assert (victim / "precious.txt").exists()


def test_after_the_bulk_path_changed_the_error_says_what_to_type(ws: Workspace) -> None:
    name = snapshot_of(ws, "base")
    new = ws.root / "new bulk"  # a space: the command it prints must still be typeable
    new.mkdir()
    (new / "today.txt").write_text("written after the move\n")
    env = ws.env(SNAPSTORE_BULK=str(new))
    r = ws.run("restore", name, "--no-db", "--yes", env=env)
    assert r.returncode == 2
    line = error_line(r.stderr, str(ws.bulk), str(new))
    typed = line.split("(--target ", 1)[1].split(" to put it there)")[0]
    assert shlex.split(typed) == [str(new)]
    assert (new / "today.txt").exists()
    ok(ws.run("restore", name, "--no-db", "--yes", "--target", *shlex.split(typed), env=env))
    assert (new / "notes.txt").read_text() == "experiment notes\n" * 20
    assert not (new / "today.txt").exists()


def test_the_way_back_from_a_target_restore_is_printed_and_works(ws: Workspace) -> None:
    first = snapshot_of(ws, "first")
    out = ws.root / "look"
    out.mkdir()
    (out / "mine.txt").write_text("the user's own file in the target\n")
    before = tree_state(out)
    r = ok(ws.run("restore", first, "--no-db", "--yes", "--target", str(out)))
    assert not (out / "mine.txt").exists()
    back = [ln for ln in r.stderr.splitlines() if "to go back: " in ln]
    assert len(back) == 1, r.stderr
    command = shlex.split(back[0].split("to go back: ", 1)[1])
    assert command[:2] == ["snapstore", "restore"] and "--target" in command
    # Typed without --target, the refusal names the folder to put it back into.
    plain = ws.run("restore", command[2], "--yes")
    assert plain.returncode == 2
    error_line(plain.stderr, f"--target {out} puts it back")
    ok(ws.run(*command[1:], "--yes", "--no-safety-snapshot"))
    assert_same_tree(before, tree_state(out), "the target after going back")


def test_a_safety_snapshot_of_the_configured_root_restores_in_place(ws: Workspace) -> None:
    base = snapshot_of(ws, "base")
    (ws.bulk / "notes.txt").write_text("changed after base\n")
    before = tree_state(ws.bulk)
    r = ok(ws.run("restore", base, "--no-db", "--yes"))
    assert "to go back" not in r.stderr  # in place: `snapstore restore SAFETY` is the way
    safety = r.stderr.split("Safety snapshot taken: ", 1)[1].split()[0]
    ok(ws.run("restore", safety, "--no-db", "--yes", "--no-safety-snapshot"))
    assert_same_tree(before, tree_state(ws.bulk))


# -- the repository inside the bulk tree ---------------------------------------------------------


def _inside(ws: Workspace) -> Workspace:
    """``ws`` with its repository and cache inside the bulk root."""
    ws.repo = ws.bulk / "snapshots"
    ws.cache = ws.bulk / "work" / "cache"
    return ws


def test_a_repository_inside_the_bulk_root_is_left_out_and_kept(ws: Workspace) -> None:
    ws = _inside(ws)
    r = ok(ws.run("create", "base", "--no-db"))
    base = created_name(r.stdout)
    assert r.stderr.count("Not captured: ") == 2, r.stderr  # the repository, the cache
    assert f"the repository {ws.repo} is inside bulk root {ws.bulk}" in r.stderr
    listed = [e["path"] for e in json.loads(ok(ws.run("ls", base, "-r", "--json")).stdout)]
    assert "notes.txt" in listed and "work" in listed, listed
    assert not [p for p in listed if p.startswith(("snapshots", "work/cache"))], listed
    # Change the files, take another snapshot, then go back to the first.
    (ws.bulk / "notes.txt").write_text("changed\n")
    (ws.bulk / "new.txt").write_text("new\n")
    second = created_name(ok(ws.run("create", "second", "--no-db")).stdout)
    dry = ok(ws.run("restore", base, "--no-db", "--dry-run", "--json"))
    changes = {(c["path"], c["change"]) for c in json.loads(dry.stdout)["files"]}
    assert changes == {("new.txt", "removed"), ("notes.txt", "modified")}, changes
    asked = ws.run("restore", base, "--no-db", input="no\n")
    assert f"Kept as it is: the repository {ws.repo}" in asked.stderr
    r = ok(ws.run("restore", base, "--no-db", "--yes"))
    assert (ws.bulk / "notes.txt").read_text() == "experiment notes\n" * 20
    assert not (ws.bulk / "new.txt").exists()
    names = [s["snapshot_name"] for s in json.loads(ok(ws.run("list", "--json")).stdout)]
    assert base in names and second in names and len(names) == 3  # + the safety snapshot
    ok(ws.run("check", "--read-data"))
    # The repository keeps working: another create and a restore of the second snapshot.
    third = created_name(ok(ws.run("create", "third", "--no-db")).stdout)
    ok(ws.run("restore", second, "--no-db", "--yes", "--no-safety-snapshot"))
    assert (ws.bulk / "new.txt").read_text() == "new\n"
    ok(ws.run("restore", third, "--no-db", "--yes", "--include", "notes.txt"))
    ok(ws.run("check"))


def test_an_older_snapshot_holding_the_folder_now_the_repository_does_not_replace_it(
    ws: Workspace,
) -> None:
    # The folder "store" is part of the data when the snapshot is taken; later the
    # repository moves there. Restoring the old snapshot keeps the repository as it is.
    (ws.bulk / "store").mkdir()
    (ws.bulk / "store" / "old.txt").write_text("data that once lived here\n")
    old = snapshot_of(ws, "old")
    for p in (ws.bulk / "store").iterdir():
        p.unlink()
    (ws.bulk / "store").rmdir()
    os.rename(ws.repo, ws.bulk / "store")
    ws.repo = ws.bulk / "store"
    before = tree_state(ws.repo)
    (ws.bulk / "notes.txt").write_text("changed\n")
    r = ok(ws.run("restore", old, "--no-db", "--yes", "--no-safety-snapshot"))
    assert (ws.bulk / "notes.txt").read_text() == "experiment notes\n" * 20, r.stderr
    assert not (ws.repo / "old.txt").exists()

    # Every object as it was (the lock and the spool folder are the restore's own).
    def objects(tree: dict[bytes, Node]) -> dict[bytes, Node]:
        return {p: n for p, n in tree.items() if p.split(b"/")[0] not in (b"locks", b"tmp")}

    assert_same_tree(objects(before), objects(tree_state(ws.repo)), "the repository")
    ok(ws.run("check", "--read-data"))


def test_including_a_path_inside_the_repository_is_refused(ws: Workspace) -> None:
    (ws.bulk / "store").mkdir()
    (ws.bulk / "store" / "old.txt").write_text("x\n")
    old = snapshot_of(ws, "old")
    (ws.bulk / "store" / "old.txt").unlink()
    (ws.bulk / "store").rmdir()
    os.rename(ws.repo, ws.bulk / "store")
    ws.repo = ws.bulk / "store"
    r = ws.run("restore", old, "--no-db", "--yes", "--include", "store/old.txt")
    assert r.returncode == 2
    error_line(r.stderr, "store/old.txt", "repository")
    assert not (ws.repo / "old.txt").exists()


def test_a_bulk_root_that_is_the_repository_is_refused(ws: Workspace) -> None:
    r = ws.run("create", "x", "--no-db", env=ws.env(SNAPSTORE_BULK=str(ws.root)))
    assert r.returncode == 0  # holding the repository is fine: it is left out
    r = ws.run("create", "x", "--no-db", env=ws.env(SNAPSTORE_BULK=str(ws.repo)))
    assert r.returncode == 2
    error_line(r.stderr, "is the repository")


def test_including_a_whole_root_that_holds_the_repository_keeps_it(ws: Workspace) -> None:
    # Two roots; ``--include bulk`` names the whole first root, which will hold the repository.
    other = ws.root / "other"
    other.mkdir()
    (other / "b.txt").write_text("b\n")
    env = ws.env(SNAPSTORE_BULK=f"{ws.bulk}:{other}")
    (ws.bulk / "store").mkdir()
    (ws.bulk / "store" / "old.txt").write_text("data that once lived here\n")
    old = created_name(ok(ws.run("create", "old", "--no-db", env=env)).stdout)
    (ws.bulk / "store" / "old.txt").unlink()
    (ws.bulk / "store").rmdir()
    os.rename(ws.repo, ws.bulk / "store")
    ws.repo = ws.bulk / "store"
    env = ws.env(SNAPSTORE_BULK=f"{ws.bulk}:{other}")
    (ws.bulk / "notes.txt").write_text("changed\n")
    ok(ws.run("restore", old, "--no-db", "--yes", "--include", "bulk", env=env))
    assert (ws.bulk / "notes.txt").read_text() == "experiment notes\n" * 20
    assert not (ws.repo / "old.txt").exists()
    ok(ws.run("check", "--read-data", env=env))


def test_a_target_inside_the_cache_is_refused(ws: Workspace) -> None:
    name = snapshot_of(ws, "base")
    r = ws.run("restore", name, "--no-db", "--yes", "--target", str(ws.cache / "restored"))
    assert r.returncode == 2
    error_line(r.stderr, "cache")
    assert not [p.name for p in ws.cache.iterdir() if "restored" in p.name], "wrote there"
