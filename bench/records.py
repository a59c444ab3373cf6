"""The raw figures a benchmark run produces, as plain dataclasses that serialise to JSON.

One `ToolRun` per (run, tool); inside it one `PhaseResult` per phase. A phase is `ok`,
`failed` (the tool ran and said no), `n/a` (the tool has no such step, or is unavailable),
or `skipped` (an earlier phase it depends on failed). Only `ok` figures enter medians.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, FAILED, NA, SKIPPED = "ok", "failed", "n/a", "skipped"

PHASE_TITLES = {
    "init": "repository init",
    "first": "first snapshot",
    "unchanged": "snapshot of the unchanged tree",
    "changed": "snapshot after the ~1% change",
    "restore": "restore of the last snapshot",
    "compress": "compression of old data",
}
MAIN_PHASES = ("first", "unchanged", "changed", "restore", "compress")
SNAPSHOT_PHASES = ("first", "unchanged", "changed")


@dataclass
class PhaseResult:
    status: str
    wall_s: float | None = None
    cpu_s: float | None = None
    user_s: float | None = None
    sys_s: float | None = None
    maxrss_kib: int | None = None
    repo_bytes: int | None = None  # repository size after the phase
    added_bytes: int | None = None  # growth of the repository during the phase
    cache_dropped: bool = False
    snapshot_id: str | None = None
    error: str | None = None


@dataclass
class ToolRun:
    run: int
    tool: str
    available: bool = True
    reason: str | None = None  # why the tool could not run at all
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    verify: dict[str, Any] | None = None  # bench.treecmp.Verification as a dict
    cache_bytes: int | None = None  # the tool's local cache, outside the repository

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolRun:
        phases = {name: PhaseResult(**p) for name, p in data.get("phases", {}).items()}
        return cls(**{**data, "phases": phases})
