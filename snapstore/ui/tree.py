"""The file tree page of a snapshot: one folder, folders first, a page at a time, each
folder with the size of everything below it; and a file's versions across snapshots."""

from __future__ import annotations

import stat
from dataclasses import dataclass

from snapstore.inspection.tree_view import EntryInfo

PAGE = 200  # entries of a folder per page


@dataclass(frozen=True)
class Row:
    entry: EntryInfo
    name: str
    size: int  # a file's size; a folder's: every file below it
    mode: str  # "drwxr-xr-x"
    octal: str  # "0755"


@dataclass(frozen=True)
class Listing:
    rows: list[Row]  # this page's
    total: int  # entries in the folder
    page: int
    pages: int


def symbolic(e: EntryInfo) -> str:
    kind = {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}.get(e.type, stat.S_IFREG)
    return stat.filemode(kind | e.mode)


def _below(folder: str, path: str) -> str:
    """The name of ``folder``'s child that ``path`` is (or is inside)."""
    rest = path[len(folder) + 1 :] if folder else path
    return rest.split("/", 1)[0]


def folder_sizes(folder: str, everything: list[EntryInfo]) -> dict[str, int]:
    """Bytes of the files below each child of ``folder`` (``everything``: ``ls -R``)."""
    sizes: dict[str, int] = {}
    for e in everything:
        if e.type == "file":
            child = _below(folder, e.path)
            sizes[child] = sizes.get(child, 0) + e.size
    return sizes


def listing(folder: str, entries: list[EntryInfo], sizes: dict[str, int], page: int) -> Listing:
    """Page ``page`` of a folder: folders first, then the rest, each by name."""
    ordered = sorted(entries, key=lambda e: (e.type != "dir", e.path.rsplit("/", 1)[-1]))
    pages = max(1, -(-len(ordered) // PAGE))
    rows = []
    for e in ordered[page * PAGE : (page + 1) * PAGE]:
        name = e.path.rsplit("/", 1)[-1]
        size = sizes.get(name, 0) if e.type == "dir" else e.size
        rows.append(Row(e, name, size, symbolic(e), f"{e.mode:04o}"))
    return Listing(rows, len(ordered), page, pages)


@dataclass(frozen=True)
class Version:
    """A file in one snapshot; ``same_as_newer``: unchanged (size and mtime) from the
    version listed above it."""

    entry: EntryInfo
    same_as_newer: bool


def versions(path: str, found: list[EntryInfo]) -> list[Version]:
    """``find``'s matches narrowed to exactly ``path``, newest snapshot first."""
    exact = [e for e in found if e.path == path]
    out = []
    for i, e in enumerate(exact):
        above = exact[i - 1] if i else None
        same = above is not None and (above.size, above.mtime, above.type) == (
            e.size,
            e.mtime,
            e.type,
        )
        out.append(Version(e, same))
    return out
