"""The shape of the benchmark tree: which files, folders and links, how big, what mode and mtime.

`plan(scale, seed)` is pure: it returns the full list of entries without touching the disk,
so the generator can write them in any order (or in parallel) and still make a
byte-identical tree. At scale 1 the tree holds about 1.3 GB:

    papers/shard-NNN.jsonl          ~360 MB  paper metadata + markdown (JSON lines)
    runs/exp-NNN/metrics.jsonl      ~240 MB  training logs (JSON lines), plus config and notes
    embeddings/<model>/shard-NNN.npy ~600 MB  float32 embeddings (incompressible)
    code/proj-NN/...                 ~90 MB  ~20,000 code-like files of 1-8 KiB in nested folders
    a few symlinks (file, folder, one dangling), a few non-default modes
    .git/, __pycache__/, .tmp/      noise that every tool is told to exclude

Every count and size scales linearly with `scale`, with small floors so that tiny test
trees still have at least one of each kind.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

EXCLUDED_NAMES = frozenset({".tmp", "__pycache__", ".git"})
"""Entries with these names, at any depth, are excluded by every tool (the reference's rsync
`--exclude` list). Their contents are never part of a snapshot."""

BASE_MTIME = 1_700_000_000  # 2023-11-14: old enough that no tool distrusts it as "just written"
_DAY = 86400

# Targets at scale 1 (bytes and counts).
PAPER_BYTES = 360_000_000
METRIC_BYTES = 240_000_000
EMBEDDING_BYTES = 600_000_000
PAPER_FILES = 24
RUNS = 16
EMBEDDING_FILES = 24
CODE_FILES = 20_000
PROJECTS = 40
MODELS = (("e5-base", 768), ("bge-large", 1024))


@dataclass(frozen=True)
class FileSpec:
    """One regular file. `kind` selects the content maker; `arg` is kind-specific
    (run number for metrics, vector width for embeddings)."""

    path: str
    kind: str  # papers | metrics | embeddings | code | noise
    size: int
    mode: int
    mtime: int
    arg: int = 0


@dataclass(frozen=True)
class LinkSpec:
    path: str
    target: str
    mtime: int


@dataclass(frozen=True)
class DirSpec:
    path: str
    mode: int
    mtime: int


@dataclass(frozen=True)
class Layout:
    dirs: tuple[DirSpec, ...]
    files: tuple[FileSpec, ...]
    links: tuple[LinkSpec, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def is_excluded(relpath: str) -> bool:
    """True when any component of a relative path is one of the excluded names."""
    return any(part in EXCLUDED_NAMES for part in relpath.split("/"))


def _count(at_scale_one: int, scale: float, floor: int) -> int:
    return max(floor, round(at_scale_one * scale))


def _split(rng: random.Random, total: int, parts: int, quantum: int = 1) -> list[int]:
    """Split `total` into `parts` uneven sizes, 0.5x to 1.5x of the mean, multiples of `quantum`."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total / sum(weights)
    return [max(quantum, int(w * scale) // quantum * quantum) for w in weights]


class _Planner:
    """Collects entries; keeps folder creation implicit (parents are added as needed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.dirs: dict[str, int] = {}
        self.files: list[FileSpec] = []
        self.links: list[LinkSpec] = []

    def mtime(self) -> int:
        return BASE_MTIME + self.rng.randrange(180 * _DAY)

    def folder(self, path: str, mode: int = 0o755) -> None:
        parent = path.rpartition("/")[0]
        if parent and parent not in self.dirs:
            self.folder(parent)
        self.dirs.setdefault(path, mode)

    def file(self, path: str, kind: str, size: int, mode: int = 0o644, arg: int = 0) -> None:
        self.folder(path.rpartition("/")[0])
        self.files.append(FileSpec(path, kind, size, mode, self.mtime(), arg))

    def link(self, path: str, target: str) -> None:
        self.links.append(LinkSpec(path, target, self.mtime()))

    def layout(self) -> Layout:
        dirs = tuple(
            DirSpec(path, mode, BASE_MTIME + 190 * _DAY + self.rng.randrange(_DAY))
            for path, mode in sorted(self.dirs.items())
            if path
        )
        return Layout(dirs, tuple(self.files), tuple(self.links))


def plan(scale: float, seed: int) -> Layout:
    """Every entry of the tree for this scale and seed."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    p = _Planner(random.Random(f"{seed}/layout"))
    _plan_papers(p, scale)
    _plan_runs(p, scale)
    _plan_embeddings(p, scale)
    _plan_code(p, scale)
    # Partial downloads at the top, the classic thing nobody wants in a snapshot.
    for i, size in enumerate(_split(p.rng, int(0.01 * EMBEDDING_BYTES * scale) + 4096, 2)):
        p.file(f".tmp/partial-{i}.download", "noise", size)
    return p.layout()


def _plan_papers(p: _Planner, scale: float) -> None:
    n = _count(PAPER_FILES, scale, 1)
    for i, size in enumerate(_split(p.rng, int(PAPER_BYTES * scale), n)):
        p.file(f"papers/shard-{i:03d}.jsonl", "papers", size)
    p.link("papers/current.jsonl", "shard-000.jsonl")


def _plan_runs(p: _Planner, scale: float) -> None:
    n = _count(RUNS, scale, 1)
    for i, size in enumerate(_split(p.rng, int(METRIC_BYTES * scale), n)):
        run = f"runs/exp-{i:03d}"
        p.file(f"{run}/metrics.jsonl", "metrics", size, arg=i)
        p.file(f"{run}/config.json", "code", p.rng.randint(1024, 4096))
        p.file(f"{run}/notes.md", "code", p.rng.randint(1024, 8192))
        p.file(f"{run}/launch.sh", "code", p.rng.randint(1024, 2048), mode=0o755)
        if i % 4 == 0:
            p.file(f"{run}/.tmp/checkpoint.partial", "noise", p.rng.randint(64, 512) * 1024)
    # A private folder and a private file: restores must keep modes, not just bytes.
    p.folder("runs/exp-000/private", mode=0o700)
    p.file("runs/exp-000/private/credentials.env", "code", 1024, mode=0o600)
    p.link("runs/best", f"exp-{n - 1:03d}")
    # Dangling on purpose: scratch space on a cluster that this machine does not mount.
    p.link("runs/exp-000/scratch", "/nonexistent/scratch/exp-000")


def _plan_embeddings(p: _Planner, scale: float) -> None:
    n = _count(EMBEDDING_FILES, scale, 2)
    sizes = _split(p.rng, int(EMBEDDING_BYTES * scale), n)
    for i, size in enumerate(sizes):
        model, dim = MODELS[i % len(MODELS)]
        rows = max(1, size // (4 * dim))
        p.file(
            f"embeddings/{model}/shard-{i // len(MODELS):03d}.npy",
            "embeddings",
            rows * 4 * dim + 128,
            arg=dim,
        )
    p.link("embeddings/latest", MODELS[0][0])


def _plan_code(p: _Planner, scale: float) -> None:
    total = _count(CODE_FILES, scale, 20)
    projects = _count(PROJECTS, scale, 1)
    per_project = _split(p.rng, total, projects)
    for proj, n_files in enumerate(per_project):
        root = f"code/proj-{proj:02d}"
        _plan_project(p, root, n_files)
        # Version-control noise: a handful of loose objects and the usual small files.
        p.file(f"{root}/.git/HEAD", "noise", 23)
        p.file(f"{root}/.git/config", "noise", 256)
        for _ in range(max(2, n_files // 25)):
            obj = p.rng.randbytes(20).hex()
            p.file(f"{root}/.git/objects/{obj[:2]}/{obj[2:]}", "noise", p.rng.randint(512, 16384))
    p.link("code/proj-00/data", "../../embeddings")


def _plan_project(p: _Planner, root: str, n_files: int) -> None:
    """Folders nested 1-4 deep, about 18 files each; `__pycache__` beside a third of them."""
    words = ("core", "io", "models", "utils", "train", "eval", "data", "viz", "ops", "api")
    folders = [f"{root}/src", f"{root}/tests", f"{root}/scripts"]
    for _ in range(max(0, math.ceil(n_files / 18) - len(folders))):
        parent = p.rng.choice([f for f in folders if f.count("/") < 6])
        child = f"{parent}/{p.rng.choice(words)}_{len(folders)}"
        folders.append(child)
    for i in range(n_files):
        folder = p.rng.choice(folders)
        suffix = p.rng.choices((".py", ".md", ".json", ".sh"), weights=(80, 8, 8, 4))[0]
        path = f"{folder}/m{i:05d}{suffix}"
        p.file(path, "code", p.rng.randint(1024, 8192), mode=0o755 if suffix == ".sh" else 0o644)
    for folder in folders:
        p.folder(folder)
        if p.rng.random() < 1 / 3:
            for j in range(p.rng.randint(1, 6)):
                p.file(
                    f"{folder}/__pycache__/m{j:05d}.cpython-311.pyc",
                    "noise",
                    p.rng.randint(1024, 8192),
                )
