"""What each page shows, computed from the manager's typed results (no HTML here).

Kept apart from the routes so the numbers a page shows can be checked without a browser:
the timeline's rows and chart series, a folder's rows, a file's preview, a diff's bars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from snapstore.inspection.diff import (
    ADDED,
    METADATA,
    MODIFIED,
    REMOVED,
    TYPE,
    FileChange,
    SnapshotDiff,
)
from snapstore.maintenance.lifecycle import CleanupResult
from snapstore.ops.records import RestorePlan, SnapshotInfo

MB = 1024 * 1024


@dataclass
class TimelineRow:
    """One snapshot on the timeline; ``safety``: the safety snapshots taken before it was
    restored (shown under it, not as rows of their own)."""

    info: SnapshotInfo
    fate: str  # keep / delete / compress (what cleanup would do now)
    reasons: tuple[str, ...]
    holds: int  # bytes the snapshot holds (files and database)
    new: int  # bytes it added to the repository when it was taken
    when: str  # "3 days ago"
    safety: list[TimelineRow] = field(default_factory=list)

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
    rows: list[TimelineRow]  # newest first, safety snapshots under the snapshot they guard
    count: int = 0  # every snapshot, safety ones included
    chart: dict[str, list[Any]] = field(default_factory=dict)
    stored: int = 0  # bytes the snapshots added, all together
    holds: int = 0  # bytes they hold, all together

    def chart_json(self) -> str:
        return json.dumps(self.chart)

    @property
    def dedup_ratio(self) -> str:
        """What the snapshots hold over what storing them took: "4.2×"; "" when nothing
        was stored."""
        return f"{self.holds / self.stored:.1f}×" if self.stored else ""


def relative(then: datetime, now: datetime) -> str:
    """``then`` as people say it: "just now", "5 minutes ago", "yesterday", "3 days ago"."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now" if seconds > -60 else "in the future"
    for unit, length in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400)):
        if seconds >= length * (2 if unit == "week" else 1):
            n = int(seconds // length)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            n = int(seconds // length)
            if unit == "day" and n == 1:
                return "yesterday"
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def _row(s: SnapshotInfo, d: Any, now: datetime) -> TimelineRow:
    return TimelineRow(
        info=s,
        fate=str(d.fate) if d else "keep",
        reasons=tuple(d.reasons) if d else (),
        holds=round(s.total_mb * MB),
        new=s.added_bytes,
        when=relative(s.created, now),
    )


def timeline(
    snapshots: list[SnapshotInfo], cleanup: CleanupResult | None, now: datetime | None = None
) -> Timeline:
    """Rows (newest first) with the policy's verdict, a safety snapshot under the snapshot
    whose restore it guards (when that one is still there), and the chart's series oldest
    first: time, repository size after each snapshot (the sum of what each listed snapshot
    added), the snapshot's own new bytes, what it holds, and its name (a click opens it)."""
    now = now or datetime.now(UTC)
    verdicts = {d.name: d for d in (cleanup.decisions if cleanup else [])}
    every = [_row(s, verdicts.get(s.snapshot_name), now) for s in snapshots]
    by_name = {r.info.snapshot_name: r for r in every}
    rows = []
    for r in every:
        guarded = by_name.get(r.info.safety_for or "") if r.info.kind == "safety" else None
        if guarded is not None and guarded is not r:
            guarded.safety.append(r)
        else:
            rows.append(r)
    series: dict[str, list[Any]] = {"t": [], "stored": [], "new": [], "holds": [], "name": []}
    total = 0
    for r in reversed(every):
        total += r.new
        series["t"].append(r.info.created.timestamp())
        series["stored"].append(total)
        series["new"].append(r.new)
        series["holds"].append(r.holds)
        series["name"].append(r.info.snapshot_name)
    return Timeline(rows, len(every), series, total, sum(r.holds for r in every))


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

    @property
    def single_root(self) -> bool:
        """Paths of one root are paths of the snapshot's tree (a line diff can read them)."""
        return len({f.root for f in self.diff.files}) <= 1


def diff_view(diff: SnapshotDiff, fresh: dict[str, int]) -> DiffView:
    """The diff page's bars: ``fresh``, the bytes new to the newer snapshot by top-level
    folder (changes.new_bytes), largest first."""
    largest = max(fresh.values(), default=0) or 1
    bars = [
        Bar(label, n, round(100 * n / largest, 1))
        for label, n in sorted(fresh.items(), key=lambda kv: -kv[1])
        if n
    ]
    return DiffView(diff, diff.counts(), bars)


def breakable(text: object) -> Markup:
    """Escaped text that may wrap after ``_``, ``-``, ``/`` and ``.`` (snapshot names,
    paths), never inside a word."""
    out = str(escape(str(text)))
    for sep in "_-/.":
        out = out.replace(sep, sep + "<wbr>")
    return Markup(out)


def size(n: int | float) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class RestoreCounts:
    """What a restore writes, from its dry run (``preview_restore``): files and bytes
    written, files removed, files whose metadata alone is set, documents per kind."""

    files_written: int = 0
    bytes_written: int = 0
    files_removed: int = 0
    metadata_only: int = 0
    docs_removed: int = 0
    docs_inserted: int = 0
    docs_replaced: int = 0


def _many(c: FileChange) -> int:
    """Entries a change stands for (a summarised folder: all below it)."""
    return c.entries or 1


def restore_counts(changes: SnapshotDiff) -> RestoreCounts:
    """The counts of a restore's dry run (live state as "before", the snapshot "after")."""
    written = [
        c
        for c in changes.files
        if c.change in (ADDED, MODIFIED, TYPE) and (c.entries or c.type_after != "dir")
    ]
    removed = [
        c for c in changes.files if c.change == REMOVED and (c.entries or c.type_before != "dir")
    ]
    writes = changes.database_writes
    return RestoreCounts(
        files_written=sum(_many(c) for c in written),
        bytes_written=sum(c.bytes if c.entries else c.size_after for c in written),
        files_removed=sum(_many(c) for c in removed),
        metadata_only=sum(1 for c in changes.files if c.change == METADATA),
        docs_removed=sum(w.removed for w in writes),
        docs_inserted=sum(w.inserted for w in writes),
        docs_replaced=sum(w.replaced for w in writes),
    )


def untouched(plan: RestorePlan) -> list[str]:
    """What the snapshot holds that a restore plan leaves as it is (said under the plan)."""
    out = []
    if plan.snapshot.includes_bulk and not plan.restore_bulk:
        out.append("the bulk files")
    if plan.snapshot.includes_database and not plan.restore_db:
        out.append("the database")
    return out
