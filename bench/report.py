"""Turn raw `ToolRun`s into medians, ratios and a Markdown report.

Every figure is the median over the runs in which that phase succeeded; a cell with no
successful run says why (n/a, failed, skipped), and the reasons are listed under the
tables. Ratios are snapstore divided by each peer, so below 1.00x means snapstore used
less time, memory or space.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.records import MAIN_PHASES, NA, OK, PHASE_TITLES, SNAPSHOT_PHASES, ToolRun

MIB = 1 << 20
SUBJECT = "snapstore"
README_BEGIN = "<!-- bench-results:begin -->"
README_END = "<!-- bench-results:end -->"


@dataclass
class Cell:
    """The median figures of one (tool, phase), or the reason there are none."""

    runs_ok: int = 0
    status: str = NA
    medians: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def human_bytes(n: float) -> str:
    """Decimal units, as people say dataset sizes: 35.1 kB, 2.8 MB, 1.31 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:,.3g} {unit}" if abs(n) < 10 * size else f"{n / size:,.1f} {unit}"
    return f"{n:.0f} B"


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def aggregate(
    runs: Sequence[ToolRun], tools: Sequence[str], phases: Sequence[str]
) -> dict[str, dict[str, Cell]]:
    cells: dict[str, dict[str, Cell]] = {t: {p: Cell() for p in phases} for t in tools}
    for tool in tools:
        mine = [r for r in runs if r.tool == tool]
        for phase in phases:
            cell = cells[tool][phase]
            results = [r.phases[phase] for r in mine if phase in r.phases]
            good = [p for p in results if p.status == OK]
            cell.runs_ok = len(good)
            for metric in ("wall_s", "cpu_s", "maxrss_kib", "repo_bytes", "added_bytes"):
                value = _median(
                    [getattr(p, metric) for p in good if getattr(p, metric) is not None]
                )
                if value is not None:
                    cell.medians[metric] = value
            if good:
                cell.status = OK
            elif results:
                cell.status = results[0].status
            for r in mine:
                text = r.phases[phase].error if r.available and phase in r.phases else None
                if text and text not in cell.reasons:
                    cell.reasons.append(text)
    return cells


def _fmt_seconds(v: float) -> str:
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def _fmt_mib(v: float) -> str:
    return f"{v / MIB:,.1f}"


def _bytes_cell(cell: Cell, phase: str) -> str:
    if "repo_bytes" not in cell.medians:
        return ""
    text = _fmt_mib(cell.medians["repo_bytes"])
    if phase != "restore" and "added_bytes" in cell.medians:
        text += f" ({cell.medians['added_bytes'] / MIB:+,.1f})"
    return text


def _figure(metric: str, show: Callable[[float], str]) -> Callable[[Cell, str], str]:
    return lambda cell, phase: show(cell.medians[metric]) if metric in cell.medians else ""


# (heading, how to print a cell's figure)
_METRIC_TABLES: list[tuple[str, Callable[[Cell, str], str]]] = [
    ("Wall time, s", _figure("wall_s", _fmt_seconds)),
    ("CPU time (user + sys, all child processes), s", _figure("cpu_s", _fmt_seconds)),
    ("Peak RSS, MiB", _figure("maxrss_kib", lambda kib: f"{kib / 1024:,.0f}")),
    ("Repository size after the phase, MiB (change during the phase)", _bytes_cell),
]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell_text(cell: Cell, phase: str, show: Callable[[Cell, str], str]) -> str:
    if cell.status != OK:
        return cell.status
    return show(cell, phase) or "—"


def _ratio(mine: float | None, theirs: float | None, metric: str) -> str:
    if mine is None or theirs is None:
        return "n/a"
    # A few kB of metadata against a few kB: the ratio would only be noise.
    if metric.endswith("bytes") and max(abs(mine), abs(theirs)) < MIB:
        return "both < 1 MiB"
    return f"{mine / theirs:.2f}x" if theirs else "n/a"


def _ratio_rows(
    cells: dict[str, dict[str, Cell]], tools: Sequence[str], phases: Sequence[str]
) -> list[list[str]]:
    peers = [t for t in tools if t != SUBJECT]
    rows: list[list[str]] = []
    for phase in phases:
        # Bytes: what a snapshot adds; for compression, the size it leaves.
        byte_metric = (
            "added_bytes"
            if phase in SNAPSHOT_PHASES
            else "repo_bytes"
            if phase == "compress"
            else None
        )
        metrics = [("wall", "wall_s"), ("CPU", "cpu_s"), ("peak RSS", "maxrss_kib")]
        if byte_metric:
            metrics.append(
                ("new bytes" if byte_metric == "added_bytes" else "repository bytes", byte_metric)
            )
        for label, metric in metrics:
            mine = cells[SUBJECT][phase].medians.get(metric)
            row = [PHASE_TITLES[phase], label]
            for peer in peers:
                theirs = cells[peer][phase].medians.get(metric)
                row.append(_ratio(mine, theirs, metric))
            if any(cell != "n/a" for cell in row[2:]):
                rows.append(row)
    return rows


@dataclass(frozen=True)
class Target:
    """One goal of the speed-and-scale issue: snapstore's figure over a peer's, at most
    `limit` (`low` for a two-sided goal). The measured value is the median over runs of the
    ratio within each run (both tools ran minutes apart on the same machine state)."""

    text: str
    phase: str
    metric: str
    peer: str | None  # None: an absolute limit on snapstore's own figure
    limit: float
    low: float | None = None
    peer_phase: str | None = None  # compare with another phase of the peer
    unit: str = "x"


TARGETS = (
    Target("first snapshot: wall ≤ 0.5x restic", "first", "wall_s", "restic", 0.5),
    Target("first snapshot: wall ≤ the rsync copy", "first", "wall_s", "rsync", 1.0),
    Target("unchanged re-snapshot: wall ≤ 0.5x restic", "unchanged", "wall_s", "restic", 0.5),
    Target(
        "unchanged re-snapshot: new bytes ≤ restic's", "unchanged", "added_bytes", "restic", 1.0
    ),
    Target(
        "unchanged re-snapshot: wall ≤ 1.5x a cold stat walk",
        "unchanged",
        "wall_s",
        "stat-walk",
        1.5,
    ),
    Target("1%-change snapshot: wall ≤ 0.5x restic", "changed", "wall_s", "restic", 0.5),
    Target("1%-change snapshot: new bytes ≤ restic's", "changed", "added_bytes", "restic", 1.0),
    Target("restore: wall ≤ 0.8x restic", "restore", "wall_s", "restic", 0.8),
    Target(
        "repository after the first snapshot: within 5% of borg (lz4)",
        "first",
        "repo_bytes",
        "borg",
        1.05,
        low=0.95,
    ),
    Target(
        "after archiving: repository ≤ restic's (zstd)",
        "compress",
        "repo_bytes",
        "restic",
        1.0,
        peer_phase="changed",
    ),
    Target(
        "peak RSS of each snapshot phase ≤ 200 MiB", "first", "maxrss_kib", None, 200, unit=" MiB"
    ),
    Target("", "unchanged", "maxrss_kib", None, 200, unit=" MiB"),
    Target("", "changed", "maxrss_kib", None, 200, unit=" MiB"),
    Target("peak RSS of the restore ≤ 200 MiB", "restore", "maxrss_kib", None, 200, unit=" MiB"),
)


SMALL = -1.0  # a per-run "ratio" of two figures too small to compare


def _per_run_values(runs: Sequence[ToolRun], target: Target) -> list[float]:
    """The target's figure in each run where every tool it needs succeeded."""
    values: list[float] = []
    for number in sorted({r.run for r in runs}):
        mine = next((r for r in runs if r.run == number and r.tool == SUBJECT), None)
        if mine is None or target.phase not in mine.phases:
            continue
        p = mine.phases[target.phase]
        value = getattr(p, target.metric) if p.status == OK else None
        if value is None:
            continue
        if target.peer is None:
            values.append(value / 1024 if target.metric == "maxrss_kib" else value)
            continue
        peer = next((r for r in runs if r.run == number and r.tool == target.peer), None)
        q = peer.phases.get(target.peer_phase or target.phase) if peer else None
        theirs = getattr(q, target.metric) if q is not None and q.status == OK else None
        if theirs is None:
            continue
        if target.metric == "added_bytes" and max(abs(value), abs(theirs)) < MIB:
            values.append(SMALL)  # both a few kB of metadata: noise, not a ratio
        elif theirs:
            values.append(value / theirs)
    return values


def target_rows(runs: Sequence[ToolRun]) -> list[list[str]]:
    """One row per goal that this run can judge: goal, measured, met or by how much not."""
    rows = []
    for target in TARGETS:
        values = _per_run_values(runs, target)
        if not values:
            continue
        value = statistics.median(values)
        if value == SMALL:
            rows.append([target.text, "both < 1 MiB", f"{len(values)}", "met"])
            continue
        met = value <= target.limit and (target.low is None or value >= target.low)
        if met:
            verdict = "met"
        elif target.low is not None and value < target.low:
            verdict = f"missed: {target.low / value - 1:.0%} under"
        else:
            verdict = f"missed by {value / target.limit - 1:.0%}"
        shown = f"{value:.2f}{target.unit}" if target.unit == "x" else f"{value:.0f}{target.unit}"
        label = target.text or f"  (same, {PHASE_TITLES[target.phase]})"
        rows.append([label, shown, f"{len(values)}", verdict])
    return rows


def render(
    meta: dict[str, Any], runs: Sequence[ToolRun], tools: Sequence[str], phases: Sequence[str]
) -> str:
    """The Markdown report: dataset and machine, one table per figure, ratios, notes."""
    cells = aggregate(runs, tools, phases)
    out = [f"# {meta['title']}", ""]
    out += [f"- {key}: {value}" for key, value in meta["summary"].items()]
    out.append("")
    n_runs = meta.get("runs", 1)
    for heading, show in _METRIC_TABLES:
        out += [f"## {heading} (median of {n_runs})", ""]
        rows = [
            [PHASE_TITLES[p], *(_cell_text(cells[t][p], p, show) for t in tools)] for p in phases
        ]
        out += [*table(["phase", *tools], rows), ""]
    if SUBJECT in tools and len(tools) > 1:
        out += ["## snapstore ÷ peer (below 1.00x: snapstore used less)", ""]
        peers = [t for t in tools if t != SUBJECT]
        out += [
            *table(
                ["phase", "figure", *(f"÷ {p}" for p in peers)], _ratio_rows(cells, tools, phases)
            ),
            "",
        ]
    rows = target_rows(runs) if SUBJECT in tools else []
    if rows:
        out += [
            "## The issue's targets (median over runs of the ratio within each run)",
            "",
            *table(["target", "measured", "runs", "verdict"], rows),
            "",
        ]
    if "restore" in phases:
        out += [
            "## Restore verification (restored tree equals the source minus excluded noise)",
            "",
        ]
        rows = []
        for tool in tools:
            checked = [r.verify for r in runs if r.tool == tool and r.verify is not None]
            passed = sum(1 for v in checked if v["ok"])
            first_problem = next((v["problems"][0] for v in checked if v["problems"]), "")
            rows.append(
                [tool, f"{passed} of {len(checked)}" if checked else "not run", first_problem]
            )
        out += [*table(["tool", "runs verified", "first problem"], rows), ""]
    notes = [f"- {r.tool}: not run: {r.reason}" for r in runs if not r.available]
    notes += [
        f"- {tool}, {PHASE_TITLES[phase]}: {reason}"
        for tool in tools
        for phase in phases
        for reason in cells[tool][phase].reasons
    ]
    if notes:
        out += ["## Why some cells are empty", "", *dict.fromkeys(notes), ""]
    return "\n".join(out)


def render_summary(
    meta: dict[str, Any], runs: Sequence[ToolRun], tools: Sequence[str], phases: Sequence[str]
) -> str:
    """The short form for the project README: when, where, how; wall time and repository
    size of every tool; the targets. The full report is in bench/results/."""
    cells = aggregate(runs, tools, phases)
    summary = meta["summary"]
    out = [
        f"Measured {meta['date']} on {summary['machine']}; {summary['dataset']}.",
        f"Medians of {meta.get('runs', 1)} runs; page cache {summary['page cache']}.",
        f"Command: {summary['command']}. Tools: {summary['tools']}.",
        "",
    ]
    picks = [
        ("Wall time, s", _figure("wall_s", _fmt_seconds)),
        ("Repository size after the phase, MiB (change)", _bytes_cell),
    ]
    for heading, show in picks:
        rows = [
            [PHASE_TITLES[p], *(_cell_text(cells[t][p], p, show) for t in tools)] for p in phases
        ]
        out += [f"**{heading}**", "", *table(["phase", *tools], rows), ""]
    rows = target_rows(runs) if SUBJECT in tools else []
    if rows:
        out += [
            "**Targets** (median over runs of the ratio within each run)",
            "",
            *table(["target", "measured", "runs", "verdict"], rows),
            "",
        ]
    return "\n".join(out)


def quote_into(readme: Path, markdown: str, source: str) -> None:
    """Replace the text between the bench-results markers in `readme` with the report."""
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme} has no {README_BEGIN} ... {README_END} block")
    body = re.sub(r"^# ", "### ", markdown, flags=re.M)
    body = re.sub(r"^## ", "#### ", body, flags=re.M)
    block = f"{README_BEGIN}\n_From `{source}`._\n\n{body.strip()}\n{README_END}"
    start = text.index(README_BEGIN)
    end = text.index(README_END) + len(README_END)
    readme.write_text(text[:start] + block + text[end:])


def main(argv: Sequence[str] | None = None) -> int:
    """Re-render a report from its raw `.json` (after a format change, or to quote it)."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("json", type=Path, help="a results .json written by bench.run")
    parser.add_argument("--readme", type=Path, help="also quote it into this file's results block")
    parser.add_argument(
        "--summary", type=Path, help="also quote the short form into this file's results block"
    )
    args = parser.parse_args(argv)
    raw = json.loads(args.json.read_text())
    meta = raw["meta"]
    if "creates" in raw:
        print("bench.report: many-snapshots reports are not re-rendered", file=sys.stderr)
        return 1
    runs = [ToolRun.from_json(r) for r in raw["runs"]]
    markdown = render(meta, runs, meta["tools"], meta.get("phases", MAIN_PHASES))
    md_path = args.json.with_suffix(".md")
    md_path.write_text(markdown + "\n")
    if args.readme:
        quote_into(args.readme, markdown, md_path.name)
    if args.summary:
        phases = meta.get("phases", MAIN_PHASES)
        quote_into(args.summary, render_summary(meta, runs, meta["tools"], phases), md_path.name)
    print(md_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
