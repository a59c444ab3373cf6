"""Reading a repository that cannot take a lock (spec/locking.md, "Reading without a lock"):
a read-only mount of a backup disk, a copy without write permission, and ``--no-lock``.

Read commands work and say in one line that they read without a lock; commands that write
refuse with one line and change nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.store.locking import RepositoryLock
from tests.helpers import (
    IS_ROOT,
    Workspace,
    assert_same_tree,
    created_name,
    error_line,
    object_names,
    ok,
    other_user,
    tree_state,
)

# (arguments, what stdout must hold); NAME and OTHER are the two snapshots.
READS = (
    (["list"], "Found 2 snapshot(s)"),
    (["list", "-v"], "Found 2 snapshot(s)"),
    (["show", "NAME"], "first"),
    (["ls", "NAME", "data"], "data/weights.bin"),
    (["find", "weights.bin"], "data/weights.bin"),
    (["diff", "NAME", "OTHER"], "notes.txt"),
    (["check", "--read-data"], "Repository is healthy"),
    (["cleanup", "--dry-run"], "Nothing was changed"),
)
WRITES = (
    ["create", "more"],
    ["delete", "NAME", "--yes"],
    ["gc"],
    ["cleanup", "--yes"],
    ["pin", "NAME"],
    ["archive", "NAME"],
    ["rebuild-index"],
)


def _two_snapshots(ws: Workspace) -> tuple[str, str]:
    name = created_name(ok(ws.run("create", "first", "-q")).stdout)
    (ws.bulk / "notes.txt").write_text("changed\n")
    other = created_name(ok(ws.run("create", "second", "-q", "--no-cleanup")).stdout)
    return name, other


def _fill(args: list[str], name: str, other: str) -> list[str]:
    return [{"NAME": name, "OTHER": other}.get(a, a) for a in args]


def _check_reads_and_writes(
    ws: Workspace,
    run: object,
    name: str,
    other: str,
    note: str,
    *,
    write_words: str,
    restorer_is_owner: bool = True,
) -> None:
    assert callable(run)
    before = object_names(ws.repo)
    for args, expected in READS:
        r = run(*_fill(args, name, other))
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert expected in r.stdout, (args, r.stdout)
        assert "Traceback" not in r.stderr and "error" not in r.stderr, (args, r.stderr)
    r = run("cat", name, "data/weights.bin", text=False)
    assert r.returncode == 0 and r.stdout == (ws.root / "weights.orig").read_bytes()
    assert note in r.stderr.decode()  # commands that print data say it too, on stderr
    r = run("ls", name, "--json")
    assert r.returncode == 0 and note in r.stderr and r.stdout.startswith("[")
    r = run("-q", "ls", name)
    assert r.returncode == 0 and "note:" not in r.stderr  # -q drops notes (not warnings)
    target = ws.root / "restored"
    r = run("restore", name, "--yes", "--target", str(target))
    assert r.returncode == 0, r.stderr
    assert note in r.stderr
    if restorer_is_owner:
        assert_same_tree(tree_state(ws.root / "first-tree"), tree_state(target))
    else:  # another user restores: the files are theirs, the rest is the snapshot's
        mine = {k: v._replace(uid=0, gid=0) for k, v in tree_state(target).items()}
        assert_same_tree(tree_state(ws.root / "first-tree"), mine)
    out = ws.root / "exported"
    r = run("export", name, str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "bulk_store").is_dir()
    for args in WRITES:
        r = run(*_fill(args, name, other))
        assert r.returncode != 0, (args, r.stdout)
        error_line(r.stderr, write_words, alone=False)
    r = run("restore", name, "--yes")  # in place: its safety snapshot would write
    assert r.returncode != 0
    error_line(r.stderr, "--no-safety-snapshot", alone=False)
    assert object_names(ws.repo) == before


def _prepare(ws: Workspace) -> tuple[str, str]:
    shutil.copy2(ws.bulk / "data" / "weights.bin", ws.root / "weights.orig")
    shutil.copytree(ws.bulk, ws.root / "first-tree", symlinks=True)
    return _two_snapshots(ws)


def _can_bind_mount(tmp: Path) -> str | None:
    """Why a private read-only bind mount cannot be made here (None: it can)."""
    if not IS_ROOT:
        return "needs root for mount --bind"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux)"
    a, b = tmp / "probe-a", tmp / "probe-b"
    a.mkdir()
    b.mkdir()
    script = 'mount --bind "$0" "$1" && mount -o remount,ro,bind "$1"'
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(a), str(b)],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"cannot bind mount: {probe.stderr.strip()}"


def test_a_read_only_mount_of_the_repository_is_read_without_a_lock(tmp_path: Path) -> None:
    why = _can_bind_mount(tmp_path)
    if why:
        pytest.skip(why)
    ws = Workspace.make(tmp_path)
    name, other = _prepare(ws)
    mounted = tmp_path / "backup-disk"
    mounted.mkdir()
    # The mount lives in a private mount namespace: it goes away with the command.
    script = 'mount --bind "$0" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    env = ws.env(SNAPSTORE_REPO=str(mounted))

    def run(*args: str, text: bool = True) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        command = ["unshare", "-m", "sh", "-c", script, str(ws.repo), str(mounted)]
        return subprocess.run(
            [*command, *ws.cli_command(*args)],
            capture_output=True,
            text=text,
            timeout=120,
            cwd=ws.root,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    _check_reads_and_writes(
        ws, run, name, other, "read-only file system", write_words="is read-only"
    )


def test_a_copy_without_write_permission_is_read_without_a_lock(tmp_path: Path) -> None:
    if IS_ROOT and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to read as another user (root writes anywhere)")
    # Root writes anywhere: as root the copy is read by user nobody, from a folder nobody
    # can reach (pytest's own tmp folders are 0700).
    base = Path(tempfile.mkdtemp(prefix="snapstore-ro-", dir="/tmp")) if IS_ROOT else tmp_path
    try:
        _copy_without_write_permission(base)
    finally:
        if IS_ROOT:
            shutil.rmtree(base, ignore_errors=True)


def _copy_without_write_permission(base: Path) -> None:
    ws = Workspace.make(base)
    name, other = _prepare(ws)
    cache = ws.cache
    if IS_ROOT:
        cache = base / "nobody-cache"
        cache.mkdir()
        os.chown(cache, 65534, 65534)
        base.chmod(0o777)  # nobody writes the restore and export targets here
        for p in [ws.root / "first-tree", ws.root / "weights.orig"]:
            for q in [p, *p.rglob("*")]:
                if not q.is_symlink():
                    q.chmod(0o755 if q.is_dir() else 0o644)
    for p in [ws.repo, *ws.repo.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    env = ws.env(SNAPSTORE_CACHE_DIR=str(cache), XDG_CONFIG_HOME=str(cache))
    command = ws.cli_command
    if IS_ROOT:
        # As user nobody, from a view of the checkout nobody can reach (a fresh clone in a
        # 0700 folder is out of its reach; tests/helpers.py other_user).
        view = base / "view"
        view.mkdir(mode=0o755)
        nobody = other_user(65534, 65534, view, env)
        command, env = nobody.command, nobody.env(env)

    def run(*args: str, text: bool = True) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return subprocess.run(
            command(*args),
            capture_output=True,
            text=text,
            timeout=120,
            cwd=ws.root,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    try:
        _check_reads_and_writes(
            ws,
            run,
            name,
            other,
            "reading without one",
            write_words="is read-only",
            restorer_is_owner=not IS_ROOT,
        )
    finally:
        for p in [ws.repo, *ws.repo.rglob("*")]:
            p.chmod(0o700 if p.is_dir() else 0o600)


def test_no_lock_reads_beside_an_exclusive_lock_and_writers_refuse_it(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    name, other = _two_snapshots(ws)
    before = object_names(ws.repo)
    held = RepositoryLock.acquire(LocalBackend(ws.repo), "gc", exclusive=True)
    try:
        r = ws.run("ls", name)
        assert r.returncode == 75  # the lock is honoured without --no-lock
        r = ok(ws.run("--no-lock", "ls", name))
        assert "notes.txt" in r.stdout
        ok(ws.run("cat", name, "notes.txt", "--no-lock"))
        target = tmp_path / "out"
        ok(ws.run("restore", name, "--yes", "--target", str(target), "--no-lock"))
        assert (target / "notes.txt").read_text() == "experiment notes\n" * 20
        assert "Repository is healthy" in ok(ws.run("--no-lock", "check")).stdout
    finally:
        held.release()
    for args in [*WRITES, ["unpin", "NAME"], ["unlock"], ["init"]]:
        r = ws.run("--no-lock", *_fill(args, name, other))
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        error_line(r.stderr, "--no-lock is for commands that only read")
    r = ws.run("--no-lock", "restore", name, "--yes")
    assert r.returncode == 2
    error_line(r.stderr, "--no-safety-snapshot", alone=False)
    assert object_names(ws.repo) == before
