"""Take one tool through the phases of one run, on its own copy of the dataset.

Every tool and run gets a fresh area: a copy of the generated tree (`cp -a`, so modes,
mtimes and links are exact), an empty repository, a private home for caches. The change
step is applied to that copy with the same seed, so every tool sees identical data at the
same path for all its snapshots (which restic and borg need to find their parent snapshot
and reuse their files cache). The page cache is dropped before each timed phase when the
machine allows it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from bench.change import ChangeSummary, apply_change
from bench.measure import Cmd, drop_caches, run_measured
from bench.records import FAILED, NA, OK, SKIPPED, SNAPSHOT_PHASES, PhaseResult, ToolRun
from bench.results import Settings, say
from bench.tools import TOOLS, Tool, ToolPaths
from bench.treecmp import compare, tree_bytes

# ext4 skips inodes freed less than dirty_expire_centisecs ago (30 s by default) when it picks
# one for a new file, reading each one's inode block to check: creating thousands of files
# just after deleting thousands (the previous tool's area) costs several times as much. So
# every deletion of a tree is remembered, and a restore waits until that window has passed:
# otherwise whichever tool follows a cleanup sooner is charged for it.
RECENTLY_DELETED_S = 31.0
_last_delete = 0.0


def remove_tree(path: Path) -> None:
    global _last_delete
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
        _last_delete = time.monotonic()


def settle_deletions() -> None:
    """Wait until no tree was deleted in the last RECENTLY_DELETED_S seconds."""
    wait = RECENTLY_DELETED_S - (time.monotonic() - _last_delete)
    if wait > 0:
        time.sleep(wait)


def copy_tree(source: Path, dest: Path) -> None:
    """An exact copy (modes, mtimes, symlinks as links) made by cp -a: fast and faithful."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(dest)], check=True)


def unavailable_run(run: int, tool: str, reason: str, phases: Sequence[str]) -> ToolRun:
    return ToolRun(
        run, tool, available=False, reason=reason, phases={p: PhaseResult(NA) for p in phases}
    )


class ToolRunner:
    """Runs the phases for one (run, tool) and records a `ToolRun`."""

    def __init__(
        self,
        tool_cls: type[Tool],
        run: int,
        area: Path,
        logs: Path,
        drop: bool,
        say: Callable[[str], None],
    ) -> None:
        self.area = area
        self.paths = ToolPaths(repo=area / "repo", home=area / "home", scratch=area / "scratch")
        self.tool = tool_cls(self.paths)
        self.record = ToolRun(run, tool_cls.name)
        self.logs = logs / f"run{run}-{tool_cls.name}"
        self.drop = drop
        self.say = say
        self.change: ChangeSummary | None = None

    def phase(self, name: str, cmds: Sequence[Cmd]) -> tuple[PhaseResult, str]:
        before = self.tool.repo_bytes()
        dropped = drop_caches() if self.drop else False
        m = run_measured(cmds, self.logs / name)
        after = self.tool.repo_bytes()
        status = OK if m.ok else NA if name in self.tool.optional_phases else FAILED
        result = PhaseResult(
            status=status,
            wall_s=round(m.wall_s, 3),
            cpu_s=round(m.cpu_s, 3),
            user_s=round(m.user_s, 3),
            sys_s=round(m.sys_s, 3),
            maxrss_kib=m.maxrss_kib,
            repo_bytes=after,
            added_bytes=after - before,
            cache_dropped=dropped,
            error=None if m.ok else m.error_line(),
        )
        self.record.phases[name] = result
        shown = f"{m.wall_s:.1f} s" if m.ok else f"{status}: {result.error}"
        self.say(f"run {self.record.run} {self.tool.name:9} {name:9} {shown}")
        return result, m.stdout

    def skip(self, phases: Sequence[str], why: str) -> None:
        for name in phases:
            self.record.phases.setdefault(name, PhaseResult(SKIPPED, error=why))

    def run(self, source: Path, phases: Sequence[str], change_seed: int, keep: bool) -> ToolRun:
        remove_tree(self.area)
        for folder in (self.paths.home, self.paths.scratch):
            folder.mkdir(parents=True)
        src = self.area / "src"
        copy_tree(source, src)
        try:
            self._phases(src, phases, change_seed)
            self.record.cache_bytes = tree_bytes(self.paths.home)
        finally:
            if not keep:
                remove_tree(self.area)
        return self.record

    def _phases(self, src: Path, phases: Sequence[str], change_seed: int) -> None:
        init, _ = self.phase("init", self.tool.init(src))
        if init.status != OK:
            self.skip(phases, "repository init failed")
            return
        last_id: str | None = None
        taken: list[str] = []  # snapshot ids, for the compression phase
        number = 0
        for name in phases:
            if name in SNAPSHOT_PHASES:
                if name == "changed":
                    self.change = apply_change(src, change_seed)
                number += 1
                result, stdout = self.phase(name, self.tool.snapshot(src, number))
                last_id = None
                if result.status == OK:
                    try:
                        last_id = result.snapshot_id = self.tool.snapshot_id(number, stdout)
                        taken.append(last_id)
                    except (ValueError, KeyError) as exc:
                        result.status, result.error = FAILED, f"no snapshot id: {exc}"
            elif name == "restore":
                if last_id is None:
                    self.skip([name], "the last snapshot failed")
                    continue
                self._restore(src, last_id)
            elif name == "compress":
                cmds = self.tool.compress_old(taken)
                if cmds is None:
                    self.record.phases[name] = PhaseResult(
                        NA, error="compresses as it writes; no separate step"
                    )
                else:
                    self.phase(name, cmds)

    def _restore(self, src: Path, snapshot_id: str) -> None:
        dest = self.area / "restore"
        dest.mkdir()
        settle_deletions()
        result, _ = self.phase("restore", self.tool.restore(snapshot_id, dest))
        if result.status != OK:
            return
        verification = compare(src, dest)
        self.record.verify = asdict(verification)
        if not verification.ok:
            result.status = FAILED
            result.error = f"restored tree differs from the source: {verification.problems[0]}"
            self.say(f"run {self.record.run} {self.tool.name:9} verify    {result.error}")
        remove_tree(dest)  # frees the space before the next phase


def run_all(
    settings: Settings,
    available: dict[str, str | None],
    dropped: bool,
    source: Path,
    phases: Sequence[str],
) -> tuple[list[ToolRun], ChangeSummary | None]:
    """Every run of every tool on `source`, interleaved (run 1 of each tool, then run 2...)
    so that a slow patch of the machine does not land on one tool only."""
    runs: list[ToolRun] = []
    change: ChangeSummary | None = None
    for run in range(1, settings.runs + 1):
        for name in settings.tools:
            reason = available[name]
            if reason is not None:
                runs.append(unavailable_run(run, name, reason, phases))
                continue
            area = settings.workdir / "areas" / f"run{run}-{name}"
            runner = ToolRunner(TOOLS[name], run, area, settings.workdir / "logs", dropped, say)
            runs.append(runner.run(source, phases, settings.change_seed, settings.keep))
            change = change or runner.change
    return runs, change
