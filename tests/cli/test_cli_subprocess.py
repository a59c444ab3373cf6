"""The command line as a user runs it: ``python -m tools.backup.cli`` in real processes, the
seed's programmatic usage, real stdin, signals, a real full disk (tmpfs), a real read-only
target, a real unreadable file (the create runs as user nobody), and creates killed at random
moments (spec/README.md, promises 1, 2, 4, 5)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.store.config import ChunkerParams, RepoConfig, write_config
from tests.helpers import (
    IS_ROOT,
    PYTHON,
    REPO_ROOT,
    Workspace,
    assert_same_tree,
    big_tree,
    created_name,
    error_line,
    object_names,
    ok,
    other_user,
    pack_files,
    tree_state,
)


def test_seed_commands_in_real_processes(ws: Workspace) -> None:
    original = tree_state(ws.bulk)
    first = created_name(ok(ws.run("create", "Before CF validation Phase 4")).stdout)
    assert first.endswith("_before_cf_validation_phase_4")
    base = created_name(ok(ws.run("create", "Production baseline", "--permanent")).stdout)

    listed = ok(ws.run("list")).stdout
    assert listed.startswith("Found 2 snapshot(s):\n\n")
    assert f"📌 {base}\n   Production baseline\n   Created: " in listed
    assert f"📦 {first}\n   Before CF validation Phase 4\n   Created: " in listed
    assert listed.index(base) < listed.index(first), "newest first"
    verbose = ok(ws.run("list", "--verbose")).stdout
    assert "   Git: not a git repository" in verbose and "   Stored: " in verbose

    (ws.bulk / "notes.txt").write_text("the experiment went wrong")
    (ws.bulk / "data" / "weights.bin").unlink()
    r = ok(ws.run("restore", first, "--yes"))
    assert "Restoring snapshot..." in r.stdout
    assert "✓ Snapshot restored successfully" in r.stdout
    assert_same_tree(original, tree_state(ws.bulk))
    assert "[safety]" in ok(ws.run("list")).stdout

    r = ok(ws.run("delete", first, "--yes"))
    assert f"✓ Snapshot deleted: {first}" in r.stdout
    r = ws.run("delete", base, "--yes")
    assert r.returncode == 2
    error_line(r.stderr, "permanent", "--force")
    ok(ws.run("delete", base, "--force", "--yes"))
    remaining = json.loads(ok(ws.run("list", "--json")).stdout)
    assert [d["permanent"] for d in remaining] == [False]  # only the safety snapshot is left
    assert "✓ Repository is healthy" in ok(ws.run("check", "--read-data")).stdout


def test_programmatic_usage_from_the_seed(ws: Workspace) -> None:
    """The README's "Programmatic Usage" block, verbatim, run from the repository root."""
    script = textwrap.dedent(
        """
        from tools.backup import SnapshotManager

        # Initialize
        manager = SnapshotManager()

        # Create snapshot
        snapshot_name = manager.create_snapshot(
            description="Before experiment",
            permanent=False,
            include_bulk=True,
        )

        # List snapshots
        snapshots = manager.list_snapshots()
        for snapshot in snapshots:
            print(f"{snapshot.snapshot_name}: {snapshot.description}")

        # Restore snapshot
        manager.restore_snapshot(
            snapshot_name=snapshot_name,
            confirm=True,  # Must be True for safety
            restore_bulk=True,
        )

        # Apply retention policy
        manager.apply_retention_policy(dry_run=False)
        """
    )
    original = tree_state(ws.bulk)
    env = ws.env()
    env.pop("SNAPSTORE_PROJECT_DIR")
    r = subprocess.run(
        [PYTHON, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ok(r)
    (line,) = r.stdout.splitlines()
    assert line.endswith("_before_experiment: Before experiment")
    assert_same_tree(original, tree_state(ws.bulk))
    snaps = ws.manager().list_snapshots()
    assert {s.kind for s in snaps} == {"regular", "safety"}


@pytest.mark.parametrize("stdin", ["no\n", None])
def test_prompt_over_real_stdin(ws: Workspace, stdin: str | None) -> None:
    name = created_name(ok(ws.run("create", "base")).stdout)
    (ws.bulk / "notes.txt").write_text("keep me")
    before, repo_before = tree_state(ws.bulk), object_names(ws.repo)
    r = ws.run("restore", name, input=stdin)  # None: stdin is /dev/null
    assert r.returncode == 1
    error_line(r.stderr, "cancelled" if stdin else "not confirmed", alone=False)
    assert tree_state(ws.bulk) == before
    assert object_names(ws.repo) == repo_before


def test_bad_input_in_a_real_process(ws: Workspace) -> None:
    ok(ws.run("create", "base"))
    for argv, code in (
        (["restore", "metis_20200101_000000_missing", "--yes"], 2),
        (["--repo", str(ws.bulk), "list"], 1),
        (["create", "x", "--no-bulk", "--no-db"], 2),
    ):
        r = ws.run(*argv)
        assert r.returncode == code, r.stderr
        error_line(r.stderr)


# -- interrupting and killing ----------------------------------------------------------------


def test_sigint_during_restore_leaves_the_old_tree(ws: Workspace) -> None:
    big_tree(ws.bulk, files=300, size=100_000, seed=1)
    name = ws.manager().create("big").snapshot.snapshot_name
    for child in ws.bulk.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    (ws.bulk / "current.txt").write_text("what the user has now")
    current = tree_state(ws.bulk)
    for _attempt in range(3):
        proc = ws.popen("restore", name, "--yes", "--no-safety-snapshot")
        deadline = time.monotonic() + 60
        staged = None
        while proc.poll() is None and time.monotonic() < deadline:
            staged = next(ws.root.glob(".bulk.snapstore-staging-*/dir0/file0010.bin"), None)
            if staged:
                break
            time.sleep(0.002)
        if staged is None:  # finished before we could interrupt it: try again
            proc.communicate()
            continue
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            continue
        assert proc.returncode == 130, err
        error_line(err, "interrupted", alone=False)
        assert_same_tree(current, tree_state(ws.bulk), "after an interrupted restore")
        assert not [p.name for p in ws.root.iterdir() if ".snapstore-" in p.name]
        return
    pytest.fail("could not interrupt a restore in three attempts")


def test_killed_creates_leave_only_complete_snapshots(ws: Workspace) -> None:
    """Promise 1 and 2: SIGKILL a create at random moments; list shows only complete snapshots,
    check passes, and each listed snapshot restores what was there when it was taken."""
    shutil.rmtree(ws.bulk)
    ws.bulk.mkdir()
    write_config(
        LocalBackend(ws.repo),
        RepoConfig(
            chunker=ChunkerParams(min_size=16 * 1024, avg_size=64 * 1024, max_size=256 * 1024),
            pack_size=256 * 1024,
        ),
    )
    rng = random.Random(20251007)
    expected: dict[str, dict[bytes, object]] = {}
    started = time.monotonic()
    ok(ws.run("create", "warm up"))
    full = time.monotonic() - started
    expected.update({s.snapshot_name: tree_state(ws.bulk) for s in ws.manager().list_snapshots()})
    for attempt in range(6):
        (ws.bulk / f"attempt{attempt}.bin").write_bytes(rng.randbytes(3_000_000))
        state = tree_state(ws.bulk)
        packs_before = len(pack_files(ws.repo))
        proc = ws.popen("create", f"attempt {attempt}")
        if attempt % 3 == 0:  # at a random time
            time.sleep(rng.uniform(0.05, full + 0.4))
        else:  # after a random number of packs: certainly in the middle of writing
            want = packs_before + rng.randint(1, 8)
            while proc.poll() is None and len(pack_files(ws.repo)) < want:
                time.sleep(0.001)
        proc.kill()
        proc.communicate()
        for s in ws.manager().list_snapshots():
            expected.setdefault(s.snapshot_name, state)
    manager = ws.manager()
    listed = {s.snapshot_name for s in manager.list_snapshots()}
    assert listed == set(expected)
    report = manager.check(read_data=True)
    assert report.ok, report.errors
    assert any("not indexed" in w for w in report.warnings), "no kill hit a create mid-write"
    for name, state in expected.items():
        target = ws.root / "verify"
        manager.restore_snapshot(name, confirm=True, target=str(target), safety_snapshot=False)
        assert_same_tree(state, tree_state(target), name)  # type: ignore[arg-type]
        shutil.rmtree(target)
    # The repository stays usable: the dead processes' locks do not block a new create.
    r = ok(ws.run("create", "after the crashes"))
    assert "ignoring stale lock" in r.stderr or "warning" not in r.stderr


# -- real resource failures ------------------------------------------------------------------


@contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_during_create(ws: Workspace) -> None:
    with tmpfs(ws.root / "small-disk", "size=2m") as disk:
        repo = disk / "repo"
        env = ws.env(SNAPSTORE_REPO=str(repo))
        first = created_name(ok(ws.run("create", "fits", env=env)).stdout)
        big_tree(ws.bulk / "big", files=6, size=1_000_000, seed=5)
        before = object_names(repo)
        r = ws.run("create", "does not fit", env=env)
        assert r.returncode == 1
        error_line(r.stderr, "disk full", alone=False)
        listed = json.loads(ok(ws.run("list", "--json", env=env)).stdout)
        assert [d["snapshot_name"] for d in listed] == [first]
        assert object_names(repo)["snapshots"] == before["snapshots"]
        shutil.rmtree(ws.bulk / "big")
        assert "✓ Repository is healthy" in ok(ws.run("check", "--read-data", env=env)).stdout
        assert not list((repo / "tmp").iterdir()), "no partial objects left in tmp/"
        created_name(ok(ws.run("create", "fits again", env=env)).stdout)


def test_restore_into_read_only_target(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "base")).stdout)
    with tmpfs(ws.root / "ro", "size=1m,ro") as ro:
        r = ws.run("restore", name, "--yes", "--target", str(ro / "target"))
        assert r.returncode != 0
        error_line(r.stderr, str(ro / "target"), alone=False)
        assert list(ro.iterdir()) == []


def test_unreadable_files_make_a_partial_snapshot(tmp_path: Path) -> None:
    """As root nothing is unreadable, so the create runs as user nobody (setpriv), on a tree
    where one file and one directory belong to root and deny everyone else."""
    if not IS_ROOT or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the create as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="snapstore-nobody-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        w = Workspace.make(base)
        for d in (w.cache, w.repo):
            d.mkdir()
            os.chown(d, 65534, 65534)
        secret = w.bulk / "data" / "secret.bin"
        secret.write_bytes(b"top secret")
        secret.chmod(0o000)
        locked = w.bulk / "locked"
        locked.mkdir()
        (locked / "inside").write_text("x")
        locked.chmod(0o000)
        for p in [w.bulk, *w.bulk.rglob("*")]:
            if p.is_dir() and p != locked and not p.is_symlink():
                p.chmod(0o755)
        # Probes with the real CLI; reaches a checkout in a 0700 folder through a view.
        nobody = other_user(65534, 65534, base / "view", w.env())
        r = subprocess.run(
            nobody.command("create", "partial one"),
            cwd=base,
            env=nobody.env(w.env()),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 3, r.stderr
        assert "Traceback" not in r.stderr
        assert f"cannot read {secret}: Permission denied" in r.stderr
        assert f"cannot list {locked}: Permission denied" in r.stderr
        error_line(r.stderr, "partial", alone=False)
        name = created_name(r.stdout)
        assert f"📦 {name} [partial]" in ok(w.run("list")).stdout
        shown = ok(w.run("show", name)).stdout
        assert "Partial: 2 path(s) could not be read" in shown and str(secret) in shown
        target = base / "restored"
        w.manager().restore_snapshot(name, confirm=True, target=str(target))
        assert (target / "data" / "weights.bin").read_bytes() == (
            w.bulk / "data" / "weights.bin"
        ).read_bytes()
        assert not (target / "data" / "secret.bin").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    """`snapstore list | head -5` is the reference's own workflow: when the reader closes
    the pipe early, snapstore stops quietly with exit 0 (no 'error: Broken pipe')."""
    ws = Workspace.make(tmp_path, populate=False)
    for i in range(3000):
        (ws.bulk / f"a-rather-long-file-name-so-the-listing-fills-the-pipe-{i:05}.txt").write_text(
            "x"
        )
    name = created_name(ok(ws.run("create", "many")).stdout)
    for args in (["ls", name, "--recursive"], ["list"], ["find", "*.txt"]):
        p = ws.popen(*args)
        assert p.stdout is not None and p.stderr is not None
        first = p.stdout.readline()
        p.stdout.close()  # the reader goes away, like `head -1`
        err = p.stderr.read()
        assert p.wait(timeout=60) == 0, (args, err)
        assert first and "Broken pipe" not in err and "Traceback" not in err, (args, err)
