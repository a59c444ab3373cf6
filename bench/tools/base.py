"""The interface every benchmarked tool implements, and what they share.

A tool does not run anything itself: each method returns the command lines of one phase,
and the harness runs and measures them (`bench.measure`). That keeps the timing code in
one place and lets a tool's phase be several commands (the reference compresses each old
snapshot with its own `tar`).

Each tool gets a private `home` for caches and configuration, so runs do not share warm
caches, and a neutral working folder so no stray config file (`./snapstore.toml`) is read.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bench.layout import EXCLUDED_NAMES
from bench.measure import Cmd, run_quiet
from bench.treecmp import tree_bytes

EXCLUDES = tuple(sorted(EXCLUDED_NAMES))


@dataclass(frozen=True)
class ToolPaths:
    repo: Path  # the repository; missing until init
    home: Path  # private caches and config for this tool and run
    scratch: Path  # an empty working folder


class Tool(ABC):
    name: ClassVar[str]
    binary: ClassVar[str]  # executable looked up on PATH
    debian_package: ClassVar[str | None] = None
    # Phases whose failure means "not available (yet)" and is reported as n/a, not failed.
    optional_phases: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, paths: ToolPaths) -> None:
        self.paths = paths

    @classmethod
    def missing(cls) -> str | None:
        """Why this tool cannot run here, or None when it can."""
        if shutil.which(cls.binary) is None:
            return f"{cls.binary} not found on PATH"
        return None

    @classmethod
    def version(cls) -> str:
        done = run_quiet([cls.binary, "--version"])
        return (
            (done.stdout or done.stderr).strip().splitlines()[0]
            if done.returncode == 0
            else "unknown"
        )

    def env(self) -> dict[str, str | None]:
        """Environment for every command: caches under the private home."""
        return {
            "XDG_CACHE_HOME": str(self.paths.home / "cache"),
            "XDG_CONFIG_HOME": str(self.paths.home / "config"),
        }

    def cmd(self, *argv: str, cwd: Path | None = None) -> Cmd:
        return Cmd(tuple(argv), cwd=cwd or self.paths.scratch, env=self.env())

    @abstractmethod
    def init(self, src: Path) -> list[Cmd]:
        """Create an empty repository at `paths.repo`."""

    @abstractmethod
    def snapshot(self, src: Path, number: int) -> list[Cmd]:
        """Snapshot the tree `src`; `number` counts snapshots from 1 within a run."""

    def snapshot_id(self, number: int, stdout: str) -> str:
        """The id to restore the snapshot by; by default the name the tool was given."""
        return f"snap-{number:03d}"

    @abstractmethod
    def restore(self, snapshot_id: str, dest: Path) -> list[Cmd]:
        """Restore a snapshot into the empty folder `dest`."""

    def compress_old(self, snapshot_ids: Sequence[str]) -> list[Cmd] | None:
        """Compress the given (old) snapshots; None when the tool compresses as it writes."""
        return None

    def repo_bytes(self) -> int:
        return tree_bytes(self.paths.repo) if self.paths.repo.exists() else 0


def apt_install(package: str, say: Callable[[str], None]) -> str | None:
    """Install a Debian package; return None on success, else the reason it failed."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"install the Debian package {package} (needs root and apt-get)"
    say(f"installing the Debian package {package} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = run_quiet(["apt-get", "install", "-y", "-q", package], env=env)
    if done.returncode != 0:  # usually stale package lists on a fresh machine
        run_quiet(["apt-get", "update", "-q"], env=env)
        done = run_quiet(["apt-get", "install", "-y", "-q", package], env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        return f"apt-get install {package} failed: {tail[-1] if tail else done.returncode}"
    return None


def ensure_installed(tool: type[Tool], install: bool, say: Callable[[str], None]) -> str | None:
    """Install a missing tool from Debian when allowed; return why it is unavailable, or None."""
    reason = tool.missing()
    if reason is None or tool.debian_package is None:
        return reason
    if not install:
        return f"{reason} (installing is off)"
    say(f"{tool.name}: {reason}")
    failure = apt_install(tool.debian_package, say)
    if failure:
        return f"{reason}; {failure}"
    return tool.missing()
