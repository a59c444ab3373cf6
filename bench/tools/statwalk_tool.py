"""The floor: a cold stat walk of the tree (``find`` printing every entry's size).

Not a backup tool: it keeps nothing. It stands in the report as the least any snapshot of
the tree must cost, a stat of every entry (the page cache is dropped before each phase, as
for every tool), so that an unchanged re-snapshot can be judged against it: a snapshot that
finds nothing changed should cost little more than finding that nothing changed.
"""

from __future__ import annotations

from pathlib import Path

from bench.measure import Cmd
from bench.tools.base import Tool

NOTHING_KEPT = "echo 'error: a stat walk keeps nothing to restore' >&2; exit 1"


class StatWalkTool(Tool):
    name = "stat-walk"
    binary = "find"
    optional_phases = frozenset({"restore"})

    def init(self, src: Path) -> list[Cmd]:
        return [self.cmd("mkdir", "-p", str(self.paths.repo))]

    def snapshot(self, src: Path, number: int) -> list[Cmd]:
        # %s needs each entry's lstat, as a snapshot's change check does.
        return [self.cmd("find", str(src), "-printf", "%s\\n")]

    def restore(self, snapshot_id: str, dest: Path) -> list[Cmd]:
        return [self.cmd("sh", "-c", NOTHING_KEPT)]
