"""``restore --include``: only the named paths, folders or globs come back; nothing outside
them changes (not even metadata), folders become the snapshot's folders (with excluded names
kept), bad includes are one line, a symlink on the way is never followed, and a restore killed
at any filesystem step leaves every included path old or new, which the next ``check``
finishes or undoes without leftovers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.faults.killpoint import count_steps, run_killed_at
from tests.helpers import Node, Workspace, created_name, error_line, ok, tree_state

RESTORE = ["--yes", "--no-db", "--no-safety-snapshot"]


def _fill(bulk: Path) -> None:
    (bulk / "data" / "sub").mkdir(parents=True)
    (bulk / "data" / "b.csv").write_text("b,1\n" * 100)
    (bulk / "data" / "sub" / "c.csv").write_text("c,2\n")
    (bulk / "notes.txt").write_text("notes\n")
    (bulk / "proj").mkdir()
    (bulk / "proj" / "x.py").write_text("print(1)\n")


def _change(bulk: Path) -> None:
    (bulk / "data" / "b.csv").write_text("changed\n")
    (bulk / "data" / "sub" / "c.csv").unlink()
    (bulk / "data" / "new.csv").write_text("new\n")
    (bulk / "data" / ".git").mkdir()  # excluded: restore keeps it
    (bulk / "data" / ".git" / "HEAD").write_text("ref\n")
    (bulk / "notes.txt").write_text("changed notes\n")
    (bulk / "proj" / "x.py").write_text("print(2)\n")
    (bulk / "proj" / "y.py").write_text("new\n")


def _sub(state: dict[bytes, Node], prefix: bytes) -> dict[bytes, Node]:
    return {p: n for p, n in state.items() if p == prefix or p.startswith(prefix + b"/")}


def _outside(state: dict[bytes, Node], *prefixes: bytes) -> dict[bytes, Node]:
    inside = set()
    for prefix in prefixes:
        inside |= set(_sub(state, prefix))
    # The folders the parts sit in change their mtime when a name in them is swapped.
    parents = {os.path.dirname(p) for p in prefixes}
    return {p: n for p, n in state.items() if p not in inside and p not in parents}


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Workspace, str, dict[bytes, Node]]:
    ws = Workspace.make(tmp_path, populate=False)
    ws.auto_cleanup = False
    _fill(ws.bulk)
    snap = tree_state(ws.bulk, include_root=False)
    base = created_name(ok(ws.run("create", "base", "--no-db")).stdout)
    _change(ws.bulk)
    return ws, base, snap


def test_a_folder_comes_back_and_nothing_outside_changes(scene) -> None:
    ws, base, snap = scene
    before = tree_state(ws.bulk, include_root=False)
    r = ok(ws.run("restore", base, "--include", "data", *RESTORE))
    assert "Traceback" not in r.stderr
    after = tree_state(ws.bulk, include_root=False)
    assert _outside(after, b"data") == _outside(before, b"data")  # notes, proj: untouched
    restored = {p: n for p, n in _sub(after, b"data").items() if b".git" not in p}
    assert restored == _sub(snap, b"data")  # the snapshot's folder, exactly
    assert (ws.bulk / "data" / ".git" / "HEAD").read_text() == "ref\n"  # excluded: kept
    assert not [p for p in after if b".snapstore-" in p]


def test_globs_restore_matching_snapshot_files_only(scene) -> None:
    ws, base, snap = scene
    before = tree_state(ws.bulk, include_root=False)
    ok(ws.run("restore", base, "--include", "*.py", "--include", "notes.txt", *RESTORE))
    after = tree_state(ws.bulk, include_root=False)
    assert after[b"proj/x.py"] == snap[b"proj/x.py"] and after[b"notes.txt"] == snap[b"notes.txt"]
    # A live file the snapshot lacks is not the snapshot's to remove, even if it matches.
    assert (ws.bulk / "proj" / "y.py").read_text() == "new\n"
    assert _outside(after, b"proj/x.py", b"notes.txt") == _outside(
        before, b"proj/x.py", b"notes.txt"
    )


def test_into_a_target_only_the_included_paths_are_written(scene, tmp_path: Path) -> None:
    ws, base, snap = scene
    out = tmp_path / "out"
    r = ok(ws.run("restore", base, "--include", "data/sub", "--target", str(out), *RESTORE))
    assert str(out / "data" / "sub") in r.stderr  # the per-path report (info lines)
    got = tree_state(out, include_root=False)
    assert set(got) == {b"data", b"data/sub", b"data/sub/c.csv"}
    assert got[b"data/sub/c.csv"] == snap[b"data/sub/c.csv"]


def test_the_prompt_names_only_the_included_paths(scene) -> None:
    ws, base, _ = scene
    r = ws.run("restore", base, "--include", "data", "--no-db", input="no\n")
    assert r.returncode != 0
    assert "only these paths (nothing else changes):" in r.stderr and "data/" in r.stderr
    assert "REPLACE the included paths!" in r.stderr and "database" not in r.stderr.split("⚠")[1]
    assert (ws.bulk / "data" / "new.csv").exists()  # nothing done


def test_bad_includes_are_one_line_and_change_nothing(scene, tmp_path: Path) -> None:
    ws, base, _ = scene
    before = tree_state(ws.bulk, include_root=False)
    for include, code, words in (
        ("nope.txt", 2, "--include nope.txt is not in snapshot"),
        ("*.xlsx", 2, "--include *.xlsx matches nothing in snapshot"),
        ("../etc", 2, "leaves the snapshot"),
        (".", 2, "names the whole snapshot"),
    ):
        r = ws.run("restore", base, "--include", include, *RESTORE)
        assert r.returncode == code, (include, r.stderr)
        error_line(r.stderr, words)
    # A symlink on the way is never followed: data -> a folder outside the bulk tree.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(ws.bulk / "data")
    os.symlink(elsewhere, ws.bulk / "data")
    before = tree_state(ws.bulk, include_root=False)
    r = ws.run("restore", base, "--include", "data/b.csv", *RESTORE)
    assert r.returncode == 1
    error_line(r.stderr, "is a symlink, and restore never writes through one")
    assert list(elsewhere.iterdir()) == []
    assert tree_state(ws.bulk, include_root=False) == before


def test_killed_at_every_step_each_part_is_old_or_new_and_check_cleans_up(
    tmp_path: Path,
) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    ws.auto_cleanup = False
    _fill(ws.bulk)
    new = tree_state(ws.bulk, include_root=False)
    base = created_name(ok(ws.run("create", "base", "--no-db")).stdout)
    _change(ws.bulk)
    old = tree_state(ws.bulk, include_root=False)
    pristine = tmp_path / "pristine"
    shutil.copytree(ws.bulk, pristine, symlinks=True)
    parts = (b"data", b"notes.txt")
    args = ["restore", base, "--include", "data", "--include", "notes.txt", *RESTORE]
    env = ws.env()

    def state_of(part: bytes) -> str:
        now = _sub(tree_state(ws.bulk, include_root=False), part)
        now = {p: n for p, n in now.items() if b".git" not in p}
        want_old = {p: n for p, n in _sub(old, part).items() if b".git" not in p}
        return "old" if now == want_old else "new" if now == _sub(new, part) else "mixed"

    def leftovers() -> list[str]:
        # Inside the tree (staging beside the parts) and beside it (journal, parts file).
        near = [*ws.bulk.rglob("*"), *ws.bulk.parent.iterdir()]
        return [str(p) for p in near if ".snapstore-" in p.name]

    # Steps beside the tree count too: the journal and the parts file are written there.
    steps = count_steps(args, [ws.bulk.parent], env)
    assert steps.result.returncode == 0, steps.result.stderr
    assert steps.total > 5, steps.events
    for step in range(1, steps.total + 1):
        shutil.rmtree(ws.bulk)
        shutil.copytree(pristine, ws.bulk, symlinks=True)
        killed = run_killed_at(args, [ws.bulk.parent], step, env)
        assert killed.returncode == -9, (step, killed.stderr)
        assert "mixed" not in [state_of(p) for p in parts], (step, leftovers())
        after = ws.run("check")
        assert after.returncode == 0 and "Traceback" not in after.stderr, (step, after.stderr)
        assert leftovers() == [], (step, after.stderr)
        states = [state_of(p) for p in parts]
        assert "mixed" not in states, (step, states)
        now = tree_state(ws.bulk, include_root=False)
        assert _outside(now, *parts) == _outside(old, *parts), step


def test_dry_run_lists_only_the_changes_inside_the_included_paths(scene) -> None:
    ws, base, _ = scene
    before = tree_state(ws.bulk, include_root=False)
    r = ok(ws.run("restore", base, "--include", "data", "--no-db", "--dry-run", "--json"))
    changed = {c["path"]: c["change"] for c in json.loads(r.stdout)["files"]}
    # In data/: b.csv modified, new.csv removed, sub/c.csv added; .git is kept (excluded).
    assert changed == {
        "data/b.csv": "modified",
        "data/new.csv": "removed",
        "data/sub/c.csv": "added",
    }, changed
    assert tree_state(ws.bulk, include_root=False) == before  # a dry run changes nothing


def test_a_glob_of_many_files_writes_one_journal(tmp_path: Path) -> None:
    """The journal of a partial restore sits beside the bulk root: one durable write however
    many paths the include matched (not one copy of every entry beside every path)."""
    ws = Workspace.make(tmp_path, populate=False)
    ws.auto_cleanup = False
    for i in range(12):
        (ws.bulk / f"d{i}").mkdir()
        (ws.bulk / f"d{i}" / "r.csv").write_text(f"{i}\n")
    base = created_name(ok(ws.run("create", "base", "--no-db")).stdout)
    for i in range(12):
        (ws.bulk / f"d{i}" / "r.csv").write_text("changed\n")
    steps = count_steps(["restore", base, "--include", "*.csv", *RESTORE], [tmp_path], ws.env())
    assert steps.result.returncode == 0, steps.result.stderr
    journals = [e for e in steps.events if e.startswith("os.rename") and ".snapstore-restore-" in e]
    assert len(journals) == 1, journals
    assert all((ws.bulk / f"d{i}" / "r.csv").read_text() == f"{i}\n" for i in range(12))
