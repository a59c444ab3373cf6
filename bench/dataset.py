"""Make the benchmark dataset on disk, and change it the same way every time.

    python -m bench.dataset generate DIR --scale 1.0 --seed 1   # ~1.3 GB at scale 1
    python -m bench.dataset change DIR --seed 2                  # touches ~1% of it
    python -m bench.dataset many-files DIR --count 1000000       # the many-small-files tree
    python -m bench.dataset fingerprint DIR                      # digest of the whole tree

The same seed and scale give a byte-identical tree, mtimes and modes included, on any
machine: every file's bytes come from an RNG seeded with (seed, path), folder mtimes are
set last. Big files are written by a small process pool (2 cores here), which changes
nothing in the result because no two workers share an RNG or a file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import content
from bench.change import apply_change
from bench.layout import BASE_MTIME, FileSpec, Layout, plan
from bench.treecmp import fingerprint

# Below this many bytes a process pool costs more than it saves.
_POOL_THRESHOLD = 64 << 20
_SMALL_BATCH = 2000  # small files per pool task


@dataclass(frozen=True)
class GenerateSummary:
    files: int
    bytes: int
    dirs: int
    links: int
    seconds: float


def file_bytes(spec: FileSpec, seed: int) -> Iterator[bytes]:
    """The content of one planned file, in pieces."""
    rng = random.Random(f"{seed}/{spec.path}")
    if spec.kind == "papers":
        yield from content.paper_lines(rng, content.text_model(seed), spec.size)
    elif spec.kind == "metrics":
        yield from content.metric_lines(rng, spec.size, run=spec.arg)
    elif spec.kind == "embeddings":
        yield from content.npy_file(rng, (spec.size - 128) // (4 * spec.arg), spec.arg)
    elif spec.kind == "code":
        yield content.code_file(rng, content.text_model(seed), spec.size, Path(spec.path).suffix)
    elif spec.kind == "noise":
        yield rng.randbytes(spec.size)
    else:
        raise ValueError(f"unknown file kind {spec.kind!r}")


def write_file(root: Path, spec: FileSpec, pieces: Iterable[bytes]) -> int:
    """Write one file, then set its mode and mtime; return its size."""
    path = root / spec.path
    size = 0
    with open(path, "wb") as f:
        for piece in pieces:
            f.write(piece)
            size += len(piece)
    os.chmod(path, spec.mode)
    os.utime(path, (spec.mtime, spec.mtime))
    return size


def _write_batch(root: Path, specs: list[FileSpec], seed: int) -> int:
    return sum(write_file(root, spec, file_bytes(spec, seed)) for spec in specs)


def _batches(layout: Layout) -> list[list[FileSpec]]:
    """Big files one per task, small ones grouped; biggest first so the pool ends together."""
    big = sorted((f for f in layout.files if f.size >= (1 << 20)), key=lambda f: -f.size)
    small = [f for f in layout.files if f.size < (1 << 20)]
    return [[f] for f in big] + [
        small[i : i + _SMALL_BATCH] for i in range(0, len(small), _SMALL_BATCH)
    ]


def generate(
    root: Path, scale: float = 1.0, seed: int = 1, jobs: int | None = None
) -> GenerateSummary:
    """Create the dataset under `root`, which must be missing or empty."""
    started = time.perf_counter()
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    layout = plan(scale, seed)
    root.mkdir(parents=True, exist_ok=True)
    for d in layout.dirs:
        (root / d.path).mkdir(exist_ok=True)
    content.text_model(seed)  # built once here, inherited by forked workers
    jobs = jobs or os.cpu_count() or 1
    batches = _batches(layout)
    if jobs > 1 and layout.total_bytes > _POOL_THRESHOLD:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            written = sum(
                pool.map(_write_batch, [root] * len(batches), batches, [seed] * len(batches))
            )
    else:
        written = sum(_write_batch(root, batch, seed) for batch in batches)
    for link in layout.links:
        os.symlink(link.target, root / link.path)
        os.utime(root / link.path, (link.mtime, link.mtime), follow_symlinks=False)
    # Modes and mtimes of folders last: writing into a folder changes its mtime.
    for d in sorted(layout.dirs, key=lambda d: -d.path.count("/")):
        os.chmod(root / d.path, d.mode)
        os.utime(root / d.path, (d.mtime, d.mtime))
    os.utime(root, (BASE_MTIME, BASE_MTIME))
    return GenerateSummary(
        files=len(layout.files),
        bytes=written,
        dirs=len(layout.dirs),
        links=len(layout.links),
        seconds=round(time.perf_counter() - started, 2),
    )


def generate_many_files(root: Path, count: int, seed: int = 1) -> GenerateSummary:
    """`count` small code-like files (128 B to 2 KiB), 1,000 per folder, two levels deep.

    The tree for the "many files" scale run: it stresses per-file costs (stat, manifest
    entries, memory per entry) rather than bytes, so files are small.
    """
    started = time.perf_counter()
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    model = content.text_model(seed)
    rng = random.Random(f"{seed}/many-files")
    written = 0
    folders: list[str] = []
    for i in range(count):
        folder = f"d{i // 100_000:03d}/d{i // 1000 % 100:02d}"
        if not folders or folders[-1] != folder:
            (root / folder).mkdir(parents=True, exist_ok=True)
            folders.append(folder)
        spec = FileSpec(
            f"{folder}/f{i:07d}.py", "code", rng.randint(128, 2048), 0o644, BASE_MTIME + i
        )
        written += write_file(root, spec, [content.code_file(rng, model, spec.size, ".py")])
    tops = sorted({f.split("/")[0] for f in folders})
    for folder in [*folders, *tops, "."]:  # innermost first: setting a child's mtime is no write
        os.utime(root / folder, (BASE_MTIME, BASE_MTIME))
    return GenerateSummary(
        count, written, len(folders) + len(tops), 0, round(time.perf_counter() - started, 2)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataset", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="create the dataset in an empty or missing DIR")
    gen.add_argument("dir", type=Path)
    gen.add_argument("--scale", type=float, default=1.0, help="1.0 is about 1.3 GB (default 1.0)")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--jobs", type=int, default=None, help="writer processes (default: cores)")
    chg = sub.add_parser("change", help="apply the ~1%% change step to a generated DIR")
    chg.add_argument("dir", type=Path)
    chg.add_argument("--seed", type=int, default=2)
    many = sub.add_parser("many-files", help="create COUNT small files in an empty or missing DIR")
    many.add_argument("dir", type=Path)
    many.add_argument("--count", type=int, default=1_000_000)
    many.add_argument("--seed", type=int, default=1)
    fp = sub.add_parser("fingerprint", help="print a digest of everything in DIR")
    fp.add_argument("dir", type=Path)
    args = parser.parse_args(argv)

    try:
        if args.command == "generate":
            result: object = asdict(generate(args.dir, args.scale, args.seed, args.jobs))
        elif args.command == "change":
            result = apply_change(args.dir, args.seed).as_dict()
        elif args.command == "many-files":
            result = asdict(generate_many_files(args.dir, args.count, args.seed))
        else:
            result = {"fingerprint": fingerprint(args.dir)}
    except (OSError, ValueError) as exc:
        print(f"bench.dataset: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
