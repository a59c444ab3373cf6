"""Trees thousands of levels deep (spec/restore.md, "Path length"): nothing walks them by
recursion, so a tree about 1,000 levels deep snapshots, restores in place and elsewhere,
exports, checks and lists like any other, and a restore of it killed mid-swap is finished by
the next ``check`` or ``unlock``. A tree whose paths do not fit in PATH_MAX is refused at
create with one line; a forged listing that deep is refused by restore and export with one
line, changing nothing.

The trees are built with ``mkdir`` relative to an open directory, so that building one
deeper than PATH_MAX works; they are read back the same way.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapstore.tree.pathmax import PATH_MAX, STAGING_ROOM
from snapstore.tree.remove import remove_directory
from tests.faults.killpoint import count_steps, run_killed_at
from tests.helpers import Workspace, created_name, ok
from tests.restore.tools import entry, set_listing, snapshot_of

DEEP = 1000
TOO_DEEP = 5000
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    """Remove what a test built: pytest's own clean-up of old temporary folders uses
    ``shutil.rmtree``, which these trees would make fail with RecursionError."""
    yield
    for p in tmp_path.iterdir():
        remove_directory(p)


def build_deep(root: Path, depth: int, every: int = 100) -> None:
    """``root/d/d/.../d`` ``depth`` levels deep, a file ``f`` every ``every`` levels."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, _DIR)
    try:
        for i in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
            if i % every == 0:
                out = os.open("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
                os.write(out, b"level %d\n" % i)
                os.close(out)
    finally:
        os.close(fd)


def state(root: Path) -> dict[bytes, tuple[str, int, bytes | None]]:
    """Every entry below ``root``: kind, permission bits, content (files) or target
    (symlinks). A loop over open directories, so any depth is read."""
    out: dict[bytes, tuple[str, int, bytes | None]] = {}
    top = os.open(root, _DIR)
    stack: list[tuple[int, bytes, list[str]]] = [(top, b"", sorted(os.listdir(top)))]
    while stack:
        fd, rel, names = stack[-1]
        if not names:
            os.close(fd)
            stack.pop()
            continue
        name = names.pop(0)
        path = rel + b"/" + os.fsencode(name) if rel else os.fsencode(name)
        st = os.lstat(name, dir_fd=fd)
        if stat.S_ISDIR(st.st_mode):
            out[path] = ("d", stat.S_IMODE(st.st_mode), None)
            child = os.open(name, _DIR, dir_fd=fd)
            stack.append((child, path, sorted(os.listdir(child))))
        elif stat.S_ISLNK(st.st_mode):
            out[path] = ("l", 0, os.fsencode(os.readlink(name, dir_fd=fd)))
        else:
            f = os.open(name, os.O_RDONLY, dir_fd=fd)
            try:
                data = os.read(f, st.st_size + 1)
            finally:
                os.close(f)
            out[path] = ("f", stat.S_IMODE(st.st_mode), data)
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".snapstore-" in p.name)


def _one_error_line(stderr: str, *needles: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(errors) == 1, stderr[-3000:]
    assert len(errors[0]) < 600, errors[0][:600]
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


def _deep_workspace(tmp: Path) -> tuple[Workspace, str, dict[bytes, tuple[str, int, bytes | None]]]:
    ws = Workspace.make(tmp, populate=False)
    ws.auto_cleanup = False
    build_deep(ws.bulk, DEEP)
    (ws.bulk / "top.txt").write_text("top\n")
    name = created_name(ok(ws.run("create", "deep", "--no-db")).stdout)
    return ws, name, state(ws.bulk)


def _change_deep(root: Path) -> None:
    """Change the bottom of the tree: a file rewritten, one added, a folder made read-only."""
    fd = os.open(root, _DIR)
    try:
        for _ in range(DEEP - 1):
            child = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open("added", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, b"added after the snapshot\n")
        os.close(out)
        os.chmod("d", 0o500, dir_fd=fd)
    finally:
        os.close(fd)
    (root / "top.txt").write_text("changed\n")


def test_a_1000_level_tree_restores_in_place_and_elsewhere(tmp_path: Path) -> None:
    ws, name, snap = _deep_workspace(tmp_path)
    _change_deep(ws.bulk)
    assert state(ws.bulk) != snap

    r = ok(ws.run("restore", name, "--yes", "--no-db", "--no-safety-snapshot"))
    assert "Traceback" not in r.stderr
    assert state(ws.bulk) == snap
    assert leftovers(tmp_path) == []

    target = tmp_path / "elsewhere"
    ok(ws.run("restore", name, "--yes", "--no-db", "--target", str(target)))
    assert state(target) == snap
    # Replacing an existing copy removes the replaced deep tree too.
    _change_deep(target)
    ok(ws.run("restore", name, "--yes", "--no-db", "--target", str(target)))
    assert state(target) == snap
    assert leftovers(tmp_path) == []

    check = ok(ws.run("check", "--read-data"))
    assert "healthy" in check.stdout, check.stdout + check.stderr
    ok(ws.run("unlock"))


def test_a_1000_level_tree_exports_lists_and_finds(tmp_path: Path) -> None:
    ws, name, snap = _deep_workspace(tmp_path)
    out = tmp_path / "exported"
    ok(ws.run("export", name, str(out)))
    assert state(out / "bulk_store" / "bulk") == snap
    tar = tmp_path / "exported.tar"
    ok(ws.run("export", name, "--tar", str(tar)))
    with tarfile.open(tar) as t:
        members = t.getnames()
    deepest = "/".join(["d"] * DEEP)
    assert any(m.endswith("bulk_store/bulk/" + deepest) for m in members)

    listed = ok(ws.run("ls", "-r", name)).stdout.split()
    assert deepest + "/" in listed or deepest in listed, listed[-3:]
    found = ok(ws.run("find", "f", "--snapshot", name)).stdout
    assert found.count("/f") + found.count(" f") >= DEEP // 100, found[-500:]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("when", ["at-swap", "after-swap"])
def test_a_deep_restore_killed_mid_swap_is_finished_by_check_and_unlock(
    tmp_path: Path, exchange: bool, when: str
) -> None:
    ws, name, snap = _deep_workspace(tmp_path)
    _change_deep(ws.bulk)
    changed = state(ws.bulk)
    env = ws.env()
    if not exchange:
        env["SNAPSTORE_RENAME_EXCHANGE"] = "0"
    args = ["restore", name, "--yes", "--no-db", "--no-safety-snapshot"]
    steps = count_steps(args, [tmp_path], env)
    assert steps.result.returncode == 0, steps.result.stderr[-2000:]
    swaps = [
        i
        for i, e in enumerate(steps.events, 1)
        if e.startswith("os.rename") and e.split()[-1] == str(ws.bulk)
    ]
    assert swaps, steps.events[-20:]
    step = swaps[0] if when == "at-swap" else swaps[-1] + 1
    for command in ("check", "unlock"):
        remove_directory(ws.bulk)
        for p in tmp_path.iterdir():
            if ".snapstore-" in p.name:
                remove_directory(p)
        build_deep(ws.bulk, DEEP)
        (ws.bulk / "top.txt").write_text("top\n")
        _change_deep(ws.bulk)
        assert state(ws.bulk) == changed
        killed = run_killed_at(args, [tmp_path], step, env)
        assert killed.returncode == -9, killed.stderr[-2000:]
        assert any(n.endswith(".json") for n in leftovers(tmp_path)), leftovers(tmp_path)
        after = ws.run(command, env=env)
        assert after.returncode == 0, after.stderr[-3000:]
        assert "Traceback" not in after.stderr
        assert "interrupted restore" in after.stderr, after.stderr[-2000:]
        assert leftovers(tmp_path) == [], (command, after.stderr[-2000:])
        assert state(ws.bulk) == snap  # committed: finished forward


def test_a_tree_deeper_than_path_max_is_refused_at_create_in_one_line(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    ws.auto_cleanup = False
    build_deep(ws.bulk, TOO_DEEP, every=1000)
    r = ws.run("create", "too deep", "--no-db")
    assert r.returncode != 0
    _one_error_line(r.stderr, "cannot snapshot", "PATH_MAX")
    listed = ok(ws.run("list", "--json")).stdout
    assert "too_deep" not in listed and "too deep" not in listed
    # The tree itself is fine, and removing it works at any depth.
    remove_directory(ws.bulk)
    assert not ws.bulk.exists()


def _forged(tmp: Path) -> tuple[Workspace, str]:
    """A snapshot whose listing holds a folder 5,000 levels deep (paths of 10,000 bytes)."""
    ws = Workspace.make(tmp)
    ws.auto_cleanup = False
    name = snapshot_of(ws, "forged")
    maps = [entry(b"", "d")]
    path = b""
    for _ in range(TOO_DEEP):
        path = path + b"/d" if path else b"d"
        maps.append(entry(path, "d"))
    maps.append(entry(path + b"/f"))
    set_listing(ws, name, maps)
    return ws, name


def test_a_forged_5000_level_listing_is_refused_by_restore_and_export(tmp_path: Path) -> None:
    ws, name = _forged(tmp_path)
    before = state(ws.bulk)
    r = ws.run("restore", name, "--yes", "--no-db", "--no-safety-snapshot")
    assert r.returncode != 0
    _one_error_line(r.stderr, "PATH_MAX")
    assert state(ws.bulk) == before and leftovers(tmp_path) == []

    target = tmp_path / "target"
    r = ws.run("restore", name, "--yes", "--no-db", "--target", str(target))
    assert r.returncode != 0
    _one_error_line(r.stderr, "PATH_MAX")
    assert not target.exists() and leftovers(tmp_path) == []

    out = tmp_path / "exported"
    r = ws.run("export", name, str(out))
    assert r.returncode != 0
    _one_error_line(r.stderr, "PATH_MAX", "--tar")
    assert not out.exists() and leftovers(tmp_path) == []

    # A tar has no path limit: the whole tree goes out.
    tar = tmp_path / "forged.tar"
    ok(ws.run("export", name, "--tar", str(tar)))
    with tarfile.open(tar) as t:
        assert sum(1 for m in t.getmembers() if m.isdir()) >= TOO_DEEP
    assert "d/" in ok(ws.run("ls", name)).stdout
    ok(ws.run("check"))


def _tree_reaching(root: Path, length: int) -> None:
    """A chain of ``d`` folders under ``root`` whose deepest file's absolute path is
    ``length`` bytes long."""
    base = len(os.fsencode(str(root)))
    levels = (length - 100 - base) // 2
    build_deep(root, levels, every=10**9)
    fd = os.open(root, _DIR)
    try:
        for _ in range(levels):
            child = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        name = "f" * (length - base - 2 * levels - 1)
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def test_a_tree_a_restore_could_not_stage_is_refused_at_create(tmp_path: Path) -> None:
    """Paths that fit at the bulk root but not at the staging name beside it: refused at
    create (a snapshot that cannot be restored in place would be found out too late); a
    tree with room for the staging name snapshots and restores in place."""
    ws = Workspace.make(tmp_path, populate=False)
    ws.auto_cleanup = False
    _tree_reaching(ws.bulk, PATH_MAX - 10)
    r = ws.run("create", "nearly too deep", "--no-db")
    assert r.returncode != 0
    _one_error_line(r.stderr, "cannot snapshot", "PATH_MAX", "staging name")

    remove_directory(ws.bulk)
    _tree_reaching(ws.bulk, PATH_MAX - STAGING_ROOM - 1)
    snap = state(ws.bulk)
    name = created_name(ok(ws.run("create", "deep but fits", "--no-db")).stdout)
    (ws.bulk / "changed").write_text("after the snapshot")
    ok(ws.run("restore", name, "--yes", "--no-db", "--no-safety-snapshot"))
    assert state(ws.bulk) == snap and leftovers(tmp_path) == []
