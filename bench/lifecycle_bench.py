"""Figures for retention, gc and cold archives (the lifecycle issue's closing note).

    python -m bench.lifecycle_bench archive --scale 0.1 --work /tmp/lcb   # sizes, throughput
    python -m bench.lifecycle_bench members --scale 0.1 --work /tmp/lcb   # gzip member size
    python -m bench.lifecycle_bench reclaim --scale 0.1 --work /tmp/lcb   # reclaimed vs expected
    python -m bench.lifecycle_bench gc100 --files 20000 --snapshots 100 --work /tmp/lcb

Each prints a few lines of results and writes them as JSON to WORK/<command>.json. Trees come
from bench.dataset (same seed, same bytes on any machine); repositories use the default
chunker. ``archive`` compares, for the same tree: lz4 packs, snapstore's tar.gz archives, and
``tar -czf`` of the tree itself; and restore throughput from packs and from archives.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.change import apply_change
from bench.dataset import generate, generate_many_files
from snapstore.backend.local import LocalBackend
from snapstore.base.reporting import Reporter
from snapstore.config.settings import Settings
from snapstore.maintenance.gc import mark
from snapstore.maintenance.lifecycle import load_manifests
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from snapstore.store import archives as arch
from snapstore.store.chunkstore import ChunkStore

MB = 1 << 20


def _manager(work: Path, bulk: Path, name: str) -> SnapshotManager:
    repo = work / f"repo-{name}"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(work / f"cache-{name}", ignore_errors=True)
    return SnapshotManager(
        Settings(
            repository=str(repo),
            bulk=(str(bulk),),
            cache_dir=str(work / f"cache-{name}"),
            auto_cleanup=False,
            project_dir=str(work),
        )
    )


def _kind_bytes(repo: Path, *kinds: str) -> int:
    return sum(p.stat().st_size for k in kinds for p in (repo / k).rglob("*") if p.is_file())


def _tree(work: Path, scale: float, text_only: bool) -> Path:
    full = work / f"tree-{scale}"
    if not full.exists():
        generate(full, scale=scale, seed=1)
    if not text_only:
        return full
    text = work / f"tree-{scale}-text"
    if not text.exists():
        # The text-heavy part: paper records, metric logs, code (no float32 embeddings).
        shutil.copytree(full, text, symlinks=True, ignore=shutil.ignore_patterns("*.npy"))
    return text


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _emit(work: Path, name: str, doc: dict[str, Any]) -> None:
    (work / f"{name}.json").write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))


# -- archive: sizes and throughput ------------------------------------------------------------


def bench_archive(work: Path, scale: float) -> dict[str, Any]:
    out: dict[str, Any] = {"scale": scale}
    for variant, text_only in (("text", True), ("full", False)):
        tree = _tree(work, scale, text_only)
        m = _manager(work, tree, f"archive-{variant}")
        name = m.create("bench").snapshot.snapshot_name
        repo = Path(m.settings.repository)
        t = time.perf_counter()
        m.restore_snapshot(
            name, confirm=True, target=str(work / "out-packs"), safety_snapshot=False
        )
        restore_packs = time.perf_counter() - t
        shutil.rmtree(work / "out-packs")
        t = time.perf_counter()
        r = m.archive([name])
        archive_s = time.perf_counter() - t
        t = time.perf_counter()
        m.restore_snapshot(name, confirm=True, target=str(work / "out-arch"), safety_snapshot=False)
        restore_arch = time.perf_counter() - t
        shutil.rmtree(work / "out-arch")
        ok = m.check(read_data=True).ok
        tgz = work / "tree.tar.gz"
        t = time.perf_counter()
        subprocess.run(["tar", "-czf", str(tgz), "-C", str(tree), "."], check=True)
        tar_s = time.perf_counter() - t
        tar_bytes = tgz.stat().st_size
        tgz.unlink()
        raw = _du(tree)
        out[variant] = {
            "tree_bytes": raw,
            "archived_raw_bytes": r.raw_bytes,
            "lz4_pack_bytes": r.lz4_bytes,
            "archive_bytes": r.archive_bytes,
            "archive_index_bytes": r.index_bytes,
            "tar_czf_bytes": tar_bytes,
            "archive_vs_lz4_reduction": round(1 - r.archive_bytes / r.lz4_bytes, 3),
            "archive_vs_raw_reduction": round(1 - r.archive_bytes / r.raw_bytes, 3),
            "lz4_vs_raw_reduction": round(1 - r.lz4_bytes / r.raw_bytes, 3),
            "archive_vs_tar_czf": round(r.archive_bytes / tar_bytes, 3),
            "archive_seconds": round(archive_s, 2),
            "archive_mb_per_s": round(r.raw_bytes / MB / archive_s, 1),
            "tar_czf_seconds": round(tar_s, 2),
            "restore_from_packs_mb_per_s": round(raw / MB / restore_packs, 1),
            "restore_from_archives_mb_per_s": round(raw / MB / restore_arch, 1),
            "repo_after_bytes": _kind_bytes(repo, "packs", "index", "archives", "snapshots"),
            "check_read_data_ok": ok,
        }
    return out


# -- members: what one lookup inflates versus the ratio ---------------------------------------


def bench_members(work: Path, scale: float) -> dict[str, Any]:
    tree = _tree(work, scale, True)
    m = _manager(work, tree, "members")
    m.create("bench")
    store = ChunkStore.open(LocalBackend(m.settings.repository), m.settings.cache_dir)
    chunks = [(cid, store.read(cid)) for cid, _ in store.cache.entries()]
    store.close()
    raw = sum(len(d) for _, d in chunks)
    out: dict[str, Any] = {"chunks": len(chunks), "raw_bytes": raw, "targets": {}}
    rng = random.Random(1)
    sample = rng.sample([c for c, _ in chunks], min(200, len(chunks)))
    for target in (64 << 10, 256 << 10, 1 << 20, 4 << 20, 64 << 20):
        backend = LocalBackend(work / f"members-{target}")
        shutil.rmtree(backend.root, ignore_errors=True)
        backend.create()
        b = arch.ArchiveBuilder(member_target=target)
        for cid, data in chunks:
            b.add(cid, data)
        idx = arch.write_archive(backend, b)
        t = time.perf_counter()
        for cid in sample:
            arch.ArchiveSet(backend).read(cid)  # a fresh set: no member cache
        lookup = (time.perf_counter() - t) / len(sample)
        out["targets"][target] = {
            "archive_bytes": idx.size,
            "members": len(idx.members),
            "max_member_raw": max(mm.raw_length for mm in idx.members),
            "ms_per_cold_lookup": round(lookup * 1000, 2),
        }
    return out


# -- reclaim: bytes reclaimed versus bytes expected -------------------------------------------


def bench_reclaim(work: Path, scale: float) -> dict[str, Any]:
    tree = work / f"tree-reclaim-{scale}"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(_tree(work, scale, False), tree, symlinks=True)
    m = _manager(work, tree, "reclaim")
    names = [m.create("s0").snapshot.snapshot_name]
    for seed in range(2, 8):
        apply_change(tree, seed=seed)
        names.append(m.create(f"s{seed}").snapshot.snapshot_name)
    repo = Path(m.settings.repository)
    doomed = set(names[1:-1])  # keep the first and the last, as retention would
    backend = LocalBackend(repo)
    store = ChunkStore.open(backend, m.settings.cache_dir)
    manifests = load_manifests(backend, "bench")
    kept = [x for x in manifests if x.name not in doomed]
    all_marks = mark(manifests, store, Reporter())
    kept_marks = mark(kept, store, Reporter())
    expected = 0
    for cid, loc in store.cache.entries():
        if cid in all_marks.refs and cid not in kept_marks.refs:
            expected += loc.length
    store.close()
    out: dict[str, Any] = {"snapshots": len(names), "deleted": len(doomed)}
    before = _kind_bytes(repo, "packs", "index", "snapshots")
    catalog = Catalog(backend)  # as delete does: successors stop naming the victims
    for n in sorted(doomed):
        catalog.delete(n)
    t = time.perf_counter()
    g = m.gc()
    out["gc_seconds"] = round(time.perf_counter() - t, 2)
    mid = _kind_bytes(repo, "packs", "index", "snapshots")
    g0 = m.gc(max_unused=0.0)
    after = _kind_bytes(repo, "packs", "index", "snapshots")
    out.update(
        expected_chunk_bytes=expected,
        reclaimed_default_threshold=before - mid,
        reclaimed_after_max_unused_0=before - after,
        dead_bytes_kept_under_threshold=g.dead_bytes_kept,
        ratio_default=round((before - mid) / expected, 3) if expected else None,
        ratio_full=round((before - after) / expected, 3) if expected else None,
        packs_repacked=g.packs_repacked + g0.packs_repacked,
        check_ok=m.check(read_data=True).ok,
    )
    return out


# -- gc100: gc time for many snapshots of a many-file tree -------------------------------------


def bench_gc100(work: Path, files: int, snapshots: int) -> dict[str, Any]:
    tree = work / f"many-{files}"
    if not tree.exists():
        generate_many_files(tree, files, seed=1)
    m = _manager(work, tree, f"gc{snapshots}")
    all_files = sorted(p for p in tree.rglob("*.py"))
    rng = random.Random(5)
    t = time.perf_counter()
    for k in range(snapshots):
        if k:
            for p in rng.sample(all_files, max(1, files // 100)):  # 1% of the files change
                p.write_bytes(p.read_bytes() + f"# change {k}\n".encode())
        m.create(f"s{k}")
    create_s = time.perf_counter() - t
    repo = m.settings.repository
    env = {
        **os.environ,
        "SNAPSTORE_REPO": repo,
        "SNAPSTORE_CACHE_DIR": m.settings.cache_dir,
        "SNAPSTORE_BULK": str(tree),
    }
    cmd = [sys.executable, "-m", "snapstore", "gc"]

    def timed() -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return time.perf_counter() - t0

    nothing = timed()
    names = [s.snapshot_name for s in m.list_snapshots()]
    catalog = Catalog(LocalBackend(repo))
    for n in names[1::2]:  # delete every other snapshot
        catalog.delete(n)
    half = timed()
    return {
        "files": files,
        "snapshots": snapshots,
        "create_all_seconds": round(create_s, 1),
        "gc_seconds_nothing_to_do": round(nothing, 2),
        "gc_seconds_after_deleting_half": round(half, 2),
        "command": f"SNAPSTORE_REPO={repo} snapstore gc",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lifecycle_bench")
    p.add_argument("what", choices=["archive", "members", "reclaim", "gc100"])
    p.add_argument("--work", type=Path, default=Path("/tmp/snapstore-lifecycle-bench"))
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--snapshots", type=int, default=100)
    a = p.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SNAPSTORE_CACHE_DIR", str(a.work / "cache"))
    if a.what == "archive":
        doc = bench_archive(a.work, a.scale)
    elif a.what == "members":
        doc = bench_members(a.work, a.scale)
    elif a.what == "reclaim":
        doc = bench_reclaim(a.work, a.scale)
    else:
        doc = bench_gc100(a.work, a.files, a.snapshots)
    _emit(a.work, a.what, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
