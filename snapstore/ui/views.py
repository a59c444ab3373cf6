"""What each page shows, computed from the manager's typed results (no HTML here).

Kept apart from the routes so the numbers a page shows can be checked without a browser:
the timeline's rows and chart series, a folder's rows, a file's preview, a diff's bars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from snapstore.diff import ADDED, REMOVED, SnapshotDiff
from snapstore.lifecycle import CleanupResult
from snapstore.records import RestorePlan, SnapshotInfo

MB = 1024 * 1024
PREVIEW_LIMIT = 1 << 20  # files up to 1 MiB of text are shown; bigger ones are downloaded


@dataclass
class TimelineRow:
    """One snapshot on the timeline."""

    info: SnapshotInfo
    fate: str  # keep / delete / compress (what cleanup would do now)
    reasons: tuple[str, ...]
    logical_mb: float  # what the snapshot holds
    new_mb: float  # what it added to the repository when it was taken

    @property
    def marks(self) -> list[str]:
        out = []
        if self.info.permanent:
            out.append("pinned")
        if self.info.kind == "safety":
            out.append("safety")
        if self.info.compression:
            out.append("compressed")
        if self.info.partial:
            out.append("partial")
        return out


@dataclass
class Timeline:
    rows: list[TimelineRow]  # newest first
    chart: dict[str, list[float]] = field(default_factory=dict)
    stored_mb: float = 0.0
    logical_mb: float = 0.0

    def chart_json(self) -> str:
        return json.dumps(self.chart)


def timeline(snapshots: list[SnapshotInfo], cleanup: CleanupResult | None) -> Timeline:
    """Rows (newest first) with the policy's verdict, and the chart's series oldest first:
    time, repository size after each snapshot (the sum of what each listed snapshot added),
    the snapshot's own new bytes, and what it holds (bulk + database): the gap between the
    last two is what deduplication saved."""
    verdicts = {d.name: d for d in (cleanup.decisions if cleanup else [])}
    rows = []
    for s in snapshots:
        d = verdicts.get(s.snapshot_name)
        rows.append(
            TimelineRow(
                info=s,
                fate=str(d.fate) if d else "keep",
                reasons=tuple(d.reasons) if d else (),
                logical_mb=round(s.total_mb, 1),
                new_mb=round(s.added_bytes / MB, 2),
            )
        )
    series: dict[str, list[float]] = {"t": [], "stored": [], "new": [], "logical": []}
    total = 0.0
    for r in reversed(rows):
        total += r.new_mb
        series["t"].append(r.info.created.timestamp())
        series["stored"].append(round(total, 2))
        series["new"].append(r.new_mb)
        series["logical"].append(r.logical_mb)
    return Timeline(
        rows=rows,
        chart=series,
        stored_mb=round(total, 1),
        logical_mb=round(sum(r.logical_mb for r in rows), 1),
    )


@dataclass
class Crumb:
    name: str
    path: str


def crumbs(path: str) -> list[Crumb]:
    """The links above a folder: ("bulk", ""), ("data", "data"), ("runs", "data/runs")."""
    out = [Crumb("bulk", "")]
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        out.append(Crumb(part, "/".join(parts[: i + 1])))
    return out


def looks_like_text(head: bytes) -> bool:
    """Shown as text when the start decodes as UTF-8 and holds no NUL byte."""
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(head) - 4  # a character cut at the end of the sample
    return True


@dataclass
class Bar:
    label: str
    bytes: int
    width: float  # percent of the largest bar


@dataclass
class DiffView:
    diff: SnapshotDiff
    counts: dict[str, int]
    bars: list[Bar]


def diff_view(diff: SnapshotDiff) -> DiffView:
    """Where the bytes changed, by top-level folder: the bars of the diff page."""
    by_top: dict[str, int] = {}
    for c in diff.files:
        top = c.path.split("/", 1)[0] if "/" in c.path else "(top level)"
        top = f"{c.root.rsplit('/', 1)[-1]}/{top}" if len({f.root for f in diff.files}) > 1 else top
        if c.entries:
            moved = c.bytes
        elif c.change == ADDED:
            moved = c.size_after
        elif c.change == REMOVED:
            moved = c.size_before
        else:
            moved = max(c.size_before, c.size_after)
        by_top[top] = by_top.get(top, 0) + moved
    largest = max(by_top.values(), default=0) or 1
    bars = [
        Bar(label, n, round(100 * n / largest, 1))
        for label, n in sorted(by_top.items(), key=lambda kv: -kv[1])
    ]
    return DiffView(diff, diff.counts(), bars)


def size(n: int | float) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def untouched(plan: RestorePlan) -> list[str]:
    """What the snapshot holds that a restore plan leaves as it is (said under the plan)."""
    out = []
    if plan.snapshot.includes_bulk and not plan.restore_bulk:
        out.append("the bulk files")
    if plan.snapshot.includes_database and not plan.restore_db:
        out.append("the database")
    return out
