"""restic from Debian: repository format 2 with `--compression auto` (zstd), a fixed password.

restic compresses as it writes, so it has no "compress old snapshots" step. Backups run
from inside the source folder (`restic backup .`), which stores paths relative to it and
lets restic find the parent snapshot of the same folder for the unchanged re-snapshot.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.measure import Cmd, run_quiet
from bench.tools.base import EXCLUDES, Tool


class ResticTool(Tool):
    name = "restic"
    binary = "restic"
    debian_package = "restic"

    @classmethod
    def version(cls) -> str:
        done = run_quiet([cls.binary, "version"])
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    def env(self) -> dict[str, str | None]:
        return {
            **super().env(),
            "RESTIC_PASSWORD": "bench",
            "RESTIC_PASSWORD_FILE": None,
            "RESTIC_REPOSITORY": None,
            "RESTIC_COMPRESSION": None,
        }

    def _restic(self, *args: str, cwd: Path | None = None) -> Cmd:
        return self.cmd(
            "restic", "-r", str(self.paths.repo), "--compression", "auto", *args, cwd=cwd
        )

    def init(self, src: Path) -> list[Cmd]:
        return [self._restic("init", "--repository-version", "2")]

    def snapshot(self, src: Path, number: int) -> list[Cmd]:
        excludes = [f"--exclude={name}" for name in EXCLUDES]
        return [self._restic("backup", "--json", "--host", "bench", *excludes, ".", cwd=src)]

    def snapshot_id(self, number: int, stdout: str) -> str:
        for line in reversed(stdout.splitlines()):
            if '"summary"' in line:
                return str(json.loads(line)["snapshot_id"])
        raise ValueError("restic printed no summary with a snapshot_id")

    def restore(self, snapshot_id: str, dest: Path) -> list[Cmd]:
        return [self._restic("restore", snapshot_id, "--target", str(dest))]
