"""Foundation figures: first and unchanged re-snapshot of a generated tree, and restore.

    python -m bench.foundation --size-mb 1024 [--workdir /tmp/snapstore-foundation]

Prints create and restore throughput in MB/s, the repository growth of the second snapshot
of the unchanged tree, and the time of the second snapshot against the first. It drives the
real CLI in subprocesses, so the figures include start-up and everything a user waits for.
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

WORDS = [
    "the",
    "model",
    "vector",
    "corpus",
    "embedding",
    "training",
    "word",
    "context",
    "loss",
    "window",
    "arxiv",
    "paper",
    "result",
    "baseline",
    "token",
    "layer",
    "attention",
    "gradient",
    "epoch",
    "batch",
]


def generate(root: Path, size_mb: int, seed: int = 1) -> int:
    """Half text-like JSON lines, half random binary, in files of 1-16 MB plus small files."""
    rng = random.Random(seed)
    target = size_mb * 1024 * 1024
    written = 0
    i = 0
    while written < target:
        d = root / f"group_{i % 16:02d}"
        d.mkdir(parents=True, exist_ok=True)
        size = min(rng.randint(1, 16) * 1024 * 1024, target - written)
        if i % 2:
            data = rng.randbytes(size)
        else:
            line = " ".join(rng.choices(WORDS, k=200)).encode()
            parts = []
            n = 0
            while n < size:
                chunk = b'{"id": %d, "text": "%s"}\n' % (n, line[rng.randint(0, 100) :])
                parts.append(chunk)
                n += len(chunk)
            data = b"".join(parts)[:size]
        (d / f"file_{i:05d}.{'bin' if i % 2 else 'jsonl'}").write_bytes(data)
        written += size
        i += 1
    for j in range(500):
        p = root / "code" / f"pkg_{j % 20}" / f"mod_{j}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"def f_{j}(x):\n    return x + {j}\n" * rng.randint(10, 100))
    return written


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run(args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    exe = Path(sys.executable).parent / "snapstore"
    t0 = time.perf_counter()
    out = subprocess.run([str(exe), *args, "--json"], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--workdir", default="/tmp/snapstore-foundation")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = Path(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    src, repo, out = work / "src", work / "repo", work / "restored"
    t0 = time.perf_counter()
    size = generate(src, a.size_mb)
    print(f"generated {size / 2**20:.0f} MB in {time.perf_counter() - t0:.1f}s")
    env = {
        **os.environ,
        "SNAPSTORE_REPO": str(repo),
        "SNAPSTORE_BULK": str(src),
        "SNAPSTORE_CACHE_DIR": str(work / "cache"),
        "SNAPSTORE_PREFIX": "bench",
    }
    cold = drop_caches()
    t1, first = run(["create", "first"], env)
    repo1 = du(repo)
    t2, second = run(["create", "second, unchanged"], env)
    repo2 = du(repo)
    drop_caches()
    t3, _ = run(
        ["restore", first["snapshot_name"], "--target", str(out), "--yes", "--no-safety-snapshot"],
        env,
    )
    mb = size / 2**20
    print(f"page cache dropped before timed phases: {cold}")
    print(f"first create:        {t1:6.2f}s  {mb / t1:7.1f} MB/s  repo {repo1 / 2**20:.1f} MB")
    print(
        f"unchanged re-create: {t2:6.2f}s  ({t2 / t1:.1%} of the first)  "
        f"repo growth {repo2 - repo1} bytes (added_bytes {second['added_bytes']})"
    )
    print(f"restore:             {t3:6.2f}s  {mb / t3:7.1f} MB/s")
    same = subprocess.run(["diff", "-r", "-q", str(src), str(out)], capture_output=True)
    print(f"restored tree identical: {same.returncode == 0}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
