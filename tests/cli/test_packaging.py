"""The installed package's entry points work from any directory, not just the checkout:
``snapstore``, ``python -m snapstore``, the seed's ``python -m tools.backup.cli`` and
``from tools.backup import SnapshotManager``; and our ``tools`` namespace portion never
shadows a user's own ``tools`` package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT


def _run(cwd: Path, *args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_entry_points_work_outside_the_checkout(tmp_path: Path) -> None:
    assert not (tmp_path / "snapstore").exists() and tmp_path != REPO_ROOT
    r = _run(tmp_path, "-m", "snapstore", "--version")
    assert r.returncode == 0 and "snapstore, version" in r.stdout, r.stderr
    r = _run(tmp_path, "-m", "tools.backup.cli", "list", "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout, r.stderr
    r = _run(tmp_path, "-c", "from tools.backup import SnapshotManager; print(SnapshotManager)")
    assert r.returncode == 0 and "SnapshotManager" in r.stdout, r.stderr


def test_a_users_own_tools_package_is_not_shadowed(tmp_path: Path) -> None:
    own = tmp_path / "tools"
    own.mkdir()
    (own / "__init__.py").write_text("")
    (own / "mine.py").write_text("VALUE = 'the user'\n")
    r = _run(
        tmp_path / "..",
        "-c",
        "import tools.mine; print(tools.mine.VALUE)",
        pythonpath=str(tmp_path),
    )
    assert r.returncode == 0 and "the user" in r.stdout, r.stderr


def test_the_checkout_has_no_top_level_cli_package() -> None:
    # A generic top-level `cli` package would be installed into site-packages.
    assert not (REPO_ROOT / "cli").exists()
    assert not (REPO_ROOT / "tools" / "__init__.py").exists()
