"""The diff page's numbers that ``SnapshotManager.diff`` does not give: where the newer
snapshot's new data is (chunks it holds that the older one does not), and the line diff of
a changed text file. Read-only; through the manager and the repository's own session."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from snapstore.inspection.tree_view import display
from snapstore.manager import SnapshotManager
from snapstore.manifest.listing import FileEntry

TEXT_LIMIT = 1 << 20  # larger files get no line diff


def top_label(root: str, path: str, several_roots: bool) -> str:
    """The bar a path counts in: its top-level folder ("(top level)" for a file there)."""
    top = path.split("/", 1)[0] if "/" in path else "(top level)"
    return f"{root.rsplit('/', 1)[-1]}/{top}" if several_roots else top


def _files(m: SnapshotManager, name: str) -> Iterator[tuple[str, FileEntry]]:
    return m.snapshot_files(name)


def new_bytes(m: SnapshotManager, a: str, b: str) -> dict[str, int]:
    """Bytes of the chunks of ``b``'s files that ``a`` has none of, by top-level folder
    (each chunk counted once, where it first appears). Chunk sizes come from the index."""
    old = {c for _, e in _files(m, a) for c in e.chunks}
    entries = list(_files(m, b))
    several = len({root for root, _ in entries}) > 1
    seen: set[bytes] = set()
    out: dict[str, int] = {}
    repo = m.repository
    with repo.session("diff", exclusive=False) as opened:
        for root, e in entries:
            fresh = [c for c in e.chunks if c not in old and c not in seen]
            if not fresh:
                continue
            seen.update(fresh)
            located = [opened.store.locate(c) for c in fresh]
            label = top_label(root, display(e.path), several)
            out[label] = out.get(label, 0) + sum(loc.raw_length for loc in located if loc)
    return out


def read_text(data: bytes) -> list[str] | None:
    """The lines of a file that is text (UTF-8, no NUL), else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def unified(before: bytes, after: bytes, a: str, b: str, path: str) -> list[str] | None:
    """``diff -u`` of two versions of a text file; None when either is not text."""
    old, new = read_text(before), read_text(after)
    if old is None or new is None:
        return None
    lines = difflib.unified_diff(old, new, f"{a}/{path}", f"{b}/{path}", n=3)
    return [line.rstrip("\n") for line in lines]
