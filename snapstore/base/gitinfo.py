"""Git metadata of the project directory: full commit, branch, dirty flag (None outside git)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


def _git(directory: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def read_git_info(directory: str | Path) -> GitInfo:
    """Read commit, branch and dirty flag; no git, no repository or no commit gives Nones."""
    d = Path(directory)
    commit = _git(d, "rev-parse", "--verify", "-q", "HEAD")
    if not commit:
        return GitInfo()
    branch = _git(d, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(d, "status", "--porcelain", "--untracked-files=no")
    return GitInfo(
        commit=commit,
        branch=None if branch in (None, "HEAD") else branch,
        dirty=None if status is None else bool(status),
    )
