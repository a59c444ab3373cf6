"""Benchmark snapstore against the reference (rsync + tar.gz), restic and borg.

    python -m bench.run --scale 1.0 --runs 3 [--tools snapstore,restic,borg,rsync,stat-walk]
                        [--workdir bench/work] [--results-dir bench/results]
    python -m bench.run --many-files 1000000      # per-file costs of one big tree
    python -m bench.run --many-snapshots 1000     # list/diff/cleanup/gc on 1000 snapshots

The dataset is generated once; then for each run, each tool in turn: first snapshot,
snapshot of the unchanged tree, the ~1% change step, snapshot after it, restore of the
last snapshot into an empty folder (verified against the source), compression of old
data. Results: `RESULTS_DIR/YYYY-MM-DD-<scale>.md` (medians and ratios) and `.json` (every
raw figure). Tools that are missing are installed from Debian where possible; a tool that
fails is recorded as failed or n/a and the others carry on.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench import report, scale
from bench.dataset import generate
from bench.harness import run_all
from bench.measure import drop_caches, gnu_time
from bench.records import MAIN_PHASES
from bench.results import BENCH_DIR, Settings, base_meta, say, write_results
from bench.tools import TOOLS, ensure_installed
from bench.tools.base import apt_install


def prepare_tools(names: Sequence[str], install: bool) -> dict[str, str | None]:
    """Install what is missing (when allowed); map each tool to why it cannot run, or None."""
    return {name: ensure_installed(TOOLS[name], install, say) for name in names}


def main_benchmark(
    settings: Settings, available: dict[str, str | None], dropped: bool
) -> list[Path]:
    source = settings.workdir / f"data-{settings.scale:g}-seed{settings.seed}"
    shutil.rmtree(source, ignore_errors=True)
    say(f"generating the dataset at scale {settings.scale:g} in {source}")
    made = generate(source, settings.scale, settings.seed)
    say(f"dataset: {made.files} files, {report.human_bytes(made.bytes)} in {made.seconds:.1f} s")
    phases = settings.phases or MAIN_PHASES
    try:
        runs, change = run_all(settings, available, dropped, source, phases)
    finally:
        if not settings.keep:
            shutil.rmtree(source, ignore_errors=True)
    meta = base_meta(settings, f"snapstore benchmark, scale {settings.scale:g}", available, dropped)
    meta["phases"] = list(phases)
    meta["dataset"] = {"scale": settings.scale, "seed": settings.seed, **asdict(made)}
    meta["change"] = change.as_dict() if change else None
    touched = ""
    if change:
        touched = (
            f"; change step (seed {settings.change_seed}) touched "
            f"{report.human_bytes(change.touched_bytes)} ({change.fraction:.2%})"
        )
    meta["summary"] = {
        "date": meta["date"],
        "dataset": f"scale {settings.scale:g}, seed {settings.seed}: {made.files:,} files, "
        f"{report.human_bytes(made.bytes)}, generated in {made.seconds:.1f} s{touched}",
        **meta["summary"],
        "runs": f"{settings.runs} (figures are medians over the runs where the phase succeeded)",
        "command": f"`{meta['command']}`",
    }
    stem = f"{meta['date']}-{settings.scale:g}"
    markdown = report.render(meta, runs, settings.tools, phases)
    return write_results(settings, stem, meta, runs, markdown)


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="dataset scale; 1.0 is about 1.3 GB"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per tool; figures are medians (default 3)"
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated, from {','.join(TOOLS)}"
    )
    parser.add_argument(
        "--workdir", type=Path, default=BENCH_DIR / "work", help="scratch space (gitignored)"
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed")
    parser.add_argument("--change-seed", type=int, default=2)
    parser.add_argument(
        "--no-install", action="store_true", help="do not apt-get install missing peers"
    )
    parser.add_argument("--no-drop-caches", action="store_true", help="leave the page cache alone")
    parser.add_argument(
        "--keep", action="store_true", help="keep datasets and repositories afterwards"
    )
    parser.add_argument(
        "--readme", type=Path, help="also quote the report into this file's bench-results block"
    )
    parser.add_argument(
        "--summary",
        type=Path,
        help="also quote the short form (wall times, sizes, targets) into this file's block",
    )
    parser.add_argument(
        "--phases",
        default=",".join(MAIN_PHASES),
        help="main benchmark phases, in order, from " + ",".join(MAIN_PHASES) + " (default: all)",
    )
    parser.add_argument(
        "--many-files", type=int, metavar="N", help="scale run: one tree of N small files"
    )
    parser.add_argument(
        "--many-snapshots", type=int, metavar="N", help="scale run: snapstore with N snapshots"
    )
    args = parser.parse_args(argv)
    tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be at least 1 and --scale positive")
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if not phases or any(p not in MAIN_PHASES for p in phases):
        parser.error(f"--phases: choose from {','.join(MAIN_PHASES)}")
    if list(phases) != [p for p in MAIN_PHASES if p in phases] or "first" not in phases:
        parser.error("--phases: keep the order of " + ",".join(MAIN_PHASES) + " and include first")
    return Settings(
        scale=args.scale,
        runs=args.runs,
        tools=tools,
        workdir=args.workdir.resolve(),
        results_dir=args.results_dir.resolve(),
        seed=args.seed,
        change_seed=args.change_seed,
        install=not args.no_install,
        drop_caches=not args.no_drop_caches,
        keep=args.keep,
        readme=args.readme,
        many_files=args.many_files,
        many_snapshots=args.many_snapshots,
        phases=phases,
        summary=args.summary,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    available = prepare_tools(settings.tools, settings.install)
    if shutil.which("time") is None and settings.install:
        apt_install("time", say)  # GNU time, for honest peak RSS (see bench.measure)
    if gnu_time() is None:
        say("GNU time not found: peak RSS figures include the harness's own memory")
    for name, reason in available.items():
        if reason:
            say(f"{name} will not run: {reason}")
    dropped = settings.drop_caches and drop_caches()
    if settings.drop_caches and not dropped:
        say("cannot drop the page cache (needs root, writable /proc/sys): warm-cache figures")
    written: list[Path] = []
    if settings.many_files:
        written += scale.many_files(settings, available, dropped)
    if settings.many_snapshots:
        written += scale.many_snapshots(settings, available, dropped)
    if not (settings.many_files or settings.many_snapshots):
        written += main_benchmark(settings, available, dropped)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
