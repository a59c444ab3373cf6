"""BorgBackup from Debian: unencrypted repository (`-e none`), lz4 compression.

borg compresses as it writes, so it has no "compress old snapshots" step. Archives are
made from inside the source folder (`borg create REPO::NAME .`) and extracted from inside
the destination, so paths are relative on both sides. borg's fnmatch excludes match
whole paths, hence `sh:**/NAME` to exclude a name at any depth.
"""

from __future__ import annotations

from pathlib import Path

from bench.measure import Cmd
from bench.tools.base import EXCLUDES, Tool


class BorgTool(Tool):
    name = "borg"
    binary = "borg"
    debian_package = "borgbackup"

    def env(self) -> dict[str, str | None]:
        return {
            **super().env(),
            "BORG_BASE_DIR": str(self.paths.home / "borg"),  # cache, config, security dirs
            "BORG_REPO": None,
            "BORG_PASSPHRASE": None,
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }

    def init(self, src: Path) -> list[Cmd]:
        return [self.cmd("borg", "init", "-e", "none", str(self.paths.repo))]

    def snapshot(self, src: Path, number: int) -> list[Cmd]:
        excludes = [arg for name in EXCLUDES for arg in ("--exclude", f"sh:**/{name}")]
        archive = f"{self.paths.repo}::{self.snapshot_id(number, '')}"
        return [
            self.cmd("borg", "create", "--compression", "lz4", *excludes, archive, ".", cwd=src)
        ]

    def restore(self, snapshot_id: str, dest: Path) -> list[Cmd]:
        return [self.cmd("borg", "extract", f"{self.paths.repo}::{snapshot_id}", cwd=dest)]
