"""The two scale runs: one tree with very many files, one repository with very many snapshots.

- `many_files(N)`: a tree of N small files (`bench.dataset.generate_many_files`); every
  selected tool takes a first snapshot and a snapshot of the unchanged tree. What it shows
  is per-file cost: time and, above all, peak memory per million entries.
- `many_snapshots(N)`: snapstore only. A small tree is snapshotted N times with a tiny
  change between snapshots, then `list`, `diff` (first vs last), `cleanup --dry-run`,
  `cleanup --yes`, `gc` and `list` again are timed. Commands snapstore does not have yet are
  recorded as n/a. Create times are summarised (first, median, last, slowest) to show
  whether creating gets slower as the repository fills.

Both are slow at full size (1,000,000 files; 1,000 snapshots) and are run by hand, never
in the test suite.
"""

from __future__ import annotations

import os
import shutil
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import report
from bench.change import CHANGE_MTIME
from bench.dataset import generate, generate_many_files
from bench.harness import ToolRunner, run_all, unavailable_run
from bench.measure import run_measured
from bench.records import OK, ToolRun
from bench.results import Settings, base_meta, say, write_results
from bench.tools.snapstore_tool import SnapstoreTool

MANY_FILES_PHASES = ("first", "unchanged")
SNAPSHOT_COMMANDS = ("list", "diff", "cleanup-dry-run", "cleanup", "gc", "list-after")
SMALL_TREE_SCALE = 0.001  # ~1.5 MB: the point is the number of snapshots, not their size


def many_files(settings: Settings, available: dict[str, str | None], dropped: bool) -> list[Path]:
    count = settings.many_files or 0
    source = settings.workdir / f"many-files-{count}"
    shutil.rmtree(source, ignore_errors=True)
    say(f"generating {count:,} small files in {source}")
    made = generate_many_files(source, count, settings.seed)
    say(f"{made.files:,} files, {report.human_bytes(made.bytes)} in {made.seconds:.1f} s")
    try:
        runs, _ = run_all(settings, available, dropped, source, MANY_FILES_PHASES)
    finally:
        if not settings.keep:
            shutil.rmtree(source, ignore_errors=True)
    meta = base_meta(settings, f"snapstore scale run: {count:,} small files", available, dropped)
    meta["phases"] = list(MANY_FILES_PHASES)
    meta["dataset"] = asdict(made)
    meta["summary"] = {
        "date": meta["date"],
        "dataset": f"{made.files:,} files of 128 B to 2 KiB ({report.human_bytes(made.bytes)}) in "
        f"{made.dirs:,} folders, generated in {made.seconds:.1f} s",
        **meta["summary"],
        "command": f"`{meta['command']}`",
    }
    markdown = report.render(meta, runs, settings.tools, MANY_FILES_PHASES)
    return write_results(settings, f"{meta['date']}-many-files-{count}", meta, runs, markdown)


def _tweak(src: Path, step: int) -> None:
    """A tiny deterministic change between two snapshots; the tree keeps its size."""
    notes = src / "notes"
    notes.mkdir(exist_ok=True)
    (notes / "step.txt").write_text(f"step {step}\n" * 16)
    with open(notes / "log.txt", "a") as log:
        log.write(f"{step:06d} " + "x" * 57 + "\n")
    for name in ("step.txt", "log.txt"):
        os.utime(notes / name, (CHANGE_MTIME + step, CHANGE_MTIME + step))


def _create_stats(walls: list[float], rss: list[int]) -> dict[str, Any]:
    return {
        "count": len(walls),
        "first_s": round(walls[0], 3),
        "median_s": round(statistics.median(walls), 3),
        "last_s": round(walls[-1], 3),
        "slowest_s": round(max(walls), 3),
        "total_s": round(sum(walls), 1),
        "peak_rss_kib": max(rss),
    }


def many_snapshots(
    settings: Settings, available: dict[str, str | None], dropped: bool
) -> list[Path]:
    count = settings.many_snapshots or 0
    area = settings.workdir / "many-snapshots"
    shutil.rmtree(area, ignore_errors=True)
    extra: dict[str, Any] = {"creates": None}
    reason = available.get(SnapstoreTool.name, "snapstore not among --tools")
    if reason is not None:
        record = unavailable_run(1, SnapstoreTool.name, reason, SNAPSHOT_COMMANDS)
    else:
        record = _snapshot_commands(settings, area, count, dropped, extra)
    meta = base_meta(settings, f"snapstore scale run: {count:,} snapshots", available, dropped)
    meta["summary"] = {"date": meta["date"], **meta["summary"], "command": f"`{meta['command']}`"}
    markdown = _render_many_snapshots(meta, record, extra["creates"], count)
    return write_results(
        settings, f"{meta['date']}-many-snapshots-{count}", meta, [record], markdown, extra
    )


def _snapshot_commands(
    settings: Settings, area: Path, count: int, dropped: bool, extra: dict[str, Any]
) -> ToolRun:
    runner = ToolRunner(SnapstoreTool, 1, area, settings.workdir / "logs", dropped, say)
    tool = runner.tool
    assert isinstance(tool, SnapstoreTool)
    src = area / "src"
    generate(src, SMALL_TREE_SCALE, settings.seed, jobs=1)
    for folder in (runner.paths.home, runner.paths.scratch):
        folder.mkdir(parents=True)
    try:
        init, _ = runner.phase("init", tool.init(src))
        names: list[str] = []
        walls: list[float] = []
        rss: list[int] = []
        failure = None if init.status == OK else f"init failed: {init.error}"
        for step in range(1, count + 1):
            if failure:
                break
            _tweak(src, step)
            m = run_measured(tool.snapshot(src, step, cleanup=False), runner.logs / "create")
            if not m.ok:
                failure = f"create #{step} failed: {m.error_line()}"
                break
            names.append(tool.snapshot_id(step, m.stdout))
            walls.append(m.wall_s)
            rss.append(m.maxrss_kib)
            if step % 100 == 0:
                say(f"{step} snapshots, last create {m.wall_s:.2f} s")
        if failure:
            say(failure)
            runner.skip(SNAPSHOT_COMMANDS, failure)
            return runner.record
        extra["creates"] = {**_create_stats(walls, rss), "walls_s": [round(w, 3) for w in walls]}
        runner.phase("list", tool.list_snapshots())
        runner.phase("diff", tool.diff(names[0], names[-1]))
        runner.phase("cleanup-dry-run", tool.cleanup(dry_run=True))
        runner.phase("cleanup", tool.cleanup(dry_run=False))
        runner.phase("gc", tool.gc())
        runner.phase("list-after", tool.list_snapshots())
    finally:
        if not settings.keep:
            shutil.rmtree(area, ignore_errors=True)
    return runner.record


def _render_many_snapshots(
    meta: dict[str, Any], record: ToolRun, creates: dict[str, Any] | None, count: int
) -> str:
    out = [f"# {meta['title']}", "", *(f"- {k}: {v}" for k, v in meta["summary"].items()), ""]
    if creates:
        out += [
            f"## Creating {count:,} snapshots of a small tree (one tiny change between them)",
            "",
        ]
        row = [f"{creates[k]:.2f}" for k in ("first_s", "median_s", "last_s", "slowest_s")]
        out += report.table(
            ["first create, s", "median, s", "last, s", "slowest, s", "total, s", "peak RSS, MiB"],
            [[*row, f"{creates['total_s']:.0f}", f"{creates['peak_rss_kib'] / 1024:.0f}"]],
        )
        out.append("")
    out += [f"## Commands on the repository with {count:,} snapshots", ""]
    rows = []
    for name in SNAPSHOT_COMMANDS:
        p = record.phases.get(name)
        if p is None or p.status != OK:
            rows.append([name, p.status if p else "n/a", "", "", (p.error or "") if p else ""])
        else:
            rows.append(
                [name, f"{p.wall_s:.2f}", f"{p.cpu_s:.2f}", f"{(p.maxrss_kib or 0) / 1024:.0f}", ""]
            )
    out += report.table(["command", "wall, s", "CPU, s", "peak RSS, MiB", "note"], rows)
    if not record.available:
        out += ["", f"snapstore not run: {record.reason}"]
    return "\n".join(out)
