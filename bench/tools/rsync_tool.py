"""The reference's way: a full rsync copy per snapshot, old snapshots packed with tar.gz.

This is what the original snapshot manager does (`rsync -a` with the same excludes into a
new folder per snapshot; `tar -czf` of snapshots older than a week, then the folder is
removed). Restore is an rsync of the snapshot folder back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.measure import Cmd
from bench.tools.base import EXCLUDES, Tool


class RsyncTool(Tool):
    name = "rsync"
    binary = "rsync"
    debian_package = "rsync"

    def init(self, src: Path) -> list[Cmd]:
        return [self.cmd("mkdir", "-p", str(self.paths.repo))]

    def snapshot(self, src: Path, number: int) -> list[Cmd]:
        dest = self.paths.repo / self.snapshot_id(number, "")
        excludes = [f"--exclude={name}" for name in EXCLUDES]
        return [self.cmd("rsync", "-a", *excludes, f"{src}/", f"{dest}/")]

    def restore(self, snapshot_id: str, dest: Path) -> list[Cmd]:
        archive = self.paths.repo / f"{snapshot_id}.tar.gz"
        if archive.exists():  # a compressed snapshot: unpack it instead
            return [self.cmd("tar", "-xzf", str(archive), "-C", str(dest), "--strip-components=1")]
        return [self.cmd("rsync", "-a", f"{self.paths.repo / snapshot_id}/", f"{dest}/")]

    def compress_old(self, snapshot_ids: Sequence[str]) -> list[Cmd] | None:
        # All of the run's snapshots count as old, as with `snapstore archive --older-than 0`.
        cmds: list[Cmd] = []
        for name in snapshot_ids:
            archive = str(self.paths.repo / f"{name}.tar.gz")
            cmds.append(self.cmd("tar", "-czf", archive, "-C", str(self.paths.repo), name))
            cmds.append(self.cmd("rm", "-rf", str(self.paths.repo / name)))
        return cmds
