"""Restore that costs what changed (spec/restore.md): a live restore after a 1% change
against a full restore into an empty directory, in the same run, and what the next create reads.

    python -m bench.restore_bench --work /tmp/rb --scale 0.2 --runs 3

Per run, on the benchmark tree (bench.dataset, ~1.3 GB at scale 1, so scale 0.2 is ~260 MB):
snapshot BASE; apply the change step (bench.change, ~1% of the bytes); then time

- ``full``: restore BASE into an empty directory (``--target``, no safety snapshot);
- ``live``: restore BASE over the changed live tree, as a user would (safety snapshot taken);
- ``live_no_safety``: the same with ``--no-safety-snapshot`` (after the change again);

and after ``live``, the next create's ``read_bytes`` against the tree's bytes. The page cache
is dropped before each timed phase when the machine allows it (the report says whether), and
a full restore waits until no big tree was deleted in the last 31 s (bench.harness says why).
The live tree is checked to equal the full restore (excluded noise aside, which a live restore
keeps). Targets: live <= 0.35x full, next create reads < 5% of the tree. Prints a few lines and
writes every figure to WORK/restore_bench.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.change import apply_change
from bench.dataset import generate
from bench.harness import remove_tree, settle_deletions
from bench.layout import is_excluded
from bench.measure import drop_caches
from bench.treecmp import tree_bytes, walk
from snapstore.config.settings import Settings
from snapstore.manager import SnapshotManager

MB = 1 << 20


def _manager(work: Path, bulk: Path) -> SnapshotManager:
    return SnapshotManager(
        Settings(
            repository=str(work / "repo"),
            bulk=(str(bulk),),
            cache_dir=str(work / "cache"),
            auto_cleanup=False,
            project_dir=str(work),
        )
    )


def _timed(fn: Any, drop: bool = True) -> tuple[float, Any]:
    cold = drop and drop_caches()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, (result, cold)


def _same_tree(full: Path, live: Path) -> list[str]:
    """Differences between the full restore and the live one, excluded noise left out."""
    a = {p: e for p, e in walk(full).items() if not is_excluded(p)}
    b = {p: e for p, e in walk(live).items() if not is_excluded(p)}
    out = [f"only in full: {p}" for p in sorted(a.keys() - b.keys())]
    out += [f"only in live: {p}" for p in sorted(b.keys() - a.keys())]
    for p in sorted(a.keys() & b.keys()):
        x, y = a[p], b[p]
        if (x.kind, x.mode, x.size, x.mtime_ns, x.target) != (
            y.kind,
            y.mode,
            y.size,
            y.mtime_ns,
            y.target,
        ):
            out.append(f"differs: {p}")
        elif x.kind == "file" and (full / p).read_bytes() != (live / p).read_bytes():
            out.append(f"content differs: {p}")
    return out


def run(
    work: Path, scale: float, runs: int, seed: int, settle: bool, drop: bool = True
) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    bulk = work / "bulk"
    gen = generate(bulk, scale, seed)
    manager = _manager(work, bulk)
    base = manager.create("base", include_db=False).snapshot.snapshot_name
    size = tree_bytes(bulk)
    change = apply_change(bulk, seed + 1)
    rows: list[dict[str, Any]] = []
    full = work / "full"
    for i in range(runs):
        remove_tree(full)
        if settle:
            settle_deletions()
        t_full, (res_full, cold) = _timed(
            lambda: manager.restore_snapshot(
                base, confirm=True, target=str(full), safety_snapshot=False
            ),
            drop,
        )
        t_live, (res_live, _) = _timed(lambda: manager.restore_snapshot(base, confirm=True), drop)
        problems = _same_tree(full, bulk)
        nxt = manager.create(f"after restore {i}", include_db=False)
        apply_change(bulk, seed + 1)
        t_bare, _ = _timed(
            lambda: manager.restore_snapshot(base, confirm=True, safety_snapshot=False), drop
        )
        apply_change(bulk, seed + 1)  # the changed state again, for the next run
        row = {
            "run": i + 1,
            "cold_cache": cold,
            "full_s": round(t_full, 3),
            "live_s": round(t_live, 3),
            "live_no_safety_s": round(t_bare, 3),
            "live_ratio": round(t_live / t_full, 3),
            "live_no_safety_ratio": round(t_bare / t_full, 3),
            "full_files": res_full.files,
            "live_files": res_live.files,
            "next_create_read_bytes": nxt.read_bytes,
            "next_create_reused_files": nxt.reused_files,
            "next_create_read_share": round(nxt.read_bytes / size, 5),
            "live_equals_full": not problems,
            "problems": problems[:10],
        }
        rows.append(row)
        print(
            f"run {i + 1}: full {t_full:.2f} s, live {t_live:.2f} s ({row['live_ratio']:.2f}x), "
            f"live without safety snapshot {t_bare:.2f} s ({row['live_no_safety_ratio']:.2f}x), "
            f"next create read {nxt.read_bytes / MB:.1f} MB "
            f"({100 * row['next_create_read_share']:.2f}% of {size / MB:.0f} MB)"
            + ("" if not problems else f"; LIVE DIFFERS FROM FULL: {problems[:3]}"),
            flush=True,
        )
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in ("live_ratio", "live_no_safety_ratio", "next_create_read_share")
    }
    out = {
        "scale": scale,
        "tree": {"files": gen.files, "bytes": size},
        "change": change.as_dict(),
        "runs": rows,
        "median": med,
        "targets": {
            "live_ratio_max": 0.35,
            "next_create_read_share_max": 0.05,
            "met": med["live_ratio"] <= 0.35 and med["next_create_read_share"] < 0.05,
        },
    }
    (work / "restore_bench.json").write_text(json.dumps(out, indent=1))
    print(
        f"median: live restore {med['live_ratio']:.2f}x a full restore "
        f"({med['live_no_safety_ratio']:.2f}x without the safety snapshot), next create reads "
        f"{100 * med['next_create_read_share']:.2f}% of the tree; targets "
        + ("met" if out["targets"]["met"] else "NOT met")
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (emptied)")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-settle", action="store_true", help="do not wait after deletions")
    ap.add_argument("--no-drop-caches", action="store_true", help="keep the page cache")
    a = ap.parse_args(argv)
    out = run(a.work, a.scale, a.runs, a.seed, not a.no_settle, not a.no_drop_caches)
    return 0 if out["targets"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
