"""What a benchmark invocation was asked to do, and how its results are written down.

Shared by the main benchmark (`bench.run`) and the scale runs (`bench.scale`): the
settings, the machine and tool versions that go at the top of every report, and writing
`<stem>.md` plus `<stem>.json` into the results folder (optionally quoting the Markdown into a
README between markers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.measure import gnu_time
from bench.records import ToolRun
from bench.tools import TOOLS

BENCH_DIR = Path(__file__).resolve().parent


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    scale: float
    runs: int
    tools: tuple[str, ...]
    workdir: Path
    results_dir: Path
    seed: int
    change_seed: int
    install: bool
    drop_caches: bool
    keep: bool
    readme: Path | None
    many_files: int | None
    many_snapshots: int | None
    phases: tuple[str, ...] = ()  # main benchmark phases to run (empty: all of them)
    summary: Path | None = None  # README to quote the short form of the report into


def machine() -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions(available: dict[str, str | None]) -> dict[str, str]:
    return {
        name: " ".join(TOOLS[name].version().split()) if reason is None else "not available"
        for name, reason in available.items()
    }


def write_results(
    settings: Settings,
    stem: str,
    meta: dict[str, Any],
    runs: Sequence[ToolRun],
    markdown: str,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write <stem>.md and <stem>.json in the results folder; quote the Markdown into a README."""
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    md_path = settings.results_dir / f"{stem}.md"
    json_path = settings.results_dir / f"{stem}.json"
    md_path.write_text(markdown + "\n")
    raw = {"meta": meta, "runs": [r.to_json() for r in runs], **(extra or {})}
    json_path.write_text(json.dumps(raw, indent=2, default=str) + "\n")
    if settings.readme:
        report.quote_into(settings.readme, markdown, md_path.name)
    if settings.summary and "phases" in meta:  # the main benchmark's reports only
        short = report.render_summary(meta, runs, settings.tools, meta["phases"])
        report.quote_into(settings.summary, short, md_path.name)
    return [md_path, json_path]


def base_meta(
    settings: Settings, title: str, available: dict[str, str | None], dropped: bool
) -> dict[str, Any]:
    """Title, date, command, machine, versions; `summary` is printed as bullets atop the report."""
    host = machine()
    return {
        "title": title,
        "date": dt.date.today().isoformat(),
        "command": "python -m bench.run " + shlex.join(sys.argv[1:]),
        "machine": host,
        "runs": settings.runs,
        "tools": list(settings.tools),
        "versions": versions(available),
        "cache_dropped": dropped,
        "peak_rss_by_gnu_time": gnu_time() is not None,
        "summary": {
            "machine": f"{host['cores']} cores, {host['memory_gib']} GiB RAM, {host['kernel']}, "
            f"Python {host['python']}",
            "page cache": "dropped before every timed phase"
            if dropped
            else "NOT dropped (no permission or --no-drop-caches): warm-cache figures",
            "peak RSS": "measured by GNU time (%M) around each command"
            if gnu_time()
            else "from wait4 without GNU time: inflated by the harness's own memory",
            "tools": "; ".join(f"{k}: {v}" for k, v in versions(available).items()),
        },
    }
