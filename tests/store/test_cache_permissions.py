"""The local cache is private like the repository (spec/repository.md, "Local cache"): its
index copy and its restore records (which list every restored path) are 0600 in 0700
folders whatever the umask, and a cache left 0755/0644 by an older version is tightened."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tests.helpers import Workspace, created_name, ok


def _run(ws: Workspace, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return ok(
        subprocess.run(
            ws.cli_command(*args),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ws.root,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: os.umask(0o022),
        )
    )


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def _assert_private(root: Path) -> None:
    for rel, mode in _modes(root).items():
        wanted = 0o700 if (root / rel).is_dir() else 0o600
        assert mode == wanted, f"{rel}: {oct(mode)}"


def test_the_cache_is_private_whatever_the_umask(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    cache_root = tmp_path / "not-yet" / "cache"  # snapstore makes every missing folder
    env = ws.env(SNAPSTORE_CACHE_DIR=str(cache_root))
    name = created_name(_run(ws, "create", "first", "-q", env=env).stdout)
    (ws.bulk / "notes.txt").write_text("changed\n")
    _run(ws, "restore", name, "--yes", "--no-safety-snapshot", env=env)  # writes a record
    records = list(cache_root.glob("*/restored/*"))
    assert records, "the restore wrote no record"
    _assert_private(cache_root)
    assert stat.S_IMODE((tmp_path / "not-yet").stat().st_mode) == 0o700


def test_an_old_world_readable_cache_is_made_private(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    env = ws.env()
    name = created_name(_run(ws, "create", "first", "-q", env=env).stdout)
    _run(ws, "restore", name, "--yes", "--no-safety-snapshot", env=env)
    for p in [*ws.cache.rglob("*")]:  # as an older version left it
        p.chmod(0o755 if p.is_dir() else 0o644)
    (ws.bulk / "notes.txt").write_text("changed again\n")
    _run(ws, "restore", name, "--yes", "--no-safety-snapshot", env=env)
    for repo_cache in ws.cache.iterdir():
        _assert_private(repo_cache)
