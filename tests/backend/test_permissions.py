"""Repository permissions on disk (README, "Permissions and shared repositories"): private by
default whatever the umask (files 0600, folders 0700, like restic and borg), group mode from
the settings or from a repository folder an administrator shared, and a second user in the
group really writing to a shared repository. Real CLI processes, real modes, real users."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IS_ROOT, PYTHON, Workspace, created_name, ok

USERS_GID = 100  # the "users" group of Debian-like systems: a group that is not root's


def run_with_umask(
    ws: Workspace, umask: int, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ws.cli_command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ws.root,
        env=env or ws.env(),
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(umask),
    )


def modes(repo: Path) -> Iterator[tuple[Path, int, bool]]:
    """(path, permission bits with setgid, is a folder) of the repository and all it holds."""
    for p in [repo, *repo.rglob("*")]:
        st = p.lstat()
        yield p, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode)


def kinds_present(repo: Path) -> set[str]:
    return {p.relative_to(repo).parts[0] for p in repo.rglob("*") if p.is_file()}


def test_private_by_default_under_the_usual_umask(ws: Workspace) -> None:
    (ws.bulk / "notes.txt").chmod(0o644)
    ok(run_with_umask(ws, 0o022, "create", "private"))
    assert {"config", "reserve", "packs", "index", "snapshots"} <= kinds_present(ws.repo)
    for path, mode, is_dir in modes(ws.repo):
        assert mode == (0o700 if is_dir else 0o600), f"{path}: {oct(mode)}"


def test_group_mode_from_the_settings_is_not_narrowed_by_the_umask(ws: Workspace) -> None:
    env = ws.env(SNAPSTORE_PERMISSIONS="group")
    ok(run_with_umask(ws, 0o077, "create", "shared", env=env))
    for path, mode, is_dir in modes(ws.repo):
        assert mode == (0o2770 if is_dir else 0o640), f"{path}: {oct(mode)}"
    # Later writes follow the repository even without the setting: the folder says "group".
    ok(run_with_umask(ws, 0o077, "create", "second"))
    for path, mode, is_dir in modes(ws.repo):
        assert mode == (0o2770 if is_dir else 0o640), f"{path}: {oct(mode)}"


def test_group_mode_in_the_toml_file(ws: Workspace) -> None:
    (ws.root / "snapstore.toml").write_text('permissions = "group"\n')
    ok(run_with_umask(ws, 0o022, "init"))
    assert stat.S_IMODE((ws.repo / "config").stat().st_mode) == 0o640
    assert stat.S_IMODE((ws.repo / "locks").stat().st_mode) == 0o2770


@pytest.mark.skipif(
    not IS_ROOT or shutil.which("setpriv") is None, reason="needs root and setpriv for users"
)
def test_a_shared_repository_as_the_readme_sets_it_up() -> None:
    """An administrator makes the folder (chgrp to the group, chmod 2770); root creates a
    snapshot, then user nobody, a member of the group only, creates one and restores both."""
    base = Path(tempfile.mkdtemp(prefix="snapstore-group-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        ws = Workspace.make(base)
        for p in [ws.bulk, *ws.bulk.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() else 0o644)
        ws.repo.mkdir()
        os.chown(ws.repo, 0, USERS_GID)
        ws.repo.chmod(0o2770)
        first = created_name(ok(run_with_umask(ws, 0o022, "create", "by root")).stdout)

        other_cache = base / "nobody-cache"
        other_cache.mkdir()
        os.chown(other_cache, 65534, 65534)
        env = ws.env(SNAPSTORE_CACHE_DIR=str(other_cache), XDG_CONFIG_HOME=str(other_cache))
        as_nobody = ["setpriv", "--reuid=65534", f"--regid={USERS_GID}", "--clear-groups"]
        probe = subprocess.run([*as_nobody, PYTHON, "-c", "1"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot run this Python")

        def nobody(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*as_nobody, *ws.cli_command(*args)],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=base,
                env=env,
                preexec_fn=lambda: os.umask(0o077),
            )

        second = created_name(ok(nobody("create", "by a colleague")).stdout)
        # A folder of nobody's own to restore into (restore refuses one inside the cache).
        out = base / "nobody-out"
        out.mkdir()
        os.chown(out, 65534, 65534)
        for name in (first, second):
            ok(
                nobody(
                    "restore", name, "--yes", "--no-safety-snapshot", "--target", str(out / name)
                )
            )
        for path, mode, is_dir in modes(ws.repo):
            st = path.lstat()
            assert st.st_gid == USERS_GID, f"{path} is not in the group"
            assert mode == (0o2770 if is_dir else 0o640), f"{path}: {oct(mode)}"
        owners = {p.stat().st_uid for p in (ws.repo / "snapshots").iterdir()}
        assert owners == {0, 65534}
        assert "healthy" in ok(run_with_umask(ws, 0o022, "check", "--read-data")).stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)
