"""Walk, fingerprint and compare directory trees without following symlinks.

`fingerprint` proves the generator deterministic (same seed and scale, same digest: paths,
types, modes, mtimes, link targets and bytes). `compare` verifies a restore: the restored
tree must equal the source minus the excluded noise, byte for byte, with the same symlink
targets, modes and file mtimes (to the second; folder mtimes are not compared, since tools
legitimately differ there).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bench.layout import is_excluded

_BLOCK = 1 << 20
_MAX_LISTED = 20  # problems named in the report; the count covers all of them


@dataclass(frozen=True)
class Entry:
    path: str  # relative, with "/" separators
    kind: str  # file | dir | link | other
    mode: int  # permission bits only
    mtime_ns: int
    size: int
    target: str | None = None  # symlink target


def walk(root: Path) -> dict[str, Entry]:
    """Every entry below `root` (not `root` itself), keyed by relative path."""
    entries: dict[str, Entry] = {}

    def visit(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{prefix}{child.name}"
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                kind, target = "link", os.readlink(child.path)
            elif stat.S_ISDIR(st.st_mode):
                kind, target = "dir", None
            elif stat.S_ISREG(st.st_mode):
                kind, target = "file", None
            else:
                kind, target = "other", None
            size = st.st_size if kind == "file" else 0
            entries[rel] = Entry(rel, kind, stat.S_IMODE(st.st_mode), st.st_mtime_ns, size, target)
            if kind == "dir":
                visit(Path(child.path), rel + "/")

    visit(root, "")
    return entries


def tree_bytes(root: Path) -> int:
    """Sum of regular file sizes below `root` (apparent size, as `du -b` counts data)."""
    return sum(e.size for e in walk(root).values())


def fingerprint(root: Path) -> str:
    """A digest of everything observable about the tree, including folder mtimes."""
    digest = hashlib.sha256()
    for entry in walk(root).values():
        digest.update(repr(entry).encode())
        if entry.kind == "file":
            with open(root / entry.path, "rb") as f:
                while block := f.read(_BLOCK):
                    digest.update(block)
    return digest.hexdigest()


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block = fa.read(_BLOCK)
            if block != fb.read(_BLOCK):
                return False
            if not block:
                return True


@dataclass
class Verification:
    """Outcome of comparing a restored tree with its source."""

    ok: bool = True
    entries: int = 0
    files: int = 0
    bytes: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.ok = False
        self.problem_count += 1
        if len(self.problems) < _MAX_LISTED:
            self.problems.append(text)


def compare(source: Path, restored: Path) -> Verification:
    """Check that `restored` equals `source` with the excluded noise left out."""
    result = Verification()
    expected = {p: e for p, e in walk(source).items() if not is_excluded(p)}
    actual = walk(restored)
    for path in sorted(actual.keys() - expected.keys()):
        label = "excluded noise was restored" if is_excluded(path) else "unexpected entry"
        result.problem(f"{label}: {path}")
    for path, want in expected.items():
        got = actual.get(path)
        result.entries += 1
        if got is None:
            result.problem(f"missing: {path}")
        elif got.kind != want.kind:
            result.problem(f"type {got.kind} instead of {want.kind}: {path}")
        elif want.kind == "link":
            if got.target != want.target:
                result.problem(f"symlink target {got.target!r} instead of {want.target!r}: {path}")
        elif got.mode != want.mode:
            result.problem(f"mode {got.mode:o} instead of {want.mode:o}: {path}")
        elif want.kind == "file":
            result.files += 1
            result.bytes += want.size
            if got.size != want.size or not _same_bytes(source / path, restored / path):
                result.problem(f"content differs: {path}")
            elif got.mtime_ns // 10**9 != want.mtime_ns // 10**9:
                result.problem(f"mtime differs: {path}")
    return result
