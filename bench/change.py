"""The change step: touch about 1% of a generated tree, deterministically.

What a day of research work does to a bulk store, scaled to the tree it finds:

- appends new records to a few JSON-lines files (~0.75% of the tree's bytes in total),
- rewrites 1 MiB in the middle of two embeddings files (in place, same size),
- adds one small code file per 200 present, deletes one per 400 (100 and 50 at scale 1).

Choices come from an RNG seeded with the change seed and from the sorted listing of the
tree, so two identical trees changed with the same seed stay identical. Changed files get
fixed mtimes later than any generated one: a stat-based tool must notice them (the
rewritten embeddings keep their size), and the result stays reproducible. Excluded noise is
left alone.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import content
from bench.layout import BASE_MTIME, is_excluded
from bench.treecmp import walk

CHANGE_MTIME = BASE_MTIME + 220 * 86400
APPEND_SHARE = 0.0075  # of the tree's bytes, spread over the appended files
APPENDED_FILES = 4
REWRITTEN_FILES = 2
REWRITE_BYTES = 1 << 20
REWRITE_SHARE = 0.0008
NPY_HEADER = 128  # bench.content.npy_header is always 128 bytes for our shapes


@dataclass
class ChangeSummary:
    tree_bytes: int  # regular file bytes before the change, noise excluded
    appended: dict[str, int] = field(default_factory=dict)
    rewritten: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def touched_bytes(self) -> int:
        parts = (self.appended, self.rewritten, self.added, self.deleted)
        return sum(sum(p.values()) for p in parts)

    @property
    def fraction(self) -> float:
        return self.touched_bytes / self.tree_bytes if self.tree_bytes else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "touched_bytes": self.touched_bytes,
            "fraction": round(self.fraction, 5),
        }


def _last_step(path: Path) -> int:
    """The step number of a metrics log's last record, so appended records continue it."""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read().splitlines()
    try:
        return int(json.loads(tail[-1])["step"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0


def _append(root: Path, rel: str, nbytes: int, rng: random.Random, seed: int) -> int:
    path = root / rel
    if rel.startswith("runs/"):
        run = int(rel.split("/")[1].removeprefix("exp-") or 0)
        pieces = content.metric_lines(rng, nbytes, run=run, first_step=_last_step(path))
    else:
        pieces = content.paper_lines(rng, content.text_model(seed), nbytes, first_id=10**6)
    added = 0
    with open(path, "ab") as f:
        for piece in pieces:
            f.write(piece)
            added += len(piece)
    return added


def _rewrite(root: Path, rel: str, rng: random.Random, tree_bytes: int) -> int:
    path = root / rel
    body = path.stat().st_size - NPY_HEADER
    # 1 MiB at scale 1 (0.08% of the tree); the same share of smaller trees.
    length = min(REWRITE_BYTES, int(tree_bytes * REWRITE_SHARE), body // 2) // 4 * 4
    offset = NPY_HEADER + rng.randrange((body - length) // 4 + 1) * 4
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(content.float32_bytes(rng, length))
    return length


def apply_change(root: Path, seed: int = 2) -> ChangeSummary:
    """Change the tree at `root` in place and say what was touched."""
    entries = [e for e in walk(root).values() if e.kind == "file" and not is_excluded(e.path)]
    summary = ChangeSummary(tree_bytes=sum(e.size for e in entries))
    rng = random.Random(f"{seed}/change")
    jsonl = [e.path for e in entries if e.path.endswith(".jsonl")]
    npy = [e.path for e in entries if e.path.endswith(".npy")]
    code = [e.path for e in entries if e.path.startswith("code/")]
    stamp = iter(range(CHANGE_MTIME, CHANGE_MTIME + 10**6))
    touched: list[str] = []

    targets = rng.sample(jsonl, min(APPENDED_FILES, len(jsonl)))
    for rel in targets:
        share = int(summary.tree_bytes * APPEND_SHARE) // len(targets)
        summary.appended[rel] = _append(root, rel, share, random.Random(f"{seed}/{rel}"), seed)
        touched.append(rel)
    for rel in rng.sample(npy, min(REWRITTEN_FILES, len(npy))):
        summary.rewritten[rel] = _rewrite(
            root, rel, random.Random(f"{seed}/{rel}"), summary.tree_bytes
        )
        touched.append(rel)

    n_delete = max(1, round(len(code) / 400))
    n_add = max(1, round(len(code) / 200))
    for rel in sorted(rng.sample(code, min(n_delete, len(code)))):
        summary.deleted[rel] = (root / rel).stat().st_size
        (root / rel).unlink()
    remaining = [c for c in code if c not in summary.deleted]
    model = content.text_model(seed)
    for i in range(n_add):
        folder = rng.choice(remaining).rpartition("/")[0]
        rel = f"{folder}/added-{seed}-{i:04d}.py"
        data = content.code_file(rng, model, rng.randint(1024, 8192), ".py")
        (root / rel).write_bytes(data)
        os.chmod(root / rel, 0o644)
        summary.added[rel] = len(data)
        touched.append(rel)

    for rel in touched:
        t = next(stamp)
        os.utime(root / rel, (t, t))
    # Adding and deleting changed folder mtimes to "now"; pin them for reproducibility.
    folders = {p.rpartition("/")[0] for p in [*summary.added, *summary.deleted]}
    for folder in sorted(folders):
        os.utime(root / folder, (CHANGE_MTIME, CHANGE_MTIME))
    return summary
